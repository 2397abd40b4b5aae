#!/usr/bin/env bash
# Retake the screenshots in docs/screenshots/ (the README's and the docs' pictures).
# The screenshot tests write to a temporary folder on an ordinary test run, so running the suite
# never changes tracked files; this runs them with PHOTOSCRIBE_UPDATE_SCREENSHOTS=1, which makes
# them write to docs/screenshots/. Review the result with `git diff --stat docs/screenshots`.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen PHOTOSCRIBE_UPDATE_SCREENSHOTS=1
.venv/bin/python -m pytest -q tests/gui/test_screenshots.py \
  tests/gui/test_screenshots_a11y.py \
  "tests/gui/test_retrain_dialog.py::test_screenshot_after_two_epochs" "$@"

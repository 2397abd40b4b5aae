#!/usr/bin/env bash
# Set up .venv with the dev tools and run every check CI runs: ruff, the layer contracts, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/ruff format --check .
scripts/lint_imports.sh
scripts/mypy.sh
.venv/bin/python -m pytest -q -ra "$@"

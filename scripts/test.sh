#!/usr/bin/env bash
# Set up .venv with the dev tools and run every check CI runs: ruff, the layer contracts, mypy, the tests.
# --fast: the same checks, but only the tests not marked `slow` (no training, no subprocesses of the
# CLI or the app, no real data sets). Any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
marks=()
args=()
for arg in "$@"; do
    if [[ "$arg" == "--fast" ]]; then
        marks=(-m "not slow")
    else
        args+=("$arg")
    fi
done
scripts/bootstrap.sh --dev
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/ruff format --check .
scripts/lint_imports.sh
scripts/mypy.sh
.venv/bin/python -m pytest -q -ra ${marks[@]+"${marks[@]}"} ${args[@]+"${args[@]}"}

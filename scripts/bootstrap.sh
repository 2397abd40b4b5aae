#!/usr/bin/env bash
# Create .venv (if needed) and install photoscribe into it with the pinned
# torch/torchvision from constraints.txt, with the semantic extra (search by
# meaning).  Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
extras="[semantic]"
if [ "${1:-}" = "--dev" ]; then extras="[dev]"; fi  # dev includes semantic
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".${extras}"

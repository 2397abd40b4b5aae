#!/usr/bin/env bash
# Build dist/photoscribe/: a standalone Linux bundle of photoscribe (PyInstaller, one folder) for
# people without Python: CPU-only torch, the bundled model, the demo photos, Qt. Run it, then
# scripts/smoke_bundle.sh. Not part of CI (it takes many minutes); docs/packaging.md says how it is checked.
#
# Usage: scripts/build_bundle.sh
#   BUNDLE_VENV  the build environment (default build/bundle-venv, created with CPU torch when missing;
#                point it at a prepared environment to reuse one)
#   TORCH_INDEX  where torch and torchvision come from (default PyTorch's CPU wheel index)
#   PYTHON       the interpreter that creates BUNDLE_VENV (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${BUNDLE_VENV:-build/bundle-venv}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch and torchvision together from one build (mixing builds breaks torchvision's operators), before
  # photoscribe so that its torch requirement is already met by the CPU wheels.
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt --index-url "$TORCH_INDEX" torch torchvision
fi
# A regular (not editable) install: PyInstaller collects the package as a wheel lays it out.
"$VENV/bin/python" -m pip install --quiet -c constraints.txt . "pyinstaller>=6.10"
"$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/photoscribe.spec
echo "built dist/photoscribe in $(( $(date +%s) - start )) s, $(du -sh dist/photoscribe | cut -f1)"

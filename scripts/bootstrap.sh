#!/usr/bin/env bash
# Create .venv (if needed) and install photoscribe into it with the pinned torch/torchvision from
# constraints.txt, with the semantic extra (search by meaning).
# Usage: scripts/bootstrap.sh [--dev] [--torch auto|cpu|cuda|pypi]
#   --torch auto (the default): the CPU-only torch on a machine without an NVIDIA GPU, the CUDA build
#   where there is one, torch and torchvision together from PyTorch's wheel index
#   (https://download.pytorch.org/whl/cpu, .../cu128, ...); PyPI's torch when that index cannot be
#   reached (a note says so). cpu, cuda, pypi: that build. The choice: scripts/torch_choice.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
extras="[semantic]"
torch_build=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) extras="[dev]" ;;  # dev includes semantic
    --torch)
      [ $# -ge 2 ] || { echo "bootstrap.sh: --torch needs auto, cpu, cuda or pypi" >&2; exit 2; }
      torch_build=$2; shift ;;
    --torch=*) torch_build=${1#--torch=} ;;
    *) echo "bootstrap.sh: unknown option $1; use --dev and --torch auto|cpu|cuda|pypi" >&2; exit 2 ;;
  esac
  shift
done
case "$torch_build" in
  auto|cpu|cuda|pypi) ;;
  *) echo "bootstrap.sh: --torch must be auto, cpu, cuda or pypi, not '$torch_build'" >&2; exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
choice=$("$VENV/bin/python" scripts/torch_choice.py --torch "$torch_build")
read -r kind variant index <<<"$choice"
if [ "$kind" != pypi ]; then
  installed=$("$VENV/bin/python" scripts/torch_choice.py --installed)
  if [ "$installed" != none ] && [ "$installed" != "$variant" ]; then
    echo "photoscribe: replacing the $installed build of torch with the $variant build"
    old=(torch torchvision)
    if [ "$kind" = cpu ]; then  # the CUDA build's libraries (about 4 GB) are of no use to the CPU one
      mapfile -t -O 2 old < <("$VENV/bin/python" -m pip list --format=freeze | sed -n 's/^\(nvidia-[^=]*\|triton\)==.*/\1/p')
    fi
    "$VENV/bin/python" -m pip uninstall --quiet --yes "${old[@]}"
  fi
  # torch and torchvision in one command from one index: always the same build.
  if ! "$VENV/bin/python" -m pip install --quiet -c constraints.txt --index-url "$index" torch torchvision; then
    echo "photoscribe: installing torch from $index failed; installing it from PyPI instead" >&2
  fi
fi
"$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".${extras}"

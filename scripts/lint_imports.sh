#!/usr/bin/env bash
# Check the layer contracts in pyproject.toml ([tool.importlinter]) with import-linter.
# grimp cannot follow setuptools' editable-install path mapping (photoscribe.core -> core/),
# so lint a copy laid out as the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/photoscribe"
touch "$tmp/src/photoscribe/__init__.py"
for pkg in core desktop training resources; do
  cp -r "$pkg" "$tmp/src/photoscribe/$pkg"
done
cp pyproject.toml "$tmp/"
VENV=${VENV:-.venv}
LINT="$(pwd)/$VENV/bin/lint-imports"
cd "$tmp" && PYTHONPATH="$tmp/src" "$LINT" --config pyproject.toml

#!/usr/bin/env bash
# Type-check the three layers as the installed package photoscribe.* (core/, desktop/, training/ are
# mapped to photoscribe.core, ... by setuptools' editable install, which mypy cannot follow): checked
# from a copy laid out as the package, so that every import between our modules is typed, not Any.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/photoscribe"
touch "$tmp/src/photoscribe/__init__.py"
for pkg in core desktop training resources; do
  cp -r "$pkg" "$tmp/src/photoscribe/$pkg"
done
VENV=${VENV:-.venv}
MYPY="$(pwd)/$VENV/bin/mypy"
config="$(pwd)/pyproject.toml"
cd "$tmp/src" && "$MYPY" --config-file "$config" -p photoscribe "$@" | sed "s#photoscribe/##"

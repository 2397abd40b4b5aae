#!/usr/bin/env bash
# Type-check the three layers as the package photoscribe.*, from a copy laid out as the installed
# package (scripts/package_copy.sh says why), so that every import between our modules is typed, not Any.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/package_copy.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
package_copy "$tmp"
VENV=${VENV:-.venv}
MYPY="$(pwd)/$VENV/bin/mypy"
config="$(pwd)/pyproject.toml"
cd "$tmp/src" && "$MYPY" --config-file "$config" -p photoscribe "$@" | sed "s#photoscribe/##"

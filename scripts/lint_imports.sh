#!/usr/bin/env bash
# Check the layer contracts in pyproject.toml ([tool.importlinter]) with import-linter, on a copy
# laid out as the installed package (scripts/package_copy.sh says why).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/package_copy.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
package_copy "$tmp"
cp pyproject.toml "$tmp/"
VENV=${VENV:-.venv}
LINT="$(pwd)/$VENV/bin/lint-imports"
cd "$tmp" && PYTHONPATH="$tmp/src" "$LINT" --config pyproject.toml

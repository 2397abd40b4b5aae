# Sourced by lint_imports.sh and mypy.sh: copy core/, desktop/, training/ and resources/ into
# "$1/src/photoscribe/" as the installed package lays them out. setuptools' editable install maps
# photoscribe.core -> core/ (and so on) with an import hook that grimp and mypy cannot follow.
package_copy() {
  mkdir -p "$1/src/photoscribe"
  touch "$1/src/photoscribe/__init__.py"
  for pkg in core desktop training resources; do
    cp -r "$pkg" "$1/src/photoscribe/$pkg"
  done
}

# Sourced by lint_imports.sh and mypy.sh: copy core/, desktop/, training/ and resources/ into
# "$1/src/photoscribe/" as the installed package lays them out. setuptools' editable install maps
# photoscribe.core -> core/ (and so on) with an import hook that grimp and mypy cannot follow.
# The top-level package itself (__init__, __main__) is desktop/package/, as pyproject.toml maps it.
package_copy() {
  mkdir -p "$1/src/photoscribe"
  for pkg in core desktop training resources; do
    cp -r "$pkg" "$1/src/photoscribe/$pkg"
  done
  mv "$1/src/photoscribe/desktop/package/"*.py "$1/src/photoscribe/"
  rm -r "$1/src/photoscribe/desktop/package"
}

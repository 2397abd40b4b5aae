#!/usr/bin/env bash
# Smoke test of the bundle scripts/build_bundle.sh made. With no network (a fresh network namespace
# where unshare allows one), an empty home and no Python on PATH, it starts dist/photoscribe/photoscribe
# and checks that: it captions a demo photo with the bundled model; the app's window comes up and the
# model loads in it (offscreen); install-desktop points the menu entry at the bundle. Exit 0 when all pass.
# Usage: scripts/smoke_bundle.sh [BUNDLE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(realpath "${1:-dist/photoscribe}")
photo=$(realpath resources/demo/000000000139.jpg)
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
net=()
if unshare -rn true 2>/dev/null; then
  net=(unshare -rn)
  echo "offline: a network namespace with no interface but lo (down)"
else
  echo "warning: unshare -rn is not allowed here; the test runs with the network present" >&2
fi
run() {
  env -i HOME="$home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 \
    XDG_DATA_HOME="$home/share" "${net[@]}" "$@"
}
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }
cd "$home"

start=$(date +%s%N)
out=$(run "$bundle/photoscribe" caption --json "$photo") || fail "caption exited with $?"
end=$(date +%s%N)
caption=$(printf '%s' "$out" | grep -o '"caption": *"[^"]*"' | head -1 || true)
[ -n "$caption" ] || fail "no caption in the output: $out"
ms=$(( (end - start) / 1000000 ))
printf 'caption: %s (%d.%03d s, a cold start)\n' "${caption#*: }" $((ms / 1000)) $((ms % 1000))

probe="$home/probe.jsonl"
run env PHOTOSCRIBE_STARTUP_PROBE="$probe" timeout 300 "$bundle/photoscribe" gui >/dev/null 2>"$home/gui.err" \
  || fail "the app exited with $?: $(tail -5 "$home/gui.err")"
grep -q '"event": "window"' "$probe" || fail "the app's window never came up"
grep -q '"event": "model", "time": [0-9.]*, "ready": true' "$probe" || fail "the model did not load in the app: $(cat "$probe")"
echo "app: window shown, model ready"

run "$bundle/photoscribe" install-desktop >/dev/null || fail "install-desktop exited with $?"
entry="$home/share/applications/app.photoscribe.Photoscribe.desktop"
grep -qx "Exec=$bundle/photoscribe gui %F" "$entry" || fail "the menu entry does not start the bundle: $(grep Exec "$entry")"
echo "install-desktop: Exec=$bundle/photoscribe gui %F"
echo "smoke test passed"

#!/usr/bin/env bash
# The screen-reader check of docs/accessibility.md: the app under Xvfb with Qt's AT-SPI bridge
# on, and a pyatspi listener that prints what a screen reader hears (focus changes, then the tree).
# Needs (Debian/Ubuntu): xvfb at-spi2-core python3-pyatspi. Usage: VENV=.venv scripts/atspi_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DISPLAY_NUM=${DISPLAY_NUM:-:97}
Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB 2>/dev/null || true' EXIT
sleep 1
export DISPLAY=$DISPLAY_NUM QT_QPA_PLATFORM=xcb QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1 QT_ACCESSIBILITY=1
export NO_AT_BRIDGE=0 GTK_MODULES=gail:atk-bridge
dbus-run-session -- bash -c '
  /usr/libexec/at-spi-bus-launcher --launch-immediately &
  sleep 1
  /usr/libexec/at-spi2-registryd &
  sleep 1
  "'"$VENV"'/bin/python" scripts/a11y_window.py &
  APP=$!
  /usr/bin/python3 scripts/atspi_listen.py photoscribe 22
  wait $APP || true
'

"""Whether the app can open a window here, asked before Qt is loaded (Qt aborts without a display)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from photoscribe.core.errors import UsageError

NO_DISPLAY = (
    "no display: set DISPLAY or WAYLAND_DISPLAY, or use QT_QPA_PLATFORM=offscreen; "
    "the command line works without one: photoscribe --help"
)


def display_missing(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True on Linux when Qt would find no display: neither an X11 nor a Wayland display is named and
    ``QT_QPA_PLATFORM`` names no platform that needs none (offscreen, minimal, eglfs, vnc, ...).

    Qt would abort the process (SIGABRT, exit code 134) creating its application there.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    x11, wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    # Qt tries each platform of "wayland;xcb" in turn; "offscreen:fontengine=freetype" has arguments.
    names = [p.split(":")[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    if not names:
        return not (x11 or wayland)
    return not any(x11 if n == "xcb" else wayland if n.startswith("wayland") else True for n in names)


def require_display() -> None:
    """Raise the one-sentence :class:`UsageError` (exit code 2) when the app cannot open a window."""
    if display_missing():
        raise UsageError(NO_DISPLAY)

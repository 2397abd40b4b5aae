"""``photoscribe install-desktop``: the menu entry, icons and AppStream metainfo for this install."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from photoscribe.core import desktop_entry
from photoscribe.core.errors import UsageError
from photoscribe.core.paths import printable
from photoscribe.desktop.cli.io import print_json


def register(subparsers: Any) -> None:
    """Add ``install-desktop`` to the top-level command parser."""
    command = subparsers.add_parser(
        "install-desktop",
        help="add Photoscribe to the desktop's application menu (Linux; --uninstall removes it)",
        description="Write the menu entry (starting this install's photoscribe with the photos or folders "
        "opened with it), the icon at every usual size and the AppStream metainfo into your XDG data "
        "folder ($XDG_DATA_HOME, else ~/.local/share), then refresh the desktop's caches where their "
        "tools are installed. Nothing outside that folder is touched.",
    )
    command.add_argument(
        "--uninstall", action="store_true", help="remove exactly the files install-desktop writes"
    )
    command.add_argument("--json", action="store_true", help="print what was written or removed as JSON")
    command.set_defaults(func=cmd_install_desktop)


def cmd_install_desktop(args: argparse.Namespace) -> int:
    if sys.platform in ("darwin", "win32", "cygwin"):
        raise UsageError(
            "install-desktop writes the freedesktop.org menu entry that Linux and BSD desktops read; "
            "on this system start the app with the photoscribe command instead"
        )
    result = desktop_entry.uninstall() if args.uninstall else desktop_entry.install()
    if args.json:
        print_json(
            {
                "action": "uninstall" if args.uninstall else "install",
                "app_id": desktop_entry.APP_ID,
                "data_home": str(result.data_home),
                "launcher": str(result.launcher) if result.launcher else None,
                "files": [str(path) for path in result.files],
                "refreshed": result.refreshed,
            }
        )
        return 0
    if args.uninstall:
        if result.files:
            print(f"removed {len(result.files)} files from {printable(result.data_home)}:")
        else:
            print(f"nothing to remove: Photoscribe's menu entry is not in {printable(result.data_home)}")
    else:
        print(f"menu entry starts {printable(result.launcher)}; wrote {len(result.files)} files:")
    for path in result.files:
        print(f"  {printable(path)}")
    for command in result.refreshed:
        print(f"ran {command}")
    return 0

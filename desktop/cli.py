"""The ``photoscribe`` command: every job the app does, headless.

This is the top of the layer stack (like the app itself), so it may gather
commands from ``core`` and ``training``; Qt is imported only by the ``gui``
command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from photoscribe.core import cli as core_cli
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import cli as library_cli
from photoscribe.training import cli as training_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoscribe",
        description="Caption, search and export alt text for your photo library.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    core_cli.register(sub)
    library_cli.register(sub)
    training_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except PhotoscribeError as exc:
        print(f"photoscribe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photoscribe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``photoscribe library repair``: rebuild the indexes, and save what can be read of a damaged library."""

from __future__ import annotations

import argparse
from typing import Any

from photoscribe.desktop.cli.output import Output, add_output_options


def add_repair_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``library repair`` on the ``library`` group's subparsers."""
    from photoscribe.desktop.cli.library import guarded

    parser = commands.add_parser(
        "repair",
        parents=[common],
        help="rebuild the full-text and search-by-meaning indexes; if the file is damaged, save what can "
        "be read into a new file (the damaged one is kept aside); close the app first",
    )
    add_output_options(parser)
    parser.set_defaults(func=guarded(_repair))


def _repair(args: argparse.Namespace) -> int:
    from photoscribe.core.library.repair import repair_library
    from photoscribe.core.paths import default_library_path

    out = Output(args)
    report = repair_library(getattr(args, "db", None) or default_library_path())
    out.say(report.describe())
    out.result(report)
    return 0

"""``--json`` and ``-q/--quiet`` for the library commands: one way to print a command's result.

A command adds the two options with :func:`add_output_options` (or only ``-q`` with
:func:`add_quiet_option` where it has its own ``--json``) and prints through an :class:`Output`:
text lines for a person, one JSON object for a script (``--json``), or nothing but errors
(``-q``: the exit code says how it went). Errors and failures always go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Any

from photoscribe.core.cli_progress import ProgressBars
from photoscribe.desktop.cli.io import print_json

JSON_HELP = "print the result as one JSON object instead of text (errors still go to stderr)"
QUIET_HELP = "print nothing but errors, no progress bars (the exit code says how it went)"


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``-q/--quiet`` (one or the other) to a command's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help=JSON_HELP)
    group.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` to a command that already has its own ``--json``."""
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


def as_json(value: Any) -> Any:
    """A report dataclass (or a mapping of them) as JSON-ready values: paths as text, datetimes as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value


class Output:
    """Where one command's result goes, as its ``--json`` and ``-q`` options say."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = bool(getattr(args, "json", False))
        self.quiet = bool(getattr(args, "quiet", False)) and not self.json

    @property
    def text(self) -> bool:
        """Whether the text lines are printed (neither ``--json`` nor ``-q``)."""
        return not self.json and not self.quiet

    def say(self, line: str) -> None:
        """Print a line of the text report (nothing with ``--json`` or ``-q``)."""
        if self.text:
            print(line)

    def result(self, value: Any) -> None:
        """Print the JSON report (only with ``--json``)."""
        if self.json:
            print_json(as_json(value), indent=2)

    def progress(self, desc: str | None = None, unit: str = "it") -> ProgressBars:
        """Progress bars on stderr, as usual; none with ``-q``."""
        return ProgressBars(desc, unit=unit, disable=True if self.quiet else None)

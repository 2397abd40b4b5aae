"""``photoscribe library export``: alt text as CSV, JSON, an HTML page or XMP sidecars.

The exporters are :mod:`photoscribe.core.library.export`; this module parses the options, runs one
with progress and prints what it wrote, what it left out and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from photoscribe.core.paths import printable
from photoscribe.desktop.cli.io import library_path, print_json
from photoscribe.desktop.cli.output import Output, add_quiet_option


def add_export_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``export`` subcommand to the ``library`` group."""
    from photoscribe.desktop.cli.library import guarded

    parser = commands.add_parser("export", parents=[common], help="export alt text (CSV, JSON, HTML, XMP)")
    parser.add_argument("--format", choices=("csv", "json", "html", "xmp"), required=True)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="output file (default: alt-text.<format>); for xmp a folder to mirror sidecars into "
        "(default: beside each photo)",
    )
    review = parser.add_mutually_exclusive_group()
    review.add_argument(
        "--reviewed-only",
        dest="reviewed_only",
        action="store_true",
        default=True,
        help="only captions a person wrote or approved (the default)",
    )
    review.add_argument(
        "--all",
        dest="reviewed_only",
        action="store_false",
        help="also captions nobody reviewed (the model's; marked machine_generated in CSV and JSON)",
    )
    parser.add_argument(
        "--folder", type=library_path, metavar="PATH", help="only photos in this folder (at any depth)"
    )
    parser.add_argument(
        "--query",
        metavar="TEXT",
        help='only photos this search finds (as `library search`: words, "phrases", -excluded)',
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary: counts, skipped and why, files"
    )
    parser.add_argument(
        "--include-low-confidence",
        action="store_true",
        help="also export unreviewed captions the model is not confident about (they may name "
        "objects that are not in the photo; left out by default)",
    )
    add_quiet_option(parser)
    parser.add_argument(
        "--force", action="store_true", help="overwrite an existing export file (never a photo)"
    )
    parser.add_argument(
        "--sidecar-name",
        choices=tuple(SIDECAR_NAME_CHOICES),
        default="ext",
        help="xmp: name of a new sidecar, IMG.jpg.xmp (ext: digiKam, darktable; the default) or "
        "IMG.xmp (stem: Lightroom); an existing sidecar of either name is always merged into",
    )
    parser.set_defaults(func=guarded(_export))


SIDECAR_NAME_CHOICES = {"ext": "photo.jpg.xmp", "stem": "photo.xmp"}


def _export(args: argparse.Namespace) -> int:
    from photoscribe.core.library import export as exporting
    from photoscribe.core.library.export_scope import ExportScope
    from photoscribe.desktop.cli.library import open_library

    scope = ExportScope(
        query=args.query or "", folder=None if args.folder is None else args.folder.expanduser().absolute()
    )
    output = Output(args)
    with output.progress(f"export {args.format}") as on_progress, open_library(args) as library:
        if args.format == "xmp":
            summary = exporting.write_xmp_sidecars(
                library,
                args.out,
                scope=scope,
                reviewed_only=args.reviewed_only,
                include_low_confidence=args.include_low_confidence,
                on_progress=on_progress,
                xmp_sidecar_name=SIDECAR_NAME_CHOICES[args.sidecar_name],
            )
        else:
            out = args.out if args.out is not None else Path(f"alt-text.{args.format}")
            summary = exporting.EXPORTERS[args.format](
                library,
                out,
                scope=scope,
                reviewed_only=args.reviewed_only,
                include_low_confidence=args.include_low_confidence,
                on_progress=on_progress,
                overwrite=args.force,
            )
    if args.json:
        print_json(summary.as_dict(), indent=2)
        return 1 if summary.failed else 0
    if output.quiet:
        for path, reason in summary.failed:
            print(f"failed: {printable(path)}: {printable(reason)}", file=sys.stderr)
        return 1 if summary.failed else 0
    where = f" to {printable(summary.out_path)}" if summary.out_path else ""
    unreviewed = summary.unreviewed
    print(f"wrote {summary.written}{where}; skipped {summary.skipped - unreviewed} without a caption")
    if unreviewed:
        noun = "caption" if unreviewed == 1 else "captions"
        print(f"{unreviewed} unreviewed {noun} left out; --all exports them")
    if summary.low_confidence:
        print(summary.low_confidence_note())
    if summary.kept:
        print(summary.kept_note() + " (photoscribe never replaces a person's text):")
        for path, fields in summary.kept:
            print(f"  kept: {printable(path)} ({', '.join(fields)})")
    for path, reason in summary.failed:
        print(f"failed: {printable(path)}: {printable(reason)}", file=sys.stderr)
    return 1 if summary.failed else 0

"""``photoscribe library ...``: the library commands of the command-line interface.

:func:`register` adds the ``library`` group to the top-level parser. Each
subcommand is one ``_add_<name>(commands)`` function that builds its parser
and sets ``func`` to a handler ``(args) -> exit code``; to add a command
(``add``, ``scan``, ``watch``, ``caption-pending``), write such a function and
append it to :data:`SUBCOMMANDS`. Handlers stay thin: parse, call ``core``,
print.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from photoscribe.core.errors import CancelledError, PhotoscribeError
from photoscribe.core.library import export as exporting
from photoscribe.core.library.database import Library, default_library_path
from photoscribe.core.library.photos import PhotoRef
from photoscribe.core.library.search import search
from photoscribe.core.library.similar import similar
from photoscribe.core.progress import Progress, ProgressCallback

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]
Commands = Any  # argparse._SubParsersAction, which is private


# --------------------------------------------------------------------------- shared helpers


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--db",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help=f"library database file (default: {default_library_path()})",
    )
    return parent


def open_library(args: argparse.Namespace) -> Library:
    """The library named by ``--db``, or the default one."""
    return Library.open(getattr(args, "db", None))


def photo_ref(value: str) -> PhotoRef:
    """A photo id (digits) or a file path."""
    return int(value) if value.isdigit() and not Path(value).exists() else value


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2024-06-30") from exc


def guarded(handler: Handler) -> Handler:
    """Turn photoscribe errors into a message on stderr and exit code 1 (130 when cancelled)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (CancelledError, KeyboardInterrupt):
            print("cancelled", file=sys.stderr)
            return 130
        except PhotoscribeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def progress_bar(description: str) -> tuple[ProgressCallback, Callable[[], None]]:
    """A tqdm bar on stderr fed by :class:`Progress`, and a function that closes it."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="photo", file=sys.stderr, disable=not sys.stderr.isatty())

    def update(progress: Progress) -> None:
        if progress.total is not None:
            bar.total = progress.total
        bar.n = progress.done
        bar.refresh()

    return update, bar.close


# --------------------------------------------------------------------------- status


def _add_status(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("status", parents=[common], help="counts, folders and failures")
    parser.set_defaults(func=guarded(_status))


def _status(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        stats = library.stats()
        folders = library.list_folders()
        print(f"library:      {library.path}")
        print(f"photos:       {stats.photos}")
        print(f"captioned:    {stats.captioned}")
        print(f"uncaptioned:  {stats.uncaptioned}")
        print(f"needs review: {stats.needs_review}")
        print(f"failures:     {stats.failures}")
        print(f"missing:      {stats.missing}")
        print(f"folders:      {len(folders)}")
        for folder in folders:
            print(f"  {folder.path}{'' if folder.recursive else '  (not recursive)'}")
    return 0


# --------------------------------------------------------------------------- search


def _add_search(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("search", parents=[common], help="full-text search of the captions")
    parser.add_argument("query", metavar="QUERY", help='words; "a phrase"; -excluded (empty: browse)')
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--limit", type=int, default=20, help="results to show (default: 20)")
    parser.add_argument("--offset", type=int, default=0, help="results to skip")
    parser.add_argument("--folder", help="only photos under this directory")
    parser.add_argument("--from", dest="date_from", type=_iso_date, metavar="DATE", help="taken on or after")
    parser.add_argument("--to", dest="date_to", type=_iso_date, metavar="DATE", help="taken on or before")
    parser.add_argument("--uncaptioned", action="store_true", help="only photos without a caption")
    parser.add_argument("--needs-review", action="store_true", help="only unreviewed model captions")
    parser.set_defaults(func=guarded(_search))


def _search(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        hits = search(
            library,
            args.query,
            folder=args.folder,
            date_from=args.date_from,
            date_to=args.date_to,
            uncaptioned=args.uncaptioned,
            needs_review=args.needs_review,
            limit=args.limit,
            offset=args.offset,
        )
    if args.json:
        rows = [
            {
                "id": hit.photo_id,
                "path": hit.path,
                "caption": hit.caption.text if hit.caption else None,
                "source": hit.caption.source if hit.caption else None,
                "reviewed": hit.caption.preferred if hit.caption else False,
                "snippet": hit.snippet,
                "rank": hit.rank,
            }
            for hit in hits
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for hit in hits:
        print(f"{hit.photo_id}\t{hit.path}")
        if hit.snippet:
            print(f"\t{hit.snippet}")
    if not hits:
        print("no matches", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- similar


def _add_similar(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("similar", parents=[common], help='"more like this" for a photo')
    parser.add_argument("photo", type=photo_ref, metavar="PHOTO", help="photo id or path")
    parser.add_argument("-k", "--k", type=int, default=12, help="how many (default: 12)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=guarded(_similar))


def _similar(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        results = similar(library, args.photo, k=args.k)
    if args.json:
        print(json.dumps([{"id": p.id, "path": p.path, "similarity": s} for p, s in results], indent=2))
    else:
        for photo, score in results:
            print(f"{score:.3f}\t{photo.id}\t{photo.path}")
        if not results:
            print("no similar photos (the photo may not have a feature yet)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- set-caption


def _add_set_caption(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "set-caption", parents=[common], help="write a caption yourself (models never overwrite it)"
    )
    parser.add_argument("photo", type=photo_ref, metavar="PHOTO", help="photo id or path")
    parser.add_argument("text", metavar="TEXT", help='the caption ("" removes your caption)')
    parser.add_argument("--language", default="en", help="language tag of the caption (default: en)")
    parser.set_defaults(func=guarded(_set_caption))


def _set_caption(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        caption = library.set_user_caption(args.photo, args.text, language=args.language)
    print("caption removed" if caption is None else f"caption set: {caption.text}")
    return 0


# --------------------------------------------------------------------------- export


def _add_export(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("export", parents=[common], help="export alt text (CSV, JSON, HTML, XMP)")
    parser.add_argument("--format", choices=("csv", "json", "html", "xmp"), required=True)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="output file (default: alt-text.<format>); for xmp a folder to mirror sidecars into "
        "(default: beside each photo)",
    )
    parser.add_argument(
        "--reviewed-only", action="store_true", help="only captions a person wrote or approved"
    )
    parser.set_defaults(func=guarded(_export))


def _export(args: argparse.Namespace) -> int:
    on_progress, close = progress_bar(f"export {args.format}")
    try:
        with open_library(args) as library:
            if args.format == "xmp":
                summary = exporting.write_xmp_sidecars(
                    library, args.out, reviewed_only=args.reviewed_only, on_progress=on_progress
                )
            else:
                out = args.out if args.out is not None else Path(f"alt-text.{args.format}")
                summary = exporting.EXPORTERS[args.format](
                    library, out, reviewed_only=args.reviewed_only, on_progress=on_progress
                )
    finally:
        close()
    where = f" to {summary.out_path}" if summary.out_path else ""
    print(f"wrote {summary.written}{where}; skipped {summary.skipped} without a caption")
    for path, reason in summary.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0


# --------------------------------------------------------------------------- remove


def _add_remove(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "remove", parents=[common], help="forget a folder and its captions (files are not touched)"
    )
    parser.add_argument("folder", metavar="FOLDER", help="folder path as listed by `library status`")
    parser.set_defaults(func=guarded(_remove))


def _remove(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        removed = library.remove_folder(args.folder)
    print(f"removed {args.folder} from the library ({removed} photos forgotten; files untouched)")
    return 0


# --------------------------------------------------------------------------- registration

SUBCOMMANDS: tuple[Callable[[Commands, argparse.ArgumentParser], None], ...] = (
    _add_status,
    _add_search,
    _add_similar,
    _add_set_caption,
    _add_export,
    _add_remove,
)


def register(subparsers: Commands) -> None:
    """Add the ``library`` command group to a top-level ``add_subparsers()`` object."""
    common = _common_options()
    parser = subparsers.add_parser(
        "library",
        parents=[common],
        help="search, caption and export your photo library",
        description="Work with the photo library database.",
    )
    commands = parser.add_subparsers(dest="library_command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(commands, common)

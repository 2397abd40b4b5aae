"""``photoscribe library ...``: the library commands of the command-line interface.

:func:`register` adds the ``library`` group to the top-level parser. Each
subcommand is one ``_add_<name>(commands, common)`` function that builds its
parser and sets ``func`` to a handler ``(args) -> exit code``; to add a
command, write such a function and append it to :data:`SUBCOMMANDS`. Handlers
stay thin: parse, call ``core``, print.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoscribe.core.errors import (
    CancelledError,
    DiskFullError,
    PhotoscribeError,
    disk_full_cause,
)
from photoscribe.core.paths import default_library_path, printable, printable_message
from photoscribe.desktop.cli.embed import add_write_metadata_command
from photoscribe.desktop.cli.export import add_export_command
from photoscribe.desktop.cli.io import library_path, positive_int, print_json
from photoscribe.desktop.cli.keywords import add_keywords_command
from photoscribe.desktop.cli.output import Output, add_output_options
from photoscribe.desktop.cli.repair import add_repair_command
from photoscribe.desktop.cli.review import add_review_command
from photoscribe.desktop.cli.search import add_search_command
from photoscribe.desktop.cli.watch import add_watch_command

if TYPE_CHECKING:  # SQLAlchemy and Alembic are imported by the commands, when they run
    from photoscribe.core.library.database import Library
    from photoscribe.core.library.records import FailureInfo, PhotoRef
    from photoscribe.core.library.scanner import ScanReport

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


# Commands that write, and `status`, read every page of the library first (PRAGMA quick_check: 0.12 s
# at 20,000 photos), so that a damaged file is said before anything is written to it. The others meet
# damage only where they read it, and say it in the same sentence (``guarded``).
CHECKED_COMMANDS = frozenset(
    {
        "status",
        "add",
        "scan",
        "set-caption",
        "review",
        "remove",
        "caption-pending",
        "retry-failed",
        "embed",
        "watch",
        "keywords",
        "write-metadata",
    }
)


# Commands that change the library: refused at once on a read-only one (not half-way, from a thread).
WRITING_COMMANDS = CHECKED_COMMANDS - {"status", "keywords", "write-metadata"}


def open_library(args: argparse.Namespace) -> Library:
    """The library named by ``--db``, or the default one (checked first for the commands that write)."""
    from photoscribe.core.errors import LibraryReadOnlyError
    from photoscribe.core.library.database import Library, read_only_message

    command = getattr(args, "library_command", None)
    library = Library.open(getattr(args, "db", None), check=command in CHECKED_COMMANDS)
    if library.read_only is not None and command in WRITING_COMMANDS:
        library.close()
        raise LibraryReadOnlyError(read_only_message(library.path, library.read_only))
    return library


def photo_ref(value: str) -> PhotoRef:
    """A photo id (digits) or a file path."""
    return int(value) if value.isdigit() and not Path(value).exists() else value


def guarded(handler: Handler) -> Handler:
    """Turn photoscribe errors into a message on stderr and their exit code (130 when cancelled).

    A full disk (SQLite's "database or disk is full", the OS's ENOSPC) is one line and exit code 4,
    whatever raised it; so are a damaged library file and one that became read-only (exit code 2);
    any other unexpected error keeps its traceback.
    """

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (CancelledError, KeyboardInterrupt):
            print("cancelled", file=sys.stderr)
            return 130
        except PhotoscribeError as exc:
            print(f"error: {printable_message(exc)}", file=sys.stderr)
            return exc.exit_code
        except Exception as exc:
            from photoscribe.core.library.integrity import explain

            plain = explain(exc, getattr(args, "db", None) or default_library_path())
            if plain is not None:
                print(f"error: {printable(plain)}", file=sys.stderr)
                return plain.exit_code
            full = disk_full_cause(exc)
            if full is None:
                raise
            where = getattr(full, "filename", None)
            print(
                f"error: the disk is full{f' (writing {printable(where)})' if where else ''}; free some space "
                "and run the command again (what was saved before is kept)",
                file=sys.stderr,
            )
            return DiskFullError.exit_code

    return run


# --------------------------------------------------------------------------- status


def _add_status(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("status", parents=[common], help="counts, folders and failures")
    add_output_options(parser)
    parser.set_defaults(func=guarded(_status))


def _status(args: argparse.Namespace) -> int:
    out = Output(args)
    with open_library(args) as library:
        stats = library.stats()
        folders = library.list_folders()
        out.result(
            {
                "library": str(library.path),
                "read_only": library.read_only,
                **{k: v for k, v in dataclasses.asdict(stats).items() if k != "folders"},
                "folders": [{"path": f.path, "recursive": f.recursive} for f in folders],
            }
        )
        if not out.text:
            return 0
        print(f"library:      {printable(library.path)}")
        if library.read_only is not None:
            print(f"read-only:    {library.read_only} (browse, search and export only)")
        print(f"photos:       {stats.photos}")
        print(f"captioned:    {stats.captioned}")
        print(f"uncaptioned:  {stats.uncaptioned}")
        print(f"needs review: {stats.needs_review}")
        print(f"  of which low confidence: {stats.low_confidence}")
        print(f"failures:     {stats.failures}")
        print(f"missing:      {stats.missing}")
        print(f"folders:      {len(folders)}")
        for folder in folders:
            print(f"  {printable(folder.path)}{'' if folder.recursive else '  (not recursive)'}")
    return 0


# --------------------------------------------------------------------------- similar


def _add_similar(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("similar", parents=[common], help='"more like this" for a photo')
    parser.add_argument("photo", type=photo_ref, metavar="PHOTO", help="photo id or path")
    parser.add_argument("-k", "--k", type=positive_int, default=12, help="how many (default: 12)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=guarded(_similar))


def _similar(args: argparse.Namespace) -> int:
    from photoscribe.core.library.similar import similar

    with open_library(args) as library:
        results = similar(library, args.photo, k=args.k)
    if args.json:
        print_json([{"id": p.id, "path": p.path, "similarity": s} for p, s in results], indent=2)
    else:
        for photo, score in results:
            print(f"{score:.3f}\t{photo.id}\t{printable(photo.path)}")
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
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=guarded(_set_caption))


def _set_caption(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        caption = library.set_user_caption(args.photo, args.text, language=args.language)
        photo = library.get_photo(args.photo)
        best = library.best_caption(args.photo)
    if args.json:
        shown = {"caption": best.text, "by": "you" if best.is_user else best.source} if best else None
        result = {
            "id": photo.id if photo is not None else None,
            "path": photo.path if photo is not None else None,
            "caption": caption.text if caption is not None else None,
            "removed": caption is None,
            "language": args.language,
            "shown": shown,  # what the app and exports now show for the photo
        }
        print_json(result)
        return 0
    print("caption removed" if caption is None else f"caption set: {printable(caption.text)}")
    return 0


# --------------------------------------------------------------------------- remove


def _add_remove(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "remove", parents=[common], help="forget a folder and its captions (files are not touched)"
    )
    parser.add_argument("folder", metavar="FOLDER", help="folder path as listed by `library status`")
    add_output_options(parser)
    parser.set_defaults(func=guarded(_remove))


def _remove(args: argparse.Namespace) -> int:
    out = Output(args)
    with open_library(args) as library:
        removed = library.remove_folder(args.folder)
    out.say(
        f"removed {printable(args.folder)} from the library ({removed} photos forgotten; files untouched)"
    )
    out.result({"folder": args.folder, "photos_forgotten": removed})
    return 0


# --------------------------------------------------------------------------- add and scan


def _print_scan(report: ScanReport, out: Output | None = None) -> None:
    if out is not None and not out.text:
        return
    print(
        f"added {report.added}, updated {report.updated}, moved {report.moved}, "
        f"missing {report.missing}, unchanged {report.unchanged}, duplicates {report.duplicates}, "
        f"not images {report.skipped}, failed {report.failed} ({report.seconds:.1f} s)"
    )


SCAN_FAILURES_SHOWN = 20


def _scan_failures(library: Library, report: ScanReport, since: datetime) -> list[FailureInfo]:
    """The files this scan could not read (the first :data:`SCAN_FAILURES_SHOWN`)."""
    if not report.failed:
        return []
    recent = library.list_failures(model="", limit=report.failed + SCAN_FAILURES_SHOWN)
    return [f for f in recent if f.last_attempt >= since][:SCAN_FAILURES_SHOWN]


def _scan_result(report: ScanReport, failures: list[FailureInfo]) -> dict[str, object]:
    """The JSON of ``add`` and ``scan``: the report's counts and the files that could not be read."""
    return {
        **dataclasses.asdict(report),
        "failures": [{"path": f.path, "error": f.error} for f in failures],
    }


def _print_scan_failures(report: ScanReport, failures: list[FailureInfo]) -> int:
    """Say on stderr which files the scan could not read; the exit code: 1 if any."""
    if not report.failed:
        return 0
    shown = SCAN_FAILURES_SHOWN
    for failure in failures:
        print(f"failed: {printable(failure.path)}: {printable(failure.error)}", file=sys.stderr)
    more = f" ({report.failed - shown} more not listed)" if report.failed > shown else ""
    noun = "file" if report.failed == 1 else "files"
    print(f"{report.failed} {noun} could not be read{more}; `library status` counts them", file=sys.stderr)
    return 1


def _add_add(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("add", parents=[common], help="add a folder of photos and scan it")
    parser.add_argument(
        "folder", type=library_path, metavar="FOLDER", help="the folder (scanned recursively)"
    )
    parser.add_argument(
        "--no-recursive", dest="recursive", action="store_false", help="only the folder itself, no subfolders"
    )
    add_output_options(parser)
    parser.set_defaults(func=guarded(_add))


def _add(args: argparse.Namespace) -> int:
    from photoscribe.core.library import scanner as scanning
    from photoscribe.core.library.schema import utcnow

    out = Output(args)
    since = utcnow()
    with out.progress("scanning", unit="file") as on_progress, open_library(args) as library:
        folder, report = scanning.add_folder(
            library, args.folder, recursive=args.recursive, on_progress=on_progress
        )
        failures = _scan_failures(library, report, since)
    out.say(f"folder {printable(folder.path)}")
    _print_scan(report, out)
    out.result({"folder": folder.path, **_scan_result(report, failures)})
    return _print_scan_failures(report, failures)


def _add_scan(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "scan", parents=[common], help="rescan every folder for new, changed, moved and deleted photos"
    )
    add_output_options(parser)
    parser.set_defaults(func=guarded(_scan))


def _scan(args: argparse.Namespace) -> int:
    from photoscribe.core.library import scanner as scanning
    from photoscribe.core.library.schema import utcnow

    out = Output(args)
    with out.progress("scanning", unit="file") as on_progress, open_library(args) as library:
        if not library.list_folders():
            print("no folders yet; add one with `photoscribe library add FOLDER`", file=sys.stderr)
            return 1
        since = utcnow()
        report = scanning.rescan_all(library, on_progress=on_progress)
        failures = _scan_failures(library, report, since)
    _print_scan(report, out)
    out.result(_scan_result(report, failures))
    return _print_scan_failures(report, failures)


# --------------------------------------------------------------------------- captioning


def _add_caption_pending(commands: Commands, common: argparse.ArgumentParser) -> None:
    from photoscribe.core.captioning.decode_limits import batch_size_limit
    from photoscribe.desktop.cli.caption import add_model_options, bounded_int

    parser = commands.add_parser(
        "caption-pending", parents=[common], help="caption every photo the model has not captioned yet"
    )
    add_model_options(parser)
    parser.add_argument(
        "--batch-size",
        type=bounded_int(*batch_size_limit()),
        default=16,
        help="photos per batch (default: 16)",
    )
    parser.add_argument(
        "--max-attempts", type=int, default=3, help="give up on a photo after this many failures (default: 3)"
    )
    add_output_options(parser)
    parser.set_defaults(func=guarded(_caption_pending))


def _caption_pending(args: argparse.Namespace) -> int:
    from photoscribe.core.library.queue import CaptionQueue
    from photoscribe.core.library.runlock import CaptionLock
    from photoscribe.desktop.cli.caption import captioner_from_args

    out = Output(args)
    with open_library(args) as library, CaptionLock(library.path):  # say "busy" before loading a model
        captioner = captioner_from_args(args, batch_size=args.batch_size)
        queue = CaptionQueue(library, captioner, batch_size=args.batch_size, max_attempts=args.max_attempts)
        with out.progress(f"captioning ({captioner.model_id})") as on_progress:
            report = queue.run_once(on_progress=on_progress)
        out.say(report.describe())
        failures = library.list_failures(model=captioner.failure_id, limit=20) if report.failed else []
        for failure in failures:
            print(
                f"failed ({failure.attempts}x): {printable(failure.path)}: {printable(failure.error)}",
                file=sys.stderr,
            )
        out.result(
            {
                "model": captioner.model_id,
                **dataclasses.asdict(report),
                "failures": [{"path": f.path, "error": f.error, "attempts": f.attempts} for f in failures],
            }
        )
    return 1 if report.failed else 0


def _add_retry_failed(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "retry-failed",
        parents=[common],
        help="forget caption failures so that caption-pending tries those photos again",
    )
    parser.add_argument(
        "--model",
        metavar="ID",
        help="only the failures that stop this model (a model id, or its checkpoint file): its own and "
        "those of unreadable files; default: every model's",
    )
    add_output_options(parser)
    parser.set_defaults(func=guarded(_retry_failed))


def _retry_failed(args: argparse.Namespace) -> int:
    model = args.model
    if model is not None and Path(model).is_file():
        from photoscribe.core.model.checkpoint import load_checkpoint

        model = load_checkpoint(model).failure_id  # that file's failures (by its content hash)
    out = Output(args)
    with open_library(args) as library:
        count = library.retry_failed(model)
    whose = f" for model {model}" if model else ""
    out.say(f"reset the failures of {count} files{whose}; run caption-pending to caption them")
    out.result({"reset": count, "model": model})
    return 0


# --------------------------------------------------------------------------- embed


def _add_embed(commands: Commands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "embed",
        parents=[common],
        help="compute the sentence embeddings of captions for search by meaning (semantic extra)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="captions per batch (default: 64)")
    parser.add_argument("--device", default="cpu", help="torch device for the embedding model (default: cpu)")
    add_output_options(parser)
    parser.set_defaults(func=guarded(_embed))


def _embed(args: argparse.Namespace) -> int:
    from photoscribe.core.library.embed_queue import EmbedQueue
    from photoscribe.core.library.meaning import SentenceEmbedder

    out = Output(args)
    with open_library(args) as library:
        embedder = SentenceEmbedder(device=args.device, batch_size=args.batch_size)
        queue = EmbedQueue(library, embedder, batch_size=args.batch_size)
        stop = threading.Event()
        restore = _stop_on_sigterm(stop)
        try:
            with out.progress(f"embedding captions ({embedder.model_id})") as on_progress:
                report = queue.run_once(on_progress=on_progress, cancel=stop)
        finally:
            restore()
        out.say(report.describe())
        out.result({"model": embedder.model_id, **dataclasses.asdict(report)})
    return 130 if report.cancelled else 0


def _stop_on_sigterm(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM set ``stop`` (main thread only); returns a function restoring the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


# --------------------------------------------------------------------------- registration

SUBCOMMANDS: tuple[Callable[[Commands, argparse.ArgumentParser], None], ...] = (
    _add_status,
    add_search_command,
    _add_similar,
    _add_set_caption,
    add_review_command,
    add_export_command,
    _add_remove,
    _add_add,
    _add_scan,
    _add_caption_pending,
    _add_retry_failed,
    _add_embed,
    add_watch_command,
    add_keywords_command,
    add_write_metadata_command,
    add_repair_command,
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

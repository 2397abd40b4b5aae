"""``photoscribe library review PHOTO... [--undo] [--json]``: mark model captions reviewed.

What Ctrl+R does in the app ("Needs review" -> accept): the photo's newest model caption is
approved, so exports that take reviewed captions only include it and "Needs review" no longer
lists it. ``--undo`` takes the approval back. A photo the library does not know, or one without a
model caption, is reported and the others are still done (exit code 1 when any was not).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from photoscribe.core.errors import LibraryError
from photoscribe.core.paths import printable
from photoscribe.desktop.cli.io import print_json


def add_review_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``review`` subcommand to the ``library`` group."""
    from photoscribe.desktop.cli.library import guarded, photo_ref

    parser = commands.add_parser(
        "review",
        parents=[common],
        help="mark photos' model captions reviewed (approved), as Ctrl+R does in the app",
        description="Approve the newest model caption of each photo (or, with --undo, take the "
        "approval back). A caption you wrote yourself is always reviewed.",
    )
    parser.add_argument("photos", nargs="+", type=photo_ref, metavar="PHOTO", help="photo ids or paths")
    parser.add_argument("--undo", action="store_true", help="mark them not reviewed again")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=guarded(_review))


def _review(args: argparse.Namespace) -> int:
    from photoscribe.desktop.cli.library import open_library

    rows: list[dict[str, Any]] = []
    with open_library(args) as library:
        for ref in args.photos:
            row: dict[str, Any] = {"photo": ref}
            try:
                changed = library.mark_reviewed(ref, reviewed=not args.undo)
            except LibraryError as exc:
                row.update(ok=False, error=str(exc))
                rows.append(row)
                continue
            photo = library.get_photo(ref)
            best = library.best_caption(ref)
            row.update(
                id=photo.id if photo is not None else None,
                path=photo.path if photo is not None else None,
                caption=best.text if best is not None else None,
                by=None if best is None else ("you" if best.is_user else best.source),
                reviewed=bool(best is not None and best.preferred),
            )
            if changed is None:
                row.update(ok=False, error="this photo has no model caption to review (caption it first)")
            else:
                row.update(ok=True)
            rows.append(row)
    failed = sum(not row["ok"] for row in rows)
    if args.json:
        print_json({"undo": args.undo, "photos": rows, "failed": failed}, indent=2)
    else:
        for row in rows:
            name = printable(row.get("path") or str(row["photo"]))
            if not row["ok"]:
                print(f"{name}: {printable(row['error'])}", file=sys.stderr)
            elif row["reviewed"]:
                mine = " (your own caption)" if row["by"] == "you" else ""
                print(f"reviewed{mine}: {name}\t{printable(row['caption'])}")
            else:
                print(f"needs review: {name}\t{printable(row['caption'])}")
        done = len(rows) - failed
        what = "marked not reviewed" if args.undo else "marked reviewed"
        print(f"{done} of {len(rows)} photo{'s' if len(rows) != 1 else ''} {what}", file=sys.stderr)
    return 1 if failed else 0

"""``photoscribe library write-metadata [PHOTO...|--all] [--include-unreviewed] --yes``.

Writes each photo's alt text, description and keywords into the photo file itself (see
:mod:`photoscribe.core.library.embed`). Photo files are modified, so the command refuses
without ``--yes`` and says what it would change.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from photoscribe.core.paths import printable
from photoscribe.desktop.cli.output import Output, add_output_options


def add_write_metadata_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``write-metadata`` subcommand to the ``library`` group."""
    from photoscribe.desktop.cli.library import guarded, photo_ref

    parser = commands.add_parser(
        "write-metadata",
        parents=[common],
        help="write alt text, description and keywords INTO the photo files (asks for --yes)",
    )
    parser.add_argument("photos", nargs="*", type=photo_ref, metavar="PHOTO", help="photo ids or paths")
    parser.add_argument("--all", action="store_true", help="every photo with a caption")
    parser.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="also write captions no person has approved (only reviewed ones by default)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm that the photo files may be modified")
    add_output_options(parser)
    parser.set_defaults(func=guarded(_write_metadata))


def _write_metadata(args: argparse.Namespace) -> int:
    from photoscribe.core.library.embed import can_embed, embed_photos
    from photoscribe.desktop.cli.library import open_library

    out = Output(args)
    if bool(args.photos) == bool(args.all):
        print("error: name the photos to write, or pass --all", file=sys.stderr)
        return 2
    with open_library(args) as library:
        ids: list[int] | None = None
        if args.photos:
            ids = []
            for ref in args.photos:
                photo = library.get_photo(ref)
                if photo is None:
                    print(f"error: no such photo in the library: {printable(str(ref))}", file=sys.stderr)
                    return 2
                ids.append(photo.id)
        what = "all photos with a caption" if ids is None else f"{len(ids)} photo(s)"
        which = "captions" if args.include_unreviewed else "captions a person wrote or approved"
        if not args.yes:
            print(  # a refusal: on stderr when stdout is for a script (--json) or silent (-q)
                f"this would modify the photo files of {what}: their {which} go in as alt text and "
                "description (XMP, IPTC, EXIF) and their keywords are added; a person's existing text "
                "is never replaced and nothing else in the files changes.\n"
                "Run the command again with --yes to write them (XMP sidecars, `library export "
                "--format xmp`, leave the photos untouched).",
                file=None if out.text else sys.stderr,
            )
            return 2
        with out.progress("write-metadata") as on_progress:
            summary = embed_photos(
                library, ids, reviewed_only=not args.include_unreviewed, on_progress=on_progress
            )
    unsupported = [path for path, _ in summary.failed if not can_embed(path)]
    failed = [(path, reason) for path, reason in summary.failed if can_embed(path)]
    out.result(
        {
            "written": summary.written,
            "unchanged": summary.unchanged,
            "skipped": summary.skipped,
            "unsupported": unsupported,
            "kept": [{"path": path, "fields": list(fields)} for path, fields in summary.kept],
            "failed": [{"path": path, "reason": reason} for path, reason in failed],
            "cancelled": summary.cancelled,
        }
    )
    for path, reason in failed:
        print(f"failed: {printable(path)}: {printable(reason)}", file=sys.stderr)
    if not out.text:
        return 1 if failed else 0
    print(
        f"wrote {summary.written} photo files; {summary.unchanged} unchanged; "
        f"skipped {summary.skipped} without a (reviewed) caption"
        + (f" and {len(unsupported)} in a format that cannot be written" if unsupported else "")
        + f"; failed {len(failed)}"
    )
    for path, fields in summary.kept:
        print(f"  kept your text: {printable(path)} ({', '.join(fields)})")
    for path in unsupported:
        print(f"  skipped (format cannot be written; use `library export --format xmp`): {printable(path)}")
    return 1 if failed else 0

"""``photoscribe library keywords PHOTO [--add WORD] [--remove WORD] [--json]``.

Lists a photo's keywords (a person's first, then the model's most probable first, with
their source and score), after adding and removing the words given. A removed word is
remembered: captioning the photo again does not bring it back; ``--add`` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from photoscribe.core.captioning.confidence import confidence_text
from photoscribe.core.paths import printable
from photoscribe.desktop.cli.io import print_json
from photoscribe.desktop.cli.output import add_quiet_option


def add_keywords_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``keywords`` subcommand to the ``library`` group."""
    from photoscribe.desktop.cli.library import guarded, photo_ref

    parser = commands.add_parser(
        "keywords", parents=[common], help="list, add or remove a photo's keywords (removals are remembered)"
    )
    parser.add_argument("photo", type=photo_ref, metavar="PHOTO", help="photo id or path")
    parser.add_argument(
        "--add", action="append", default=[], metavar="WORD", help="add a keyword (repeatable)"
    )
    parser.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="WORD",
        help="remove a keyword; no model adds it back (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_quiet_option(parser)
    parser.set_defaults(func=guarded(_keywords))


def _keywords(args: argparse.Namespace) -> int:
    from photoscribe.desktop.cli.library import open_library

    missing: list[str] = []
    with open_library(args) as library:
        for word in args.add:
            library.add_keyword(args.photo, word)
        for word in args.remove:
            if not library.remove_keyword(args.photo, word):
                missing.append(word)
        keywords = library.keywords(args.photo)
        caption = library.best_caption(args.photo)
    confidence = caption.confidence if caption is not None and not caption.preferred else None
    if args.json:
        rows = [{"word": k.word, "score": k.score, "source": k.source} for k in keywords]
        print_json({"keywords": rows, "confidence": confidence, "not_found": missing})
        return 0
    if args.quiet:
        return 0
    for word in missing:
        print(f"not a keyword of this photo: {printable(word)}")
    for k in keywords:
        score = "" if k.score is None else f"{k.score:.2f}"
        print(f"{printable(k.word)}\t{score}\t{k.source}")
    if not keywords:
        print("no keywords")
    if confidence is not None:
        print(confidence_text(confidence))
    return 0

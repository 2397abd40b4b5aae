"""``photoscribe library search QUERY``: search the library's captions by words, by meaning or both.

Prints one photo a line (id and path), its snippet and keywords below; ``--json`` prints the hits.
Without ``--mode`` the search is hybrid when the semantic extra is installed and captions are
embedded, else by words (with a note on stderr saying why).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from photoscribe.core.library.query_parser import MODES
from photoscribe.core.paths import printable
from photoscribe.desktop.cli.io import non_negative_int, positive_int, print_json


def add_search_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``search`` subcommand to the ``library`` group."""
    from photoscribe.desktop.cli.library import guarded

    parser = commands.add_parser("search", parents=[common], help="full-text search of the captions")
    parser.add_argument(
        "query", metavar="QUERY", help='words; "a phrase"; -excluded; prefix* (empty: browse)'
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--limit", type=positive_int, default=20, help="results to show (default: 20)")
    parser.add_argument("--offset", type=non_negative_int, default=0, help="results to skip")
    parser.add_argument("--folder", help="only photos under this directory")
    parser.add_argument("--from", dest="date_from", type=_iso_date, metavar="DATE", help="taken on or after")
    parser.add_argument("--to", dest="date_to", type=_iso_date, metavar="DATE", help="taken on or before")
    parser.add_argument("--uncaptioned", action="store_true", help="only photos without a caption")
    parser.add_argument("--needs-review", action="store_true", help="only unreviewed model captions")
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="hybrid: word matches first, then by meaning (the default when the semantic extra is "
        "installed and captions are embedded); fts: words only; meaning: by meaning only",
    )
    parser.set_defaults(func=guarded(_search))
    _words_may_start_with_a_dash(parser)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2024-06-30") from exc


def _words_may_start_with_a_dash(parser: argparse.ArgumentParser) -> None:
    """Read ``-red`` as a query (an excluded word), not as an unknown option; ``-h`` and the
    ``--options`` keep their meaning. argparse has no public hook for this, so its per-argument
    classifier is wrapped."""
    classify = parser._parse_optional
    options = parser._option_string_actions

    def parse_optional(arg: str) -> Any:
        if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and arg not in options:
            return None  # a positional argument
        return classify(arg)

    setattr(parser, "_parse_optional", parse_optional)  # noqa: B010


def _search(args: argparse.Namespace) -> int:
    from photoscribe.core.library.filters import SearchFilters
    from photoscribe.core.library.hybrid import MeaningSearch, default_mode, hybrid_search
    from photoscribe.desktop.cli.library import open_library

    with open_library(args) as library:
        mode = args.mode
        if mode is None:
            mode, hint = default_mode(library)
            if hint and args.query.strip():
                print(f"note: words only; {hint}", file=sys.stderr)
        filters = SearchFilters(
            folder=args.folder,
            date_from=args.date_from,
            date_to=args.date_to,
            uncaptioned=args.uncaptioned,
            needs_review=args.needs_review,
        )
        hits = hybrid_search(
            library,
            args.query,
            MeaningSearch(library) if mode != "fts" else None,
            mode=mode,
            filters=filters,
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
                "by_meaning": hit.by_meaning,
                "similarity": hit.similarity,
                "keywords": list(hit.keywords),
            }
            for hit in hits
        ]
        print_json(rows, indent=2)
        return 0
    for hit in hits:
        print(f"{hit.photo_id}\t{printable(hit.path)}")
        if hit.snippet:
            print(f"\t{'≈ ' if hit.by_meaning else ''}{printable(hit.snippet)}")
        if hit.keywords:
            print(f"\tkeywords: {printable(', '.join(hit.keywords))}")
    if not hits:
        print("no matches", file=sys.stderr)
    return 0

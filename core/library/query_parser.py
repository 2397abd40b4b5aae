"""Search-box text to safe FTS5 MATCH expressions, and the modes a query is searched in.

A query holds words, ``"quoted phrases"``, ``-excluded`` terms and ``prefix*`` terms.

:func:`parse_query` never raises and never lets user input reach FTS5 syntax: every term is a
quoted string, so operators, column filters and unbalanced quotes typed by a person are plain
text. :mod:`~photoscribe.core.library.search` runs the expressions on the index. This module
imports neither SQLAlchemy nor numpy, so the command line reads :data:`MODES` without them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal, NamedTuple

# How a query is searched (core/library/hybrid.py): words first then by meaning, words only, meaning only.
SearchMode = Literal["hybrid", "fts", "meaning"]
MODES: tuple[SearchMode, ...] = ("hybrid", "fts", "meaning")

MAX_QUERY_CHARS = 1_000
MAX_TERMS = 16
MAX_TERM_CHARS = 64
# Dropped from queries (unless nothing else is left): "man on bike" must find "a man riding a bike".
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
        "of", "on", "or", "that", "the", "their", "there", "these", "this", "to", "was", "were", "with",
    }
)  # fmt: skip
_JOINERS = frozenset("-'’.")  # kept inside a word: t-shirt, dog's, 3.5 (FTS5 matches them as phrases)


@dataclass(frozen=True)
class ParsedQuery:
    """User input reduced to FTS5 phrases (already quoted): all of ``include``, none of ``exclude``."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]


class _Term(NamedTuple):
    text: str
    negated: bool
    bare: bool  # a single word, not a "quoted phrase"
    starred: bool = False  # typed with a * right after it: a prefix, whatever its length


def _is_token_char(ch: str) -> bool:
    # Letters, marks (needed by Indic scripts, combining accents), numbers, private use: as unicode61.
    category = unicodedata.category(ch)
    return category[0] in "LMN" or category == "Co"


def _quote(phrase: str) -> str:
    return '"' + phrase.replace('"', '""') + '"'


def _read_word(text: str, i: int) -> tuple[str, int]:
    """The word starting at ``text[i]`` (a token char) and the index after it."""
    start = i
    n = len(text)
    while i < n:
        inner_joiner = i > start and text[i] in _JOINERS and i + 1 < n and _is_token_char(text[i + 1])
        if not (_is_token_char(text[i]) or inner_joiner):
            break
        i += 1
    return text[start:i][:MAX_TERM_CHARS], i


def _words(text: str) -> list[str]:
    words: list[str] = []
    i = 0
    while i < len(text):
        if _is_token_char(text[i]):
            word, i = _read_word(text, i)
            words.append(word)
        else:
            i += 1
    return words


def parse_query(user_text: object) -> ParsedQuery:
    """Split search-box text into words, ``"quoted phrases"`` and ``-excluded`` terms. Never raises.

    Everything that is not a letter, digit or mark separates words, so FTS5
    operators, column filters, ``*``, ``^``, brackets and unbalanced quotes
    typed by the user are plain text. The last word gets a prefix ``*``
    (search as you type) unless the input ends with a space. A word typed with a ``*`` right
    after it (``d*``, ``bic* red``) is a prefix wherever it is and however short: the person
    asked for one.
    """
    if not isinstance(user_text, str):
        return ParsedQuery((), ())
    raw = unicodedata.normalize("NFC", user_text[:MAX_QUERY_CHARS])
    items: list[_Term] = []
    i, n = 0, len(raw)
    negate = False
    while i < n and len(items) < MAX_TERMS:
        ch = raw[i]
        if _is_token_char(ch):
            word, i = _read_word(raw, i)
            starred = raw[i : i + 1] == "*"
            items.append(_Term(word, negate, True, starred))
            negate = False
        elif ch == '"' and (end := raw.find('"', i + 1)) != -1:
            phrase = " ".join(_words(raw[i + 1 : end])[:MAX_TERMS])
            if phrase:
                items.append(_Term(phrase, negate, False))
            negate = False
            i = end + 1
        else:
            at_word_start = i == 0 or raw[i - 1].isspace()
            negate = (
                ch == "-"
                and at_word_start
                and i + 1 < n
                and (raw[i + 1] == '"' or _is_token_char(raw[i + 1]))
            )
            i += 1
    if not items:
        return ParsedQuery((), ())
    last = len(items) - 1
    prefix_last = items[last].bare and not items[last].negated and not raw[-1:].isspace()
    if prefix_last and len(items[last].text) == 1 and items[last].text.isascii():
        # One letter typed: "b"* would merge the lists of every word starting with b (a third of a
        # large library). It is matched as a whole word until the next letter arrives.
        prefix_last = False

    def droppable(index: int, term: _Term) -> bool:
        is_stopword = term.bare and not term.negated and not term.starred and term.text.lower() in STOPWORDS
        return is_stopword and not (prefix_last and index == last)  # the word being typed stays

    kept = [term for index, term in enumerate(items) if not droppable(index, term)]
    if any(not term.negated for term in kept):
        items = kept
    include: list[str] = []
    exclude: list[str] = []
    for index, term in enumerate(items):
        if term.negated:
            exclude.append(_quote(term.text) + ("*" if term.starred else ""))
        else:
            star = "*" if term.starred or (prefix_last and index == len(items) - 1) else ""
            include.append(_quote(term.text) + star)
    return ParsedQuery(tuple(include), tuple(dict.fromkeys(exclude)))


def build_match_query(user_text: object) -> str | None:
    """A safe FTS5 MATCH expression for any user input, or ``None`` when nothing is searchable.

    >>> build_match_query('red "sports car" -truck bic')
    '("red" AND "sports car" AND "bic"*) NOT ("truck")'

    Input with only excluded terms gives ``None`` here; :func:`search` handles
    it as "everything except". Never raises.
    """
    parsed = parse_query(user_text)
    if not parsed.include:
        return None
    query = "(" + " AND ".join(parsed.include) + ")"
    if parsed.exclude:
        query += " NOT (" + " OR ".join(parsed.exclude) + ")"
    return query

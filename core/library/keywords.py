"""A photo's keywords: the model's, a person's, imported ones, and the ones a person removed.

Rules (migration 0004 describes the table):

* one row per (photo, word); words compare case-insensitively, a person's spelling is kept;
* a model's keywords (``source = "model:<model id>"``) are replaced as a whole each time a
  model captions the photo (:func:`replace_model_keywords`), never touching a person's or an
  imported word;
* a removed word stays as a row with ``removed`` set, so no model brings it back; adding it
  again (:func:`add_keyword`) makes it the person's.

Like :mod:`photoscribe.core.library.captions`, every function takes the session (and so the
transaction) from the caller and returns frozen records. The FTS index and the caption
embeddings follow through triggers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.photos import PhotoRef, require_photo
from photoscribe.core.library.records import MODEL_KEYWORD_PREFIX, CaptionInfo, KeywordInfo
from photoscribe.core.library.schema import USER_SOURCE, Keyword

log = logging.getLogger(__name__)

IMPORTED_SOURCE = "imported"
MAX_WORD_CHARS = 100
MAX_MODEL_KEYWORDS = 20  # per photo and caption run: a classifier's long tail is noise
_CHUNK = 500

# A person's words first, then the model's by probability.
_ORDER = (
    case((Keyword.source.startswith(MODEL_KEYWORD_PREFIX), 1), else_=0),
    Keyword.score.desc().nulls_last(),
    Keyword.word,
)


def model_source(model_id: str) -> str:
    """``Keyword.source`` of the keywords of ``model_id``."""
    return MODEL_KEYWORD_PREFIX + model_id


def clean_word(word: object) -> str:
    """A keyword as stored: NFC, one space between words, no control characters.

    Raises:
        LibraryError: the word is empty (after cleaning) or longer than :data:`MAX_WORD_CHARS`.
    """
    text = unicodedata.normalize("NFC", str(word))
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise LibraryError(f"a keyword needs at least one letter or digit, got {word!r}")
    if len(cleaned) > MAX_WORD_CHARS:
        raise LibraryError(f"a keyword may have at most {MAX_WORD_CHARS} characters, got {len(cleaned)}")
    return cleaned


def _rows(session: Session, photo_id: int) -> dict[str, Keyword]:
    """Every keyword row of a photo (removed ones too), by lower-case word."""
    rows = session.scalars(select(Keyword).where(Keyword.photo_id == photo_id))
    return {row.word.lower(): row for row in rows}


def keywords_for(session: Session, ref: PhotoRef, *, include_removed: bool = False) -> list[KeywordInfo]:
    """A photo's keywords, a person's first, then the model's most probable first.

    Raises:
        LibraryError: the photo is unknown.
    """
    photo = require_photo(session, ref)
    where: list[Any] = [Keyword.photo_id == photo.id]
    if not include_removed:
        where.append(Keyword.removed.is_(False))
    return [KeywordInfo.from_orm(k) for k in session.scalars(select(Keyword).where(*where).order_by(*_ORDER))]


def keywords_by_photo(session: Session, photo_ids: Sequence[int]) -> dict[int, list[KeywordInfo]]:
    """photo id -> its keywords (not removed), in the order of :func:`keywords_for`; photos without none."""
    result: dict[int, list[KeywordInfo]] = {}
    ids = list(dict.fromkeys(photo_ids))
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(Keyword)
            .where(Keyword.photo_id.in_(ids[start : start + _CHUNK]), Keyword.removed.is_(False))
            .order_by(Keyword.photo_id, *_ORDER)
        )
        for row in session.scalars(stmt):
            result.setdefault(row.photo_id, []).append(KeywordInfo.from_orm(row))
    return result


def replace_model_keywords(
    session: Session, photo_id: int, model_id: str, keywords: Iterable[Any]
) -> list[str]:
    """Make ``keywords`` (``(word, score)`` pairs or objects with ``word`` and ``score``) the model's.

    Every model keyword of the photo that is not in ``keywords`` is deleted (whichever model
    made it); a person's and imported words are kept as they are, and a removed word is not
    brought back. Words that are not valid keywords are skipped; at most
    :data:`MAX_MODEL_KEYWORDS` are kept. Returns the model's words now stored, best first.
    """
    wanted: dict[str, tuple[str, float | None]] = {}
    for item in keywords:
        word, score = (item.word, item.score) if hasattr(item, "word") else item
        try:
            cleaned = clean_word(word)
        except LibraryError as exc:
            log.debug("skipping keyword of photo %s: %s", photo_id, exc)
            continue
        wanted.setdefault(cleaned.lower(), (cleaned, None if score is None else float(score)))
        if len(wanted) == MAX_MODEL_KEYWORDS:
            break
    rows = _rows(session, photo_id)
    for key, row in rows.items():
        if row.source.startswith(MODEL_KEYWORD_PREFIX) and not row.removed and key not in wanted:
            session.delete(row)
    stored: list[str] = []
    for key, (word, score) in wanted.items():
        existing = rows.get(key)
        if existing is None:
            session.add(Keyword(photo_id=photo_id, word=word, score=score, source=model_source(model_id)))
        elif existing.removed or not existing.source.startswith(MODEL_KEYWORD_PREFIX):
            continue  # a person removed it, or it is a person's (or imported) word already
        else:
            existing.score, existing.source = (
                score,
                model_source(model_id),
            )  # no trigger: the text is unchanged
        stored.append(word)
    session.flush()
    return stored


def add_keyword(
    session: Session, ref: PhotoRef, word: str, *, source: str = USER_SOURCE, score: float | None = None
) -> KeywordInfo:
    """Give a photo a keyword (a person's by default); a removed or model keyword becomes ``source``'s.

    Raises:
        LibraryError: the photo is unknown or the word is not a valid keyword.
    """
    if source.startswith(MODEL_KEYWORD_PREFIX):
        raise LibraryError("model keywords are stored by the caption queue (replace_model_keywords)")
    photo = require_photo(session, ref)
    cleaned = clean_word(word)
    row = _rows(session, photo.id).get(cleaned.lower())
    if row is None:
        row = Keyword(photo_id=photo.id, word=cleaned, score=score, source=source)
        session.add(row)
    else:
        row.word, row.source, row.removed, row.score = cleaned, source, False, score
    session.flush()
    return KeywordInfo.from_orm(row)


def add_imported_keywords(session: Session, photo_id: int, words: Iterable[str]) -> list[str]:
    """Give a photo the keywords read from its metadata (source ``"imported"``, a person's words).

    A word the photo has already (a person's, imported, or a model's, which becomes imported)
    is kept as it is; a word a person removed stays removed. Words that are not valid keywords
    are skipped. Returns the words added.
    """
    rows = _rows(session, photo_id)
    added: list[str] = []
    for word in words:
        try:
            cleaned = clean_word(word)
        except LibraryError as exc:
            log.debug("skipping imported keyword of photo %s: %s", photo_id, exc)
            continue
        row = rows.get(cleaned.lower())
        if row is None:
            row = Keyword(photo_id=photo_id, word=cleaned, score=None, source=IMPORTED_SOURCE)
            session.add(row)
            rows[cleaned.lower()] = row
            added.append(cleaned)
        elif row.source.startswith(MODEL_KEYWORD_PREFIX) and not row.removed:
            row.source, row.score = IMPORTED_SOURCE, None
    session.flush()
    return added


def remove_keyword(session: Session, ref: PhotoRef, word: str) -> bool:
    """Take a keyword away from a photo and remember it, so no model adds it again; False if absent.

    Raises:
        LibraryError: the photo is unknown.
    """
    photo = require_photo(session, ref)
    try:
        key = clean_word(word).lower()
    except LibraryError:
        return False
    row = _rows(session, photo.id).get(key)
    if row is None or row.removed:
        return False
    row.removed = True
    session.flush()
    return True


def keywords_of(cursor: sqlite3.Cursor, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """photo id -> its keywords (not removed), in order, read with a raw cursor (search's hot path)."""
    if not ids:
        return {}
    sql = (
        "SELECT photo_id, word FROM keywords WHERE photo_id IN (SELECT value FROM json_each(?)) "
        "AND NOT removed ORDER BY photo_id, source LIKE 'model:%', score DESC NULLS LAST, word"
    )
    found: dict[int, list[str]] = {}
    for photo_id, word in cursor.execute(sql, (json.dumps(list(ids)),)):
        found.setdefault(int(photo_id), []).append(str(word))
    return {photo_id: tuple(words) for photo_id, words in found.items()}


def keyword_snippet(
    snippet: str, caption: CaptionInfo | None, keywords: Sequence[str], marks: Sequence[str] = ("[", "]", "…")
) -> str:
    """The snippet to show for a match found in the keywords column ("caption — [bus], vehicle").

    FTS5's snippet shows the column that matched best; that column's lines are the keywords.
    ``marks`` are the highlight markers and the ellipsis the snippet was made with; any other
    snippet is returned as it is.
    """
    if not keywords:
        return snippet
    lower = {word.lower() for word in keywords}
    lines = [line for line in snippet.split("\n") if line]
    plain = lines
    for mark in marks[:3]:
        if mark:
            plain = [line.replace(mark, "") for line in plain]
    plain = [line.strip().lower() for line in plain]
    if not plain or not all(line in lower for line in plain):
        return snippet
    if caption is not None and " ".join(plain) == caption.text.strip().lower():
        return snippet  # the caption itself matched (a one-word caption that is also a keyword)
    listed = ", ".join(lines)
    if caption is None:
        return listed
    return f"{caption.text} — {listed}"

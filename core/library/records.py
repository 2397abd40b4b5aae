"""Frozen, thread-safe snapshots of library rows.

These are what the library API returns: ORM objects never leave the session
(and the thread) that loaded them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from photoscribe.core.captioning.results import LOW_CONFIDENCE
from photoscribe.core.library.schema import Caption, Failure, Folder, Keyword, Photo, PhotoStatus

# Keyword.source of a model's keywords is this prefix and the model id.
MODEL_KEYWORD_PREFIX = "model:"

# A photo is named by its id or its file path; a folder by its id or path.
PhotoRef = Union[int, str, "os.PathLike[str]"]
FolderRef = Union[int, str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    recursive: bool
    added_at: datetime

    @classmethod
    def from_orm(cls, folder: Folder) -> FolderInfo:
        return cls(folder.id, folder.path, bool(folder.recursive), folder.added_at)


@dataclass(frozen=True)
class PhotoInfo:
    """One photo. ``taken_at`` is local camera time; ``added_at`` is UTC."""

    id: int
    path: str
    folder_id: int | None
    size: int
    mtime: float
    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: datetime | None
    camera: str | None
    added_at: datetime
    status: PhotoStatus
    feature_model: str | None

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @classmethod
    def from_orm(cls, photo: Photo) -> PhotoInfo:
        return cls(
            id=photo.id,
            path=photo.path,
            folder_id=photo.folder_id,
            size=photo.size,
            mtime=photo.mtime,
            content_hash=photo.content_hash,
            width=photo.width,
            height=photo.height,
            taken_at=photo.taken_at,
            camera=photo.camera,
            added_at=photo.added_at,
            status=photo.status,
            feature_model=photo.feature_model,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PhotoInfo:
        """From a raw ``photos`` row in the order of :data:`PHOTO_COLUMNS` (dates as SQLite text)."""
        return cls(
            id=int(row[0]),
            path=row[1],
            folder_id=row[2],
            size=int(row[3]),
            mtime=float(row[4]),
            content_hash=row[5],
            width=row[6],
            height=row[7],
            taken_at=_opt_datetime(row[8]),
            camera=row[9],
            added_at=_datetime(row[10]),
            status=PhotoStatus(row[11]),
            feature_model=row[12],
        )


@dataclass(frozen=True)
class Alternative:
    """One entry of a caption's n-best list."""

    text: str
    score: float | None


@dataclass(frozen=True)
class CaptionInfo:
    """One caption. ``source`` is ``"user"`` or the id of the model that wrote it."""

    id: int
    photo_id: int
    text: str
    source: str
    is_user: bool
    reviewed: bool
    score: float | None
    alternatives: tuple[Alternative, ...]
    language: str
    created_at: datetime
    # 0-1: how likely the caption names only objects in the photo (None: unknown, or a person's caption).
    confidence: float | None = None

    @property
    def preferred(self) -> bool:
        """Written or approved by a person: wins over every model caption."""
        return self.is_user or self.reviewed

    @property
    def low_confidence(self) -> bool:
        """A model caption nobody reviewed whose confidence is below :data:`LOW_CONFIDENCE`."""
        return not self.preferred and self.confidence is not None and self.confidence < LOW_CONFIDENCE

    @classmethod
    def from_orm(cls, caption: Caption) -> CaptionInfo:
        alternatives = tuple(
            Alternative(str(item.get("text", "")), _opt_float(item.get("score")))
            for item in (caption.alternatives or [])
            if isinstance(item, dict)
        )
        return cls(
            id=caption.id,
            photo_id=caption.photo_id,
            text=caption.text,
            source=caption.source,
            is_user=bool(caption.is_user),
            reviewed=bool(caption.reviewed),
            score=caption.score,
            alternatives=alternatives,
            language=caption.language,
            created_at=caption.created_at,
            confidence=caption.confidence,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CaptionInfo:
        """From a raw ``captions`` row in the order of :data:`CAPTION_COLUMNS` (JSON and dates as text)."""
        try:
            items = json.loads(row[7]) if isinstance(row[7], str) else []
        except ValueError:
            items = []
        alternatives = tuple(
            Alternative(str(item.get("text", "")), _opt_float(item.get("score")))
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        )
        return cls(
            id=int(row[0]),
            photo_id=int(row[1]),
            text=row[2],
            source=row[3],
            is_user=bool(row[4]),
            reviewed=bool(row[5]),
            score=_opt_float(row[6]),
            alternatives=alternatives,
            language=row[8],
            created_at=_datetime(row[9]),
            confidence=_opt_float(row[10]),
        )


@dataclass(frozen=True)
class KeywordInfo:
    """A search word of a photo. ``source``: ``"model:<model id>"``, ``"user"`` or ``"imported"``.

    ``score`` is the classifier's probability (None for a person's word); ``removed`` is True
    only for words a person took away (listed only when asked for).
    """

    word: str
    score: float | None
    source: str
    removed: bool = False

    @property
    def from_model(self) -> bool:
        return self.source.startswith(MODEL_KEYWORD_PREFIX)

    @classmethod
    def from_orm(cls, keyword: Keyword) -> KeywordInfo:
        return cls(keyword.word, keyword.score, keyword.source, bool(keyword.removed))


@dataclass(frozen=True)
class FailureInfo:
    id: int
    path: str
    photo_id: int | None
    error: str
    attempts: int
    last_attempt: datetime
    model: str = ""  # the model that failed; "" when the failure does not depend on the model

    @classmethod
    def from_orm(cls, failure: Failure) -> FailureInfo:
        return cls(
            failure.id,
            failure.path,
            failure.photo_id,
            failure.error,
            failure.attempts,
            failure.last_attempt,
            failure.model or "",
        )


@dataclass(frozen=True)
class SearchHit:
    """One search result: the photo, its best caption, and a snippet of the matching text.

    ``snippet`` marks the matched words with the chosen highlight markers; it is
    the best caption's text when browsing without a query. ``rank`` is bm25
    (lower is better) or 0.0 when browsing. Hybrid search
    (:mod:`~photoscribe.core.library.hybrid`) sets ``by_meaning`` on photos
    whose captions do not contain the words but mean something close (the
    snippet is then the caption that matched, unmarked) and ``similarity`` to
    the cosine between the query and the photo's closest caption. ``keywords`` are the
    photo's keywords, best first (a photo may match by a keyword its caption lacks).
    """

    photo: PhotoInfo
    caption: CaptionInfo | None
    snippet: str
    rank: float
    by_meaning: bool = False
    similarity: float | None = None
    keywords: tuple[str, ...] = ()  # the photo's keywords (not removed), best first

    @property
    def photo_id(self) -> int:
        return self.photo.id

    @property
    def path(self) -> str:
        return self.photo.path


@dataclass(frozen=True)
class LibraryStats:
    """Counts for a status bar. ``photos`` excludes missing files, counted in ``missing``."""

    photos: int
    captioned: int
    uncaptioned: int
    needs_review: int
    failures: int
    missing: int
    folders: int
    low_confidence: int = 0  # photos whose unreviewed model caption is below LOW_CONFIDENCE


@dataclass(frozen=True)
class FileStamp:
    """What the library knows of a file, for a scanner to skip unchanged files cheaply."""

    photo_id: int
    size: int
    mtime: float
    content_hash: str | None
    status: PhotoStatus


# Column orders read by PhotoInfo.from_row and CaptionInfo.from_row (raw SQL on hot paths).
PHOTO_COLUMNS = (
    "id, path, folder_id, size, mtime, content_hash, width, height, taken_at, camera, added_at, status, "
    "feature_model"
)
CAPTION_COLUMNS = (
    "id, photo_id, text, source, is_user, reviewed, score, alternatives, language, created_at, confidence"
)


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _opt_datetime(value: object) -> datetime | None:
    return None if value is None else _datetime(value)


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None

"""The photo library: one SQLite file, its engine and schema looked after, and one method per operation.

Opening the file (WAL mode, read-only when it cannot be written) is :mod:`.engine`'s; bringing it
to this release's schema, :mod:`.upgrade`'s. :class:`Library` opens both, hands out read sessions
and ``BEGIN IMMEDIATE`` write transactions, and mirrors the operations of :mod:`.photos`,
:mod:`.captions` and :mod:`.keywords`, each in a transaction of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError, LibraryReadOnlyError
from photoscribe.core.library import captions, pending, photos
from photoscribe.core.library import keywords as kw
from photoscribe.core.library.captions import DEFAULT_MAX_ATTEMPTS
from photoscribe.core.library.engine import engine_read_only, open_engine, read_only_message, write_engine
from photoscribe.core.library.integrity import ensure_sound
from photoscribe.core.library.records import (
    CaptionInfo,
    FailureInfo,
    FileStamp,
    FolderInfo,
    KeywordInfo,
    LibraryStats,
    PhotoInfo,
)
from photoscribe.core.library.upgrade import check_readable_schema, current_revision, head_revision, migrate
from photoscribe.core.paths import default_library_path

if TYPE_CHECKING:
    from typing import Unpack

    from photoscribe.core.library.photos import PhotoMetadata

log = logging.getLogger(__name__)


class Library:
    """The photo library: one SQLite file, safe to share between threads.

    Use :meth:`session` for reads and :meth:`transaction` for writes. The
    high-level operations live in :mod:`~photoscribe.core.library.photos`
    (functions taking a session, for batching) and are mirrored here as
    methods that each run in their own write transaction.
    """

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._write_engine = write_engine(engine)
        # Why this library cannot be written (a read-only mount, file or folder; a full disk), or None.
        self.read_only: str | None = engine_read_only(engine)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, upgrade: bool = True, check: bool = False
    ) -> Library:
        """Open (creating and migrating as needed) the library at ``path`` or the default location.

        A library that cannot be written opens read-only (:attr:`read_only` says why; writes raise
        :class:`LibraryReadOnlyError`). With ``check``, every page is read first (``PRAGMA
        quick_check``, 0.12 s at 20,000 photos) and a damaged file raises ``LibraryDamagedError``.
        """
        db_path = Path(path).expanduser() if path is not None else default_library_path()
        engine = open_engine(db_path)
        try:
            read_only = engine_read_only(engine)
            if check:
                ensure_sound(db_path, read_only=read_only is not None)
            if read_only is not None:
                check_readable_schema(engine, db_path, read_only)
            elif upgrade:
                migrate(engine)
            elif current_revision(engine) != head_revision():
                raise LibraryError(f"{db_path} needs a schema migration; open it with upgrade=True")
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened library %s%s", db_path, f" read-only ({read_only})" if read_only else "")
        return cls(engine, db_path)

    def session(self) -> Session:
        """A new read session (``with library.session() as s: ...``). Write with :meth:`transaction`."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session in a ``BEGIN IMMEDIATE`` transaction, committed on success, else rolled back.

        Raises:
            LibraryReadOnlyError: the library is open read-only.
        """
        if self.read_only is not None:
            raise LibraryReadOnlyError(read_only_message(self.path, self.read_only))
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        """Close every pooled connection (checkpointing the WAL when this was the last one)."""
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"

    # ----------------------------------------------------------------- folders (one transaction each)

    def add_folder_record(self, path: str | os.PathLike[str], *, recursive: bool = True) -> FolderInfo:
        with self.transaction() as s:
            return photos.add_folder_record(s, path, recursive=recursive)

    def remove_folder(self, folder: photos.FolderRef) -> int:
        with self.transaction() as s:
            return photos.remove_folder(s, folder)

    def list_folders(self) -> list[FolderInfo]:
        with self.session() as s:
            return photos.list_folders(s)

    # ----------------------------------------------------------------- photos

    def upsert_photo(
        self,
        path: str | os.PathLike[str],
        size: int,
        mtime: float,
        *,
        folder_id: int | None = None,
        **metadata: Unpack[PhotoMetadata],
    ) -> PhotoInfo:
        """:func:`.photos.upsert_photo` in a transaction of its own."""
        with self.transaction() as s:
            return photos.upsert_photo(s, path, size, mtime, folder_id=folder_id, **metadata)

    def get_photo(self, photo: photos.PhotoRef) -> PhotoInfo | None:
        with self.session() as s:
            return photos.get_photo(s, photo)

    def get_photos(self, photo_ids: Iterable[int]) -> list[PhotoInfo]:
        with self.session() as s:
            return photos.get_photos(s, photo_ids)

    def list_photos(
        self,
        *,
        folder: photos.FolderRef | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[PhotoInfo]:
        with self.session() as s:
            return photos.list_photos(s, folder=folder, status=status, limit=limit, offset=offset)

    def folder_counts(self) -> dict[int, int]:
        with self.session() as s:
            return photos.folder_counts(s)

    def count_added_since(self, since: datetime) -> int:
        with self.session() as s:
            return photos.count_added_since(s, since)

    def known_files(self, folder: photos.FolderRef | None = None) -> dict[str, FileStamp]:
        with self.session() as s:
            return photos.known_files(s, folder)

    def move_photo(self, old: str | os.PathLike[str], new: str | os.PathLike[str]) -> PhotoInfo | None:
        with self.transaction() as s:
            return photos.move_photo(s, old, new)

    def move_directory(self, old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str]) -> int:
        with self.transaction() as s:
            return photos.move_directory(s, old_dir, new_dir)

    def mark_missing(self, photo: photos.PhotoRef) -> bool:
        with self.transaction() as s:
            return photos.mark_missing(s, photo)

    def delete_photos(self, photo_ids: Iterable[int]) -> int:
        """Remove photos and their captions in one transaction (the files stay); how many were removed."""
        with self.transaction() as s:
            return sum(photos.delete_photo(s, photo_id) for photo_id in photo_ids)

    # ----------------------------------------------------------------- captions

    def captions(self, photo: photos.PhotoRef) -> list[CaptionInfo]:
        with self.session() as s:
            return captions.captions_for(s, photo)

    def best_captions(self, photo_ids: Sequence[int]) -> dict[int, CaptionInfo]:
        with self.session() as s:
            return captions.best_captions(s, photo_ids)

    def best_caption(self, photo: photos.PhotoRef) -> CaptionInfo | None:
        with self.session() as s:
            return captions.best_caption(s, photo)

    def caption_attention(self, caption_id: int) -> np.ndarray | None:
        with self.session() as s:
            return captions.caption_attention(s, caption_id)

    def set_user_caption(
        self, photo: photos.PhotoRef, text: str, *, language: str = "en"
    ) -> CaptionInfo | None:
        with self.transaction() as s:
            return captions.set_user_caption(s, photo, text, language=language)

    def mark_reviewed(
        self, photo: photos.PhotoRef, *, caption_id: int | None = None, reviewed: bool = True
    ) -> CaptionInfo | None:
        with self.transaction() as s:
            return captions.mark_reviewed(s, photo, caption_id=caption_id, reviewed=reviewed)

    def set_caption_state(
        self, photo_id: int, user_text: str, model_caption_id: int | None, model_reviewed: bool
    ) -> None:
        """Put a photo's captions into one state in one transaction (an edit, or its undo).

        ``user_text`` is the person's caption ("" for none); the model caption ``model_caption_id``
        is marked reviewed or not, unless a re-caption has replaced it since (nothing to restore).
        """
        with self.transaction() as s:
            captions.set_user_caption(s, photo_id, user_text)
            if model_caption_id is not None:
                with contextlib.suppress(LibraryError):
                    captions.mark_reviewed(s, photo_id, caption_id=model_caption_id, reviewed=model_reviewed)

    def add_model_caption(
        self,
        photo_id: int,
        model_id: str,
        text: str,
        score: float | None = None,
        alternatives: Iterable[Any] = (),
        attention: bytes | np.ndarray | None = None,
        *,
        language: str = "en",
        confidence: float | None = None,
        keywords: Iterable[Any] | None = None,
        failure_model: str | None = None,
    ) -> bool:
        """Store a model caption; with ``keywords``, they replace the photo's model keywords."""
        with self.transaction() as s:
            added = captions.add_model_caption(
                s,
                photo_id,
                model_id,
                text,
                score,
                alternatives,
                attention,
                language=language,
                confidence=confidence,
                failure_model=failure_model,
            )
            if added and keywords is not None:
                kw.replace_model_keywords(s, photo_id, model_id, keywords)
            return added

    # ----------------------------------------------------------------- keywords

    def keywords(self, photo: photos.PhotoRef, *, include_removed: bool = False) -> list[KeywordInfo]:
        """A photo's keywords, a person's first, then the model's most probable first."""
        with self.session() as s:
            return kw.keywords_for(s, photo, include_removed=include_removed)

    def keywords_by_photo(self, photo_ids: Sequence[int]) -> dict[int, list[KeywordInfo]]:
        with self.session() as s:
            return kw.keywords_by_photo(s, photo_ids)

    def add_keyword(self, photo: photos.PhotoRef, word: str) -> KeywordInfo:
        """A person gives the photo a keyword (also un-removes a removed one)."""
        with self.transaction() as s:
            return kw.add_keyword(s, photo, word)

    def remove_keyword(self, photo: photos.PhotoRef, word: str) -> bool:
        """A person takes a keyword away; no model adds it back. False if the photo did not have it."""
        with self.transaction() as s:
            return kw.remove_keyword(s, photo, word)

    def active_model(self) -> str | None:
        """The id of the model whose captions photos show when no person's caption exists."""
        with self.session() as s:
            return captions.active_model(s)

    def set_active_model(self, model_id: str) -> bool:
        """Show ``model_id``'s captions (none is deleted; search follows); whether it changed."""
        with self.transaction() as s:
            return captions.set_active_model(s, model_id)

    def forget_model_captions(self, photo_ids: Iterable[int] | None, model_id: str | None = None) -> int:
        """Delete unreviewed model captions (of ``model_id``, else of all models) so they are made again."""
        with self.transaction() as s:
            return captions.forget_model_captions(s, photo_ids, model_id)

    def pending_for_model(
        self,
        model_id: str,
        limit: int = 100,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        skip_user_captioned: bool = False,
        folder: photos.FolderRef | None = None,
        exclude_ids: Collection[int] = (),
        failure_model: str | None = None,
    ) -> list[PhotoInfo]:
        with self.session() as s:
            return pending.pending_for_model(
                s,
                model_id,
                limit,
                max_attempts=max_attempts,
                skip_user_captioned=skip_user_captioned,
                folder=folder,
                exclude_ids=exclude_ids,
                failure_model=failure_model,
            )

    def count_pending(
        self,
        model_id: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        skip_user_captioned: bool = False,
        folder: photos.FolderRef | None = None,
        failure_model: str | None = None,
    ) -> int:
        with self.session() as s:
            return pending.count_pending(
                s,
                model_id,
                max_attempts=max_attempts,
                skip_user_captioned=skip_user_captioned,
                folder=folder,
                failure_model=failure_model,
            )

    # ----------------------------------------------------------------- failures and stats

    def record_failure(self, path: str | os.PathLike[str], error: str, model: str = "") -> int:
        """One more failed attempt of ``model`` ('' : model-independent) on a file; the attempt count."""
        with self.transaction() as s:
            return captions.record_failure(s, path, error, model)

    def clear_failure(self, path: str | os.PathLike[str], model: str | None = None) -> bool:
        """Forget a file's failures (only those that stop ``model`` when given)."""
        with self.transaction() as s:
            return captions.clear_failure(s, path, model)

    def list_failures(self, *, model: str | None = None, limit: int | None = None) -> list[FailureInfo]:
        """Failures, most recent first (only those that stop ``model`` when given)."""
        with self.session() as s:
            return captions.list_failures(s, model=model, limit=limit)

    def retry_failed(self, model: str | None = None) -> int:
        """Forget the failures that stop ``model`` (every model's when ``None``); returns how many files."""
        with self.transaction() as s:
            return captions.retry_failed(s, model)

    def reset_failures(self) -> int:
        with self.transaction() as s:
            return captions.reset_failures(s)

    def stats(self) -> LibraryStats:
        with self.session() as s:
            return captions.stats(s)

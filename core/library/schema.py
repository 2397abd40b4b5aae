"""ORM models of the photo library (SQLAlchemy 2 declarative style).

The tables are created by the Alembic migrations in
``photoscribe.core.library.migrations``, never by ``Base.metadata.create_all``:
the migrations also create the FTS5 index ``captions_fts`` and the triggers
that keep it in sync (see :mod:`photoscribe.core.library.search`), and the
``caption_embeddings`` table that :mod:`photoscribe.core.library.meaning` reads
and writes in SQL, which the ORM metadata does not describe.

Times are stored as naive UTC (``added_at``, ``created_at``, ``last_attempt``)
except ``taken_at``, which is the camera's local wall-clock time as EXIF gives it.

ORM objects stay inside the session that loaded them; everything that leaves
this package is converted to the frozen dataclasses of
:mod:`photoscribe.core.library.records`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class PhotoStatus(str, enum.Enum):
    """Where a photo stands; stored as its value (``photos.status``, checked by a constraint)."""

    NEW = "new"  # indexed, not captioned yet
    CAPTIONED = "captioned"
    FAILED = "failed"  # captioning failed (see the failures table)
    MISSING = "missing"  # the file is gone; its captions are kept in case it comes back


# Caption.source of the (single) caption a person wrote; any other value is a model id.
USER_SOURCE = "user"
# Caption.source prefix of a caption read from the photo's own metadata ("imported:xmp:dc:description"):
# a person's text (is_user), see core/library/metadata.py.
IMPORTED_PREFIX = "imported:"

# LibraryState.key of the model whose captions the library shows (and searches) when no person's
# caption exists (migration 0006); its value is a model id (Caption.source).
ACTIVE_MODEL_KEY = "active_model"

# Deterministic constraint names so that batch migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as naive UTC, the form every ``*_at`` column except ``taken_at`` stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Folder(Base):
    """A folder the user added to the library; its photos are deleted with it (never the files)."""

    __tablename__ = "folders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recursive: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sql_text("1"))

    photos: Mapped[list[Photo]] = relationship(back_populates="folder", passive_deletes=True)


class Photo(Base):
    """One image file, identified by its absolute normalised path; the id survives moves."""

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s.value}'" for s in PhotoStatus)),
            name="status",
        ),
        Index("ix_photos_taken_at", "taken_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("folders.id", ondelete="CASCADE"), index=True, nullable=True
    )
    path: Mapped[str] = mapped_column(Text, unique=True)
    # File name only: indexed by the full-text search so "IMG_1234" finds the file.
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    camera: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[PhotoStatus] = mapped_column(
        Enum(
            PhotoStatus,
            native_enum=False,
            create_constraint=False,  # the named CheckConstraint above, as the migrations create it
            length=16,
            values_callable=lambda statuses: [s.value for s in statuses],
        ),
        default=PhotoStatus.NEW,
        server_default=PhotoStatus.NEW.value,
        index=True,
    )
    # L2-normalised float16 pooled encoder feature (see similar.py) and the model that made it.
    feature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    feature_model: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # Size and mtime of the photo's XMP sidecars when its metadata was last read (core/library/sidecars.py):
    # a sidecar edited on its own, the photo untouched, is read again. NULL: no sidecar then.
    sidecar_stamp: Mapped[str | None] = mapped_column(Text, nullable=True)

    folder: Mapped[Folder | None] = relationship(back_populates="photos")
    captions: Mapped[list[Caption]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )


class Caption(Base):
    """A caption of one photo by one source: ``"user"`` or a model id (one caption per source)."""

    __tablename__ = "captions"
    __table_args__ = (UniqueConstraint("photo_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    is_user: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Sum of token log-probabilities of the caption (beam search score); None for user captions.
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # n-best list of the beam search: [{"text": str, "score": float | None}, ...].
    alternatives: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=sql_text("'[]'")
    )
    # Optional per-word attention maps, compressed by blobs.encode_attention().
    attention: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    language: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    # 0-1: how likely the caption names only objects in the photo (None: user caption, or unknown).
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)

    photo: Mapped[Photo] = relationship(back_populates="captions")

    @property
    def preferred(self) -> bool:
        """A person wrote or approved this caption: it wins over any model caption."""
        return bool(self.is_user or self.reviewed)


class Keyword(Base):
    """A search word of one photo (migration 0004); one row per (photo, word).

    ``source`` is ``"model:<model id>"`` (the encoder's ImageNet classifier, ``score`` its
    probability), ``"user"`` (typed by a person) or ``"imported"`` (read from a sidecar).
    ``removed`` keeps a word a person took away, so that captioning again does not bring it
    back: removed rows are not shown, searched or exported.
    """

    __tablename__ = "keywords"
    __table_args__ = (UniqueConstraint("photo_id", "word"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    word: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(210))
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Failure(Base):
    """A file that one model could not caption (or nobody could read); retried up to a limit.

    ``model`` is the id of the model that failed, or ``""`` when the failure does
    not depend on the model (the file cannot be read): a broken model never
    stops another model from captioning the photo.
    """

    __tablename__ = "failures"
    __table_args__ = (UniqueConstraint("path", "model"), Index("ix_failures_path", "path"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="", server_default="")
    photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), index=True, nullable=True
    )
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default=sql_text("1"))
    last_attempt: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LibraryState(Base):
    """A setting of the library itself, shared by every process that opens it (migration 0006).

    ``active_model`` is the id of the model the library is captioned with: its caption is the one a
    photo shows (and full-text search indexes) when no person wrote or approved one; other models'
    captions are kept, and come back when their model is active again.
    """

    __tablename__ = "library_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

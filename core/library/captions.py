"""Caption, failure and statistics operations on an open session (the queue's query is :mod:`.pending`).

Caption rules: each source (``"user"`` or a model id) captions a photo at most
once; a caption a person wrote or reviewed is *preferred* and always wins
over model captions; model captions never overwrite anything. The *best*
caption of a photo (the one it shows) is the newest preferred caption, else
the active model's caption (:func:`set_active_model`), else the newest model
caption.

Like :mod:`photoscribe.core.library.photos`, every function takes the session
(and so the transaction) from the caller and returns frozen records.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from photoscribe.core.captioning.results import LOW_CONFIDENCE
from photoscribe.core.errors import LibraryError
from photoscribe.core.library.blobs import decode_attention, encode_attention
from photoscribe.core.library.photos import (
    PhotoRef,
    find_photo,
    normalize_path,
    refresh_status,
    require_photo,
)
from photoscribe.core.library.records import (
    Alternative,
    CaptionInfo,
    FailureInfo,
    LibraryStats,
)
from photoscribe.core.library.schema import (
    ACTIVE_MODEL_KEY,
    IMPORTED_PREFIX,
    USER_SOURCE,
    Caption,
    Failure,
    Folder,
    LibraryState,
    Photo,
    PhotoStatus,
    utcnow,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
# Failure.model of a failure that does not depend on the model (a file that cannot be read).
MODEL_INDEPENDENT = ""
MAX_CAPTION_CHARS = 10_000
MAX_ALTERNATIVES = 32
MAX_ERROR_CHARS = 4_000
_CHUNK = 500  # ids per IN (...) list

# The library's active model (migration 0006), NULL when none was set.
ACTIVE_MODEL = select(LibraryState.value).where(LibraryState.key == ACTIVE_MODEL_KEY).scalar_subquery()
# Order of a photo's captions, best first: preferred (user/reviewed), then the active model's, then
# newest. So switching models shows the new model's captions once it made them, and switching back
# shows the previous model's again: no caption is deleted by a switch.
BEST_CAPTION_ORDER = (
    or_(Caption.is_user, Caption.reviewed).desc(),
    func.coalesce(Caption.source == ACTIVE_MODEL, False).desc(),
    Caption.created_at.desc(),
    Caption.id.desc(),
)


# --------------------------------------------------------------------------- captions


def captions_for(session: Session, ref: PhotoRef) -> list[CaptionInfo]:
    """All captions of a photo, best first."""
    photo = find_photo(session, ref)
    if photo is None:
        return []
    stmt = select(Caption).where(Caption.photo_id == photo.id).order_by(*BEST_CAPTION_ORDER)
    return [CaptionInfo.from_orm(c) for c in session.scalars(stmt)]


def best_caption_subquery(*where: Any) -> Any:
    """A subquery of ``captions`` rows (filtered by ``where``) with ``rn = 1`` on each photo's best one.

    Filters must go in here, not on the outer query: SQLite cannot push them
    through the window function, and would rank every caption of the library.
    """
    rn = func.row_number().over(partition_by=Caption.photo_id, order_by=BEST_CAPTION_ORDER).label("rn")
    return select(Caption, rn).where(*where).subquery("ranked_captions")


def best_captions(session: Session, photo_ids: Sequence[int]) -> dict[int, CaptionInfo]:
    """photo id -> best caption, for the photos that have one."""
    result: dict[int, CaptionInfo] = {}
    ids = list(dict.fromkeys(photo_ids))
    for start in range(0, len(ids), _CHUNK):
        ranked = best_caption_subquery(Caption.photo_id.in_(ids[start : start + _CHUNK]))
        best = aliased(Caption, ranked)
        for caption in session.scalars(select(best).where(ranked.c.rn == 1)):
            result[caption.photo_id] = CaptionInfo.from_orm(caption)
    return result


def best_caption(session: Session, ref: PhotoRef) -> CaptionInfo | None:
    """The caption to show and export: the newest user/reviewed one, else the newest model caption."""
    captions = captions_for(session, ref)
    return captions[0] if captions else None


def active_model(session: Session) -> str | None:
    """The id of the model whose captions the library shows, or None when none was set."""
    return session.scalar(select(LibraryState.value).where(LibraryState.key == ACTIVE_MODEL_KEY))


def set_active_model(session: Session, model_id: str) -> bool:
    """Show ``model_id``'s captions where no person's caption exists; whether anything changed.

    No caption is deleted: the previous model's come back when it is active again. The full-text
    index follows (triggers of migration 0006 re-derive the rows of photos either model captioned).
    """
    if not model_id or model_id == USER_SOURCE or model_id.startswith(IMPORTED_PREFIX):
        raise LibraryError(f"invalid model id {model_id!r}: it must name a model")
    if active_model(session) == model_id:
        return False
    session.execute(
        sqlite_insert(LibraryState)
        .values(key=ACTIVE_MODEL_KEY, value=model_id)
        .on_conflict_do_update(index_elements=[LibraryState.key], set_={"value": model_id})
    )
    log.info("the library now shows the captions of model %s", model_id)
    return True


def caption_attention(session: Session, caption_id: int) -> np.ndarray | None:
    """The attention maps stored with a caption (e.g. ``(T, h, w)`` float16), or ``None`` when it has none.

    Raises:
        LibraryError: the stored blob is corrupt.
    """
    blob = session.scalar(select(Caption.attention).where(Caption.id == caption_id))
    return decode_attention(blob) if blob is not None else None


def _check_text(text: str) -> str:
    cleaned = text.replace("\x00", "").strip()
    if len(cleaned) > MAX_CAPTION_CHARS:
        raise LibraryError(f"a caption may have at most {MAX_CAPTION_CHARS} characters, got {len(cleaned)}")
    return cleaned


def set_user_caption(
    session: Session, ref: PhotoRef, text: str, *, language: str = "en"
) -> CaptionInfo | None:
    """Store the caption a person wrote (reviewed, user-owned, never overwritten by models).

    An empty ``text`` removes the user caption and returns ``None``.

    Raises:
        LibraryError: the photo is unknown or the text is too long.
    """
    photo = require_photo(session, ref)
    cleaned = _check_text(text)
    caption = session.scalar(
        select(Caption).where(Caption.photo_id == photo.id, Caption.source == USER_SOURCE)
    )
    if not cleaned:
        if caption is not None:
            session.delete(caption)
            session.flush()
            refresh_status(session, photo)
            session.flush()
        return None
    if caption is None:
        caption = Caption(photo_id=photo.id, source=USER_SOURCE, alternatives=[])
        session.add(caption)
    caption.text = cleaned
    caption.is_user = True
    caption.reviewed = True
    caption.language = language
    caption.created_at = utcnow()
    if photo.status != PhotoStatus.MISSING:
        photo.status = PhotoStatus.CAPTIONED
    session.flush()
    return CaptionInfo.from_orm(caption)


def set_imported_caption(session: Session, photo_id: int, text: str, field: str) -> CaptionInfo | None:
    """Store the description read from a photo's metadata as a person's caption (source ``imported:<field>``).

    It is preferred like a caption typed here, so no model replaces it, and it replaces the
    caption imported earlier from the same photo (the file was edited since). A caption typed
    in photoscribe (source ``"user"``) wins: then nothing is stored and ``None`` is returned,
    as it is for an empty text, a photo that is gone, and the text of one of the photo's model
    captions (our own XMP export read back: a model's words do not become a person's).

    Raises:
        LibraryError: the text is longer than :data:`MAX_CAPTION_CHARS`.
    """
    cleaned = _check_text(text)
    photo = session.get(Photo, photo_id)
    if not cleaned or photo is None:
        return None
    source = IMPORTED_PREFIX + field
    everything = list(session.scalars(select(Caption).where(Caption.photo_id == photo_id)))
    if any(row.source == USER_SOURCE or (not row.is_user and row.text == cleaned) for row in everything):
        return None
    rows = [row for row in everything if row.source.startswith(IMPORTED_PREFIX)]
    kept = next((row for row in rows if row.text == cleaned and row.source == source), None)
    for row in rows:
        if row is not kept:
            session.delete(row)
    if kept is None:
        session.flush()  # the old imported caption's (photo, source) may be this one's
        kept = Caption(
            photo_id=photo_id,
            source=source,
            text=cleaned,
            is_user=True,
            reviewed=True,
            alternatives=[],
            created_at=utcnow(),
        )
        session.add(kept)
    if photo.status != PhotoStatus.MISSING:
        photo.status = PhotoStatus.CAPTIONED
    session.flush()
    return CaptionInfo.from_orm(kept)


def mark_reviewed(
    session: Session, ref: PhotoRef, *, caption_id: int | None = None, reviewed: bool = True
) -> CaptionInfo | None:
    """Approve (or un-approve) a model caption; by default the one the photo shows: the active
    model's, else its newest model caption.

    Returns the caption, or ``None`` if the photo has no model caption.

    Raises:
        LibraryError: the photo is unknown, or ``caption_id`` is not one of its captions.
    """
    photo = require_photo(session, ref)
    if caption_id is not None:
        caption = session.get(Caption, caption_id)
        if caption is None or caption.photo_id != photo.id:
            raise LibraryError(f"caption {caption_id} does not belong to photo {photo.path}")
    else:
        caption = session.scalar(
            select(Caption)
            .where(Caption.photo_id == photo.id, Caption.is_user.is_(False))
            .order_by(*BEST_CAPTION_ORDER[1:])
            .limit(1)
        )
        if caption is None:
            return None
    caption.reviewed = reviewed
    session.flush()
    return CaptionInfo.from_orm(caption)


def _clean_alternatives(alternatives: Iterable[Any]) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    for item in alternatives:
        text: Any
        score: Any
        if isinstance(item, Alternative):
            text, score = item.text, item.score
        elif isinstance(item, Mapping):
            text, score = item.get("text"), item.get("score")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            text, score = item
        else:
            raise LibraryError(f"an alternative caption must be {{'text', 'score'}}, got {item!r}")
        cleaned.append({"text": _check_text(str(text)), "score": None if score is None else float(score)})
        if len(cleaned) == MAX_ALTERNATIVES:
            break
    return cleaned


def _clean_confidence(confidence: float | None) -> float | None:
    """A confidence as stored: within 0-1, None when unknown (or not a number)."""
    if confidence is None:
        return None
    value = float(confidence)
    return None if value != value else min(1.0, max(0.0, value))


def add_model_caption(
    session: Session,
    photo_id: int,
    model_id: str,
    text: str,
    score: float | None = None,
    alternatives: Iterable[Any] = (),
    attention: bytes | np.ndarray | None = None,
    *,
    language: str = "en",
    confidence: float | None = None,
    failure_model: str | None = None,
) -> bool:
    """Record what model ``model_id`` said about a photo, with its n-best list and its confidence.

    Returns ``False`` without changing anything if this model already captioned
    the photo or the photo is gone (deleted while it was being captioned).
    Never touches user or reviewed captions; clears the photo's failures by this model
    (by ``failure_model``, the id its failures are charged to, when given) and the
    model-independent ones.

    Raises:
        LibraryError: ``model_id`` is empty or ``"user"``, or the text is empty or too long.
    """
    if not model_id or model_id == USER_SOURCE or model_id.startswith(IMPORTED_PREFIX):
        raise LibraryError(
            f"invalid model id {model_id!r}: it must be non-empty, not {USER_SOURCE!r} "
            f"and not start with {IMPORTED_PREFIX!r}"
        )
    cleaned = _check_text(text)
    if not cleaned:
        raise LibraryError(f"model {model_id} produced an empty caption for photo {photo_id}")
    photo = session.get(Photo, photo_id)
    if photo is None:
        log.info("photo %s vanished before its caption by %s was stored", photo_id, model_id)
        return False
    blob = attention if attention is None or isinstance(attention, bytes) else encode_attention(attention)
    stmt = (
        sqlite_insert(Caption)
        .values(
            photo_id=photo_id,
            source=model_id,
            text=cleaned,
            is_user=False,
            reviewed=False,
            score=None if score is None else float(score),
            alternatives=_clean_alternatives(alternatives),
            attention=blob,
            created_at=utcnow(),
            language=language,
            confidence=_clean_confidence(confidence),
        )
        .on_conflict_do_nothing(index_elements=["photo_id", "source"])
    )
    if session.execute(stmt).rowcount == 0:  # type: ignore[attr-defined]
        return False
    # This model read and captioned the file: forget its failures and the model-independent ones
    # (another model's failures stay theirs, so a broken model does not retry forever).
    session.execute(
        delete(Failure)
        .where(
            or_(Failure.photo_id == photo_id, Failure.path == photo.path),
            Failure.model.in_((failure_model or model_id, MODEL_INDEPENDENT)),
        )
        .execution_options(synchronize_session=False)
    )
    if photo.status != PhotoStatus.MISSING:
        photo.status = PhotoStatus.CAPTIONED
    session.flush()
    return True


def forget_model_captions(
    session: Session, photo_ids: Iterable[int] | None, model_id: str | None = None
) -> int:
    """Delete model captions that nobody reviewed, so that the caption queue captions the photos again.

    Args:
        photo_ids: the photos to re-caption; ``None`` for every photo of the library.
        model_id: forget only this model's captions; ``None`` for every model's.

    User and reviewed captions are never touched (they are people's work). The
    FTS index follows through its triggers; a photo left without any caption
    becomes ``new`` again (``failed`` if it has failures). Returns how many
    captions were deleted.

    Raises:
        LibraryError: ``model_id`` is empty or ``"user"``.
    """
    if model_id is not None and (not model_id or model_id == USER_SOURCE):
        raise LibraryError(f"invalid model id {model_id!r}: it must be non-empty and not {USER_SOURCE!r}")
    where: list[Any] = [Caption.is_user.is_(False), Caption.reviewed.is_(False)]
    if model_id is not None:
        where.append(Caption.source == model_id)
    if photo_ids is None:
        chunks: list[list[int] | None] = [None]
    else:
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        chunks = [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]
    deleted = 0
    for chunk in chunks:
        in_chunk = [] if chunk is None else [Caption.photo_id.in_(chunk)]
        deleted += int(
            session.execute(
                delete(Caption).where(*where, *in_chunk).execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )
        # Photos left without a caption are pending again: new, or failed if they have failures.
        uncaptioned = [
            Photo.status == PhotoStatus.CAPTIONED,
            ~exists().where(Caption.photo_id == Photo.id),
            *([] if chunk is None else [Photo.id.in_(chunk)]),
        ]
        has_failure = exists().where(Failure.path == Photo.path)
        for status, clause in ((PhotoStatus.FAILED, has_failure), (PhotoStatus.NEW, ~has_failure)):
            session.execute(
                update(Photo)
                .where(*uncaptioned, clause)
                .values(status=status)
                .execution_options(synchronize_session=False)
            )
    session.expire_all()
    log.info("forgot %d model captions (model %s)", deleted, model_id or "any")
    return deleted


# --------------------------------------------------------------------------- failures


def record_failure(
    session: Session, path: str | os.PathLike[str], error: str, model: str = MODEL_INDEPENDENT
) -> int:
    """Count one more failed attempt of ``model`` on a file (known to the library or not).

    ``model`` is the id of the model whose captioning failed, or ``""`` for a
    failure that does not depend on the model (the file cannot be read or
    indexed), which counts against every model. Returns the attempt count of
    this (file, model).
    """
    norm = normalize_path(path)
    photo = session.scalar(select(Photo).where(Photo.path == norm))
    failure = session.scalar(select(Failure).where(Failure.path == norm, Failure.model == model))
    message = (error or "unknown error")[:MAX_ERROR_CHARS]
    if failure is None:
        failure = Failure(path=norm, model=model, error=message, attempts=1, last_attempt=utcnow())
        session.add(failure)
    else:
        failure.attempts += 1
        failure.error = message
        failure.last_attempt = utcnow()
    failure.photo_id = photo.id if photo is not None else None
    session.flush()
    if photo is not None and photo.status != PhotoStatus.MISSING:
        refresh_status(session, photo)
        session.flush()
    log.debug("failure %d of %r on %s: %s", failure.attempts, model, norm, message)
    return failure.attempts


def _model_filter(model: str | None) -> list[Any]:
    """Failures that stop ``model`` (its own and the model-independent ones); all when ``None``.

    A declared model id also matches the failures charged to each of its checkpoint files
    (``ID@sha256:...``); a checkpoint's own failure id matches only that file's.
    """
    if model is None:
        return []
    return [
        or_(
            Failure.model.in_((model, MODEL_INDEPENDENT)),
            Failure.model.startswith(f"{model}@sha256:", autoescape=True),
        )
    ]


def clear_failure(session: Session, path: str | os.PathLike[str], model: str | None = None) -> bool:
    """Forget a file's failures (e.g. to retry it now). False if there were none.

    ``model`` forgets only what stops that model (its failures and the
    model-independent ones); ``None`` forgets every model's.
    """
    norm = normalize_path(path)
    deleted = session.execute(delete(Failure).where(Failure.path == norm, *_model_filter(model))).rowcount  # type: ignore[attr-defined]
    photo = session.scalar(select(Photo).where(Photo.path == norm))
    if photo is not None and photo.status == PhotoStatus.FAILED:
        refresh_status(session, photo)
    session.flush()
    return bool(deleted)


def list_failures(
    session: Session, *, model: str | None = None, limit: int | None = None
) -> list[FailureInfo]:
    """Failures, most recent first; with ``model``, only those that stop that model."""
    stmt = (
        select(Failure).where(*_model_filter(model)).order_by(Failure.last_attempt.desc(), Failure.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(max(0, limit))
    return [FailureInfo.from_orm(f) for f in session.scalars(stmt)]


def retry_failed(session: Session, model: str | None = None) -> int:
    """Forget failures so that the caption queue tries those files again; returns how many files.

    ``model`` resets only what stops that model (its own failures and the
    model-independent ones); ``None`` resets every model's. Photos left without
    failures become ``new`` again (``captioned`` if another model captioned them).
    """
    where = _model_filter(model)
    paths = list(session.scalars(select(Failure.path).where(*where).distinct()))
    session.execute(delete(Failure).where(*where).execution_options(synchronize_session=False))
    has_failure = exists().where(Failure.path == Photo.path)
    has_caption = exists().where(Caption.photo_id == Photo.id)
    for status, clause in ((PhotoStatus.CAPTIONED, has_caption), (PhotoStatus.NEW, ~has_caption)):
        session.execute(
            update(Photo)
            .where(Photo.status == PhotoStatus.FAILED, ~has_failure, clause)
            .values(status=status)
            .execution_options(synchronize_session=False)
        )
    session.expire_all()
    log.info("reset the failures of %d files (model %s)", len(paths), model or "any")
    return len(paths)


def reset_failures(session: Session) -> int:
    """Forget every failure so that all files are retried; returns how many were forgotten."""
    count = session.execute(delete(Failure)).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(Photo)
        .where(Photo.status == PhotoStatus.FAILED)
        .values(status=PhotoStatus.NEW)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return int(count or 0)


# --------------------------------------------------------------------------- stats


def stats(session: Session) -> LibraryStats:
    """Counts for a status bar (missing photos are only counted in ``missing``)."""
    present = Photo.status != PhotoStatus.MISSING
    has_caption = exists().where(Caption.photo_id == Photo.id)
    has_preferred = exists().where(Caption.photo_id == Photo.id, or_(Caption.is_user, Caption.reviewed))

    def count(*where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(Photo).where(*where)) or 0)

    photos = count(present)
    captioned = count(present, has_caption)
    low = exists().where(Caption.photo_id == Photo.id, Caption.confidence < LOW_CONFIDENCE, ~has_preferred)
    return LibraryStats(
        photos=photos,
        captioned=captioned,
        uncaptioned=photos - captioned,
        needs_review=count(present, has_caption, ~has_preferred),
        # Files with failures (a file two models failed on counts once).
        failures=int(session.scalar(select(func.count(func.distinct(Failure.path)))) or 0),
        missing=count(Photo.status == PhotoStatus.MISSING),
        folders=int(session.scalar(select(func.count()).select_from(Folder)) or 0),
        low_confidence=count(present, low),
    )

"""Which photos the captioning queue gives a model next: present, not captioned by it, not failed too often.

The queue *is* the database: :func:`pending_for_model` asks it again for each batch, so a photo
added, captioned elsewhere or forgiven (:func:`~photoscribe.core.library.captions.retry_failed`)
is seen at once.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from photoscribe.core.library.captions import DEFAULT_MAX_ATTEMPTS, MODEL_INDEPENDENT
from photoscribe.core.library.photos import FolderRef, filter_folder
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.schema import Caption, Failure, Photo, PhotoStatus


def failed_for(model_id: str, max_attempts: int) -> Any:
    """A clause true for a photo that ``model_id`` should no longer try.

    Failures count per (file, model): those of ``model_id`` plus the
    model-independent ones (``model = ''``: the file could not be read, or the
    failure dates from before failures were kept per model) reach
    ``max_attempts``. Another model's failures never count, so a broken model
    never stops a good one.
    """
    attempts = (
        select(func.coalesce(func.sum(Failure.attempts), 0))
        .where(Failure.path == Photo.path, Failure.model.in_((model_id, MODEL_INDEPENDENT)))
        .correlate(Photo)
        .scalar_subquery()
    )
    return attempts >= max_attempts


def pending_stmt(
    model_id: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    skip_user_captioned: bool = False,
    folder: FolderRef | None = None,
    failure_model: str | None = None,
) -> Select[Any]:
    """Photos present on disk, not yet captioned by ``model_id``, not failed ``max_attempts`` times by it.

    ``failure_model`` is the id the model's failures are charged to when that is not
    ``model_id`` (a checkpoint's id with its content hash: a damaged copy that declares the
    same ``model_id`` is charged under another one).
    """
    done = exists().where(Caption.photo_id == Photo.id, Caption.source == model_id)
    stmt = select(Photo).where(
        Photo.status != PhotoStatus.MISSING, ~done, ~failed_for(failure_model or model_id, max_attempts)
    )
    if skip_user_captioned:
        stmt = stmt.where(
            ~exists().where(Caption.photo_id == Photo.id, or_(Caption.is_user, Caption.reviewed))
        )
    return filter_folder(stmt, folder)


def pending_for_model(
    session: Session,
    model_id: str,
    limit: int = 100,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    skip_user_captioned: bool = False,
    folder: FolderRef | None = None,
    exclude_ids: Collection[int] = (),
    failure_model: str | None = None,
) -> list[PhotoInfo]:
    """The next ``limit`` photos the captioning queue should give to ``model_id`` (oldest first).

    ``exclude_ids`` leaves out photos already in flight.
    """
    stmt = pending_stmt(
        model_id,
        max_attempts=max_attempts,
        skip_user_captioned=skip_user_captioned,
        folder=folder,
        failure_model=failure_model,
    )
    if exclude_ids:
        stmt = stmt.where(Photo.id.not_in(list(exclude_ids)))
    stmt = stmt.order_by(Photo.id).limit(max(0, limit))
    return [PhotoInfo.from_orm(p) for p in session.scalars(stmt)]


def count_pending(
    session: Session,
    model_id: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    skip_user_captioned: bool = False,
    folder: FolderRef | None = None,
    failure_model: str | None = None,
) -> int:
    """How many photos :func:`pending_for_model` would return without a limit (a progress total)."""
    stmt = pending_stmt(
        model_id,
        max_attempts=max_attempts,
        skip_user_captioned=skip_user_captioned,
        folder=folder,
        failure_model=failure_model,
    )
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

""" "More like this": cosine similarity between pooled encoder features.

Each photo may store one feature: the encoder's pooled output, L2-normalised
and kept as float16 (1 KiB for 512 dimensions), tagged with the model that
made it, written by the captioning step with the caption
(:func:`~photoscribe.core.library.queue.store_feature`). Only features of the same ``feature_model`` are compared. The
search is a brute-force matrix product over all stored features, streamed in
blocks, which takes well under a second up to about 100k photos.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.blobs import decode_feature
from photoscribe.core.library.photos import PhotoRef, find_photo
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.schema import Photo, PhotoStatus

if TYPE_CHECKING:
    from photoscribe.core.library.database import Library

log = logging.getLogger(__name__)

_BLOCK = 8192  # features scored per matrix product


def _top_k(
    session: Session, query: np.ndarray, feature_model: str, k: int, exclude_id: int | None
) -> list[tuple[int, float]]:
    stmt = select(Photo.id, Photo.feature).where(
        Photo.feature_model == feature_model, Photo.feature.is_not(None), Photo.status != PhotoStatus.MISSING
    )
    if exclude_id is not None:
        stmt = stmt.where(Photo.id != exclude_id)
    expected = query.size * 2
    best_ids = np.empty(0, dtype=np.int64)
    best_scores = np.empty(0, dtype=np.float32)
    for block in session.execute(stmt.execution_options(yield_per=_BLOCK)).partitions():
        rows = [(row.id, row.feature) for row in block if len(row.feature) == expected]
        if len(rows) != len(block):
            log.warning(
                "skipping %d features of another size for model %s", len(block) - len(rows), feature_model
            )
        if not rows:
            continue
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f2").reshape(len(rows), query.size)
        scores = matrix.astype(np.float32) @ query  # (N,) cosine: both sides are unit vectors
        best_ids = np.concatenate([best_ids, ids])
        best_scores = np.concatenate([best_scores, scores])
        if best_scores.size > k:
            keep = np.argpartition(-best_scores, k - 1)[:k]
            best_ids, best_scores = best_ids[keep], best_scores[keep]
    order = np.lexsort((best_ids, -best_scores))
    return [(int(best_ids[i]), float(best_scores[i])) for i in order]


def _with_photos(session: Session, ranked: list[tuple[int, float]]) -> list[tuple[PhotoInfo, float]]:
    stmt = select(Photo).where(Photo.id.in_([photo_id for photo_id, _ in ranked]))
    photos = {p.id: PhotoInfo.from_orm(p) for p in session.scalars(stmt)}
    return [(photos[i], score) for i, score in ranked if i in photos]


def similar(library: Library, photo_id: PhotoRef, k: int = 12) -> list[tuple[PhotoInfo, float]]:
    """The ``k`` photos most similar to ``photo_id`` (cosine, highest first), itself excluded.

    Empty when the photo has no feature yet.

    Raises:
        LibraryError: the photo is not in the library.
    """
    if k <= 0:
        return []
    with library.session() as session:
        photo = find_photo(session, photo_id)
        if photo is None:
            raise LibraryError(f"no photo {photo_id!r} in the library")
        if photo.feature is None or photo.feature_model is None:
            return []
        query = decode_feature(photo.feature)
        ranked = _top_k(session, query, photo.feature_model, k, photo.id)
        return _with_photos(session, ranked)

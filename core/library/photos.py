"""Folder and photo operations on an open session.

Every function takes a :class:`~sqlalchemy.orm.Session` so that callers choose
the transaction: a scanner can upsert thousands of files in one
``with library.transaction() as s:`` block, while :class:`Library` offers the
same operations as one-transaction methods. Functions return frozen records
(:mod:`photoscribe.core.library.records`), never ORM objects. Captions,
the captioning queue and failures are in :mod:`photoscribe.core.library.captions`.

Paths are stored absolute and normalised (``os.path.normpath``), without
resolving symlinks, so the path a user sees is the path that is stored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from sqlalchemy import Select, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.records import FileStamp, FolderInfo, FolderRef, PhotoInfo, PhotoRef
from photoscribe.core.library.schema import (
    Caption,
    Failure,
    Folder,
    Photo,
    PhotoStatus,
    utcnow,
)

log = logging.getLogger(__name__)

SelectT = TypeVar("SelectT", bound=Select)  # any select, whatever it returns


# --------------------------------------------------------------------------- paths and lookups


def normalize_path(path: str | os.PathLike[str]) -> str:
    """The absolute, normalised form under which a file is stored (symlinks are not resolved).

    Raises:
        LibraryError: the path is empty or contains a NUL character.
    """
    raw = os.fspath(path)
    if not raw or "\x00" in raw:
        raise LibraryError(f"invalid file path {raw!r}")
    return os.path.normpath(os.path.abspath(os.path.expanduser(raw)))


def _dir_prefix(directory: str) -> str:
    return directory if directory.endswith(os.sep) else directory + os.sep


def is_under(path: str, directory: str, *, recursive: bool = True) -> bool:
    """Whether the normalised ``path`` lies in ``directory`` (directly, or at any depth if recursive)."""
    if not path.startswith(_dir_prefix(directory)):
        return False
    return recursive or os.path.dirname(path) == directory


def _under_clause(column: Any, directory: str) -> Any:
    prefix = _dir_prefix(directory)
    return func.substr(column, 1, len(prefix)) == prefix


def _storable(path: str) -> bool:
    """Whether ``path`` can be a library key: names are stored as UTF-8 (not its raw bytes)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_photo(session: Session, ref: PhotoRef) -> Photo | None:
    if isinstance(ref, int):
        return session.get(Photo, ref)
    norm = normalize_path(ref)
    return session.scalar(select(Photo).where(Photo.path == norm)) if _storable(norm) else None


def require_photo(session: Session, ref: PhotoRef) -> Photo:
    photo = find_photo(session, ref)
    if photo is None:
        raise LibraryError(f"no photo {ref!r} in the library; add its folder or scan it first")
    return photo


def _folder_by_ref(session: Session, ref: FolderRef) -> Folder | None:
    if isinstance(ref, int):
        return session.get(Folder, ref)
    norm = normalize_path(ref)
    return session.scalar(select(Folder).where(Folder.path == norm)) if _storable(norm) else None


def _folder_for(folders: Iterable[Folder], path: str) -> Folder | None:
    """The deepest registered folder that contains ``path``."""
    best: Folder | None = None
    for folder in folders:
        if is_under(path, folder.path, recursive=folder.recursive) and (
            best is None or len(folder.path) > len(best.path)
        ):
            best = folder
    return best


def refresh_status(session: Session, photo: Photo) -> None:
    """Derive a present photo's status from its captions and failures."""
    if session.scalar(select(exists().where(Caption.photo_id == photo.id))):
        photo.status = PhotoStatus.CAPTIONED
    elif session.scalar(select(exists().where(Failure.path == photo.path))):
        photo.status = PhotoStatus.FAILED
    else:
        photo.status = PhotoStatus.NEW


# --------------------------------------------------------------------------- folders


def add_folder_record(
    session: Session, path: str | os.PathLike[str], *, recursive: bool = True
) -> FolderInfo:
    """Register a folder (idempotent; updates ``recursive``). Photos already known under it move to it."""
    norm = normalize_path(path)
    folder = session.scalar(select(Folder).where(Folder.path == norm))
    if folder is None:
        folder = Folder(path=norm, recursive=recursive, added_at=utcnow())
        session.add(folder)
    else:
        folder.recursive = recursive
    session.flush()
    folders = list(session.scalars(select(Folder)))
    for photo in session.scalars(select(Photo).where(_under_clause(Photo.path, norm))):
        owner = _folder_for(folders, photo.path)
        photo.folder_id = owner.id if owner is not None else None
    session.flush()
    return FolderInfo.from_orm(folder)


def list_folders(session: Session) -> list[FolderInfo]:
    return [FolderInfo.from_orm(f) for f in session.scalars(select(Folder).order_by(Folder.path))]


def get_folder(session: Session, ref: FolderRef) -> FolderInfo | None:
    folder = _folder_by_ref(session, ref)
    return FolderInfo.from_orm(folder) if folder is not None else None


def remove_folder(session: Session, ref: FolderRef) -> int:
    """Forget a folder and its photos (with their captions); files on disk are never touched.

    Photos that another registered folder still covers are handed to that
    folder instead of being forgotten. Returns how many photos were removed.

    Raises:
        LibraryError: the folder is not in the library.
    """
    folder = _folder_by_ref(session, ref)
    if folder is None:
        raise LibraryError(f"folder {ref!r} is not in the library; `library status` lists the folders")
    others = list(session.scalars(select(Folder).where(Folder.id != folder.id)))
    removed = 0
    for photo in session.scalars(select(Photo).where(Photo.folder_id == folder.id)):
        owner = _folder_for(others, photo.path)
        if owner is not None:
            photo.folder_id = owner.id
        else:
            removed += 1
    session.flush()
    # ON DELETE CASCADE removes the remaining photos, their captions and failures (and FTS rows).
    session.execute(delete(Folder).where(Folder.id == folder.id))
    session.expire_all()
    log.info("removed folder %s (%d photos forgotten)", folder.path, removed)
    return removed


# --------------------------------------------------------------------------- photos


class PhotoMetadata(TypedDict, total=False):
    """What a scan reads of a photo besides its size and time (keyword arguments of :func:`upsert_photo`)."""

    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: datetime | None
    camera: str | None


def upsert_photo(
    session: Session,
    path: str | os.PathLike[str],
    size: int,
    mtime: float,
    *,
    content_hash: str | None = None,
    width: int | None = None,
    height: int | None = None,
    taken_at: datetime | None = None,
    camera: str | None = None,
    folder_id: int | None = None,
) -> PhotoInfo:
    """Insert a photo or refresh it from the file's stats; the id and captions survive.

    ``folder_id`` defaults to the deepest registered folder containing the
    file. Metadata arguments left ``None`` keep what is stored. If the file
    changed (size or mtime differ and ``content_hash`` does not prove the
    content is the same) its model captions that nobody reviewed, its feature
    and its failures are dropped so that it is captioned again; user and
    reviewed captions are kept. A missing photo that reappears becomes present.
    """
    norm = normalize_path(path)
    if folder_id is None:
        owner = _folder_for(session.scalars(select(Folder)), norm)
        folder_id = owner.id if owner is not None else None
    photo = session.scalar(select(Photo).where(Photo.path == norm))
    if photo is None:
        photo = Photo(
            path=norm,
            name=os.path.basename(norm),
            folder_id=folder_id,
            size=int(size),
            mtime=float(mtime),
            content_hash=content_hash,
            width=width,
            height=height,
            taken_at=taken_at,
            camera=camera,
            added_at=utcnow(),
            status=PhotoStatus.NEW,
        )
        session.add(photo)
        session.flush()
        linked = session.execute(
            update(Failure)
            .where(Failure.path == norm)
            .values(photo_id=photo.id)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if linked:  # it failed before it was added (e.g. unreadable during a scan)
            photo.status = PhotoStatus.FAILED
            session.flush()
        return PhotoInfo.from_orm(photo)

    stats_changed = photo.size != int(size) or photo.mtime != float(mtime)
    hash_changed = content_hash is not None and content_hash != photo.content_hash
    same_content = content_hash is not None and content_hash == photo.content_hash
    invalidated = (stats_changed and not same_content) or (hash_changed and photo.content_hash is not None)
    if invalidated:
        _invalidate_content(session, photo)
    photo.size = int(size)
    photo.mtime = float(mtime)
    if content_hash is not None:
        photo.content_hash = content_hash
    _set_metadata(photo, width=width, height=height, taken_at=taken_at, camera=camera)
    photo.folder_id = folder_id
    if invalidated or photo.status == PhotoStatus.MISSING:
        refresh_status(session, photo)
    session.flush()
    return PhotoInfo.from_orm(photo)


def _invalidate_content(session: Session, photo: Photo) -> None:
    """The file's pixels changed: forget what was derived from the old ones (but not people's work)."""
    log.info("%s changed on disk; dropping its unreviewed model captions", photo.path)
    session.execute(
        delete(Caption).where(
            Caption.photo_id == photo.id, Caption.is_user.is_(False), Caption.reviewed.is_(False)
        )
    )
    session.execute(
        delete(Failure)
        .where(or_(Failure.photo_id == photo.id, Failure.path == photo.path))
        .execution_options(synchronize_session=False)
    )
    photo.content_hash = None
    photo.feature = None
    photo.feature_model = None
    photo.width = photo.height = None
    photo.status = PhotoStatus.NEW


def _set_metadata(
    photo: Photo,
    *,
    width: int | None,
    height: int | None,
    taken_at: datetime | None,
    camera: str | None,
) -> None:
    if width is not None:
        photo.width = int(width)
    if height is not None:
        photo.height = int(height)
    if taken_at is not None:
        photo.taken_at = taken_at
    if camera is not None:
        photo.camera = camera


def get_photo(session: Session, ref: PhotoRef) -> PhotoInfo | None:
    """A photo by id or path."""
    photo = find_photo(session, ref)
    return PhotoInfo.from_orm(photo) if photo is not None else None


def get_photos(session: Session, photo_ids: Iterable[int]) -> list[PhotoInfo]:
    """The photos with these ids, in id order; unknown ids are left out."""
    ids = list(dict.fromkeys(int(i) for i in photo_ids))
    found: list[PhotoInfo] = []
    for start in range(0, len(ids), 500):  # ids per IN (...) list
        stmt = select(Photo).where(Photo.id.in_(ids[start : start + 500]))
        found.extend(PhotoInfo.from_orm(p) for p in session.scalars(stmt))
    return sorted(found, key=lambda p: p.id)


def list_photos(
    session: Session,
    *,
    folder: FolderRef | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[PhotoInfo]:
    """Photos ordered by path, optionally under a folder (id or path, recursive) or with a status."""
    stmt = select(Photo).order_by(Photo.path).offset(max(0, offset))
    stmt = filter_folder(stmt, folder)
    if status is not None:
        stmt = stmt.where(Photo.status == status)
    if limit is not None:
        stmt = stmt.limit(max(0, limit))
    return [PhotoInfo.from_orm(p) for p in session.scalars(stmt)]


def filter_folder(stmt: SelectT, folder: FolderRef | None) -> SelectT:
    if folder is None:
        return stmt
    if isinstance(folder, int):
        return stmt.where(Photo.folder_id == folder)
    return stmt.where(_under_clause(Photo.path, normalize_path(folder)))


def folder_counts(session: Session) -> dict[int, int]:
    """Folder id -> how many of its photos are present (missing photos are not counted)."""
    stmt = (
        select(Photo.folder_id, func.count())
        .where(Photo.status != PhotoStatus.MISSING, Photo.folder_id.is_not(None))
        .group_by(Photo.folder_id)
    )
    return {int(folder_id): int(count) for folder_id, count in session.execute(stmt) if folder_id is not None}


def count_added_since(session: Session, since: datetime) -> int:
    """How many present photos were added to the library at or after ``since`` (naive UTC)."""
    stmt = (
        select(func.count())
        .select_from(Photo)
        .where(Photo.status != PhotoStatus.MISSING, Photo.added_at >= since)
    )
    return int(session.scalar(stmt) or 0)


def known_files(session: Session, folder: FolderRef | None = None) -> dict[str, FileStamp]:
    """Path -> stored stats of every photo (under ``folder``), for a scanner's change detection."""
    stmt = filter_folder(
        select(Photo.path, Photo.id, Photo.size, Photo.mtime, Photo.content_hash, Photo.status), folder
    )
    return {
        row.path: FileStamp(row.id, row.size, row.mtime, row.content_hash, row.status)
        for row in session.execute(stmt)
    }


def move_photo(
    session: Session, old: str | os.PathLike[str], new: str | os.PathLike[str]
) -> PhotoInfo | None:
    """Record that a file was renamed or moved; its id, captions and feature go with it.

    Returns ``None`` when ``old`` is not in the library (then upsert ``new``).
    If ``new`` is already a separate row (a scanner saw the new file first),
    that row is replaced by the moved photo, keeping any of its captions from
    sources the moved photo lacks.
    """
    old_n, new_n = normalize_path(old), normalize_path(new)
    photo = session.scalar(select(Photo).where(Photo.path == old_n))
    if photo is None:
        return None
    if old_n == new_n:
        return PhotoInfo.from_orm(photo)
    target_id = session.scalar(select(Photo.id).where(Photo.path == new_n))
    if target_id is not None:
        own_sources = select(Caption.source).where(Caption.photo_id == photo.id)
        session.execute(
            update(Caption)
            .where(Caption.photo_id == target_id, Caption.source.not_in(own_sources))
            .values(photo_id=photo.id)
        )
        session.execute(delete(Photo).where(Photo.id == target_id))
    session.execute(delete(Failure).where(Failure.path == new_n))
    session.execute(update(Failure).where(Failure.path == old_n).values(path=new_n, photo_id=photo.id))
    owner = _folder_for(session.scalars(select(Folder)), new_n)
    photo.path = new_n
    photo.name = os.path.basename(new_n)
    photo.folder_id = owner.id if owner is not None else None
    session.flush()
    refresh_status(session, photo)
    session.flush()
    return PhotoInfo.from_orm(photo)


def move_directory(session: Session, old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str]) -> int:
    """Record that a directory was renamed or moved: re-path every photo (and folder record) under it."""
    old_n, new_n = normalize_path(old_dir), normalize_path(new_dir)
    if old_n == new_n:
        return 0
    for folder in session.scalars(
        select(Folder).where(or_(Folder.path == old_n, _under_clause(Folder.path, old_n)))
    ):
        renamed = new_n + folder.path[len(old_n) :]
        if session.scalar(select(Folder.id).where(Folder.path == renamed)) is None:
            folder.path = renamed
    session.flush()
    paths = list(session.scalars(select(Photo.path).where(_under_clause(Photo.path, old_n))))
    for path in paths:
        move_photo(session, path, new_n + path[len(old_n) :])
    return len(paths)


def mark_missing(session: Session, ref: PhotoRef) -> bool:
    """Flag a photo whose file disappeared (kept with its captions in case it comes back)."""
    photo = find_photo(session, ref)
    if photo is None:
        return False
    photo.status = PhotoStatus.MISSING
    session.flush()
    return True


def delete_photo(session: Session, ref: PhotoRef) -> bool:
    """Forget a photo and its captions (the file is never touched). False if it was not there."""
    photo = find_photo(session, ref)
    if photo is None:
        return False
    session.execute(delete(Photo).where(Photo.id == photo.id))
    session.expire_all()
    return True

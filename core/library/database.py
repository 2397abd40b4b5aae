"""Opening, configuring and migrating the library's SQLite database.

Concurrency model: every thread opens its own :class:`~sqlalchemy.orm.Session`
from the shared engine (the pool hands each one its own SQLite connection).
The database runs in WAL mode so readers never wait for a writer. Read
sessions begin ``DEFERRED``; write transactions (:meth:`Library.transaction`)
begin ``IMMEDIATE``, taking the write lock up front, so a writer waits its
turn (``busy_timeout``) instead of failing half-way with "database is locked"
when another connection got the lock first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from photoscribe.core.errors import DiskFullError, LibraryError, LibraryReadOnlyError, disk_full_cause

if TYPE_CHECKING:  # Alembic is imported only when a library must be created or migrated
    from typing import Unpack

    from alembic.config import Config
from photoscribe.core.library import captions as caps
from photoscribe.core.library import keywords as kw
from photoscribe.core.library import photos as ops
from photoscribe.core.library.integrity import (
    LibraryDamagedError,
    damage_cause,
    ensure_sound,
    no_room,
    read_only_uri,
)
from photoscribe.core.library.records import (
    CaptionInfo,
    FailureInfo,
    FileStamp,
    FolderInfo,
    KeywordInfo,
    LibraryStats,
    PhotoInfo,
)
from photoscribe.core.paths import default_library_path, printable

log = logging.getLogger(__name__)


class PhotoMetadata(TypedDict, total=False):
    """What a scan reads of a photo besides its size and time (keyword arguments of ``upsert_photo``)."""

    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: datetime | None
    camera: str | None


BUSY_TIMEOUT_MS = 30_000
# Page cache per connection, in KiB (SQLite's default is 2 MiB): a search at a million photos reads
# tens of MiB of index and tables, and each pooled connection keeps its pages warm between keystrokes.
CACHE_SIZE_KIB = 64 * 1024
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option read by the "begin" hook: which BEGIN a transaction starts with.
_BEGIN_OPTION = "photoscribe_sqlite_begin"
_BEGIN_MODES = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE"}
_REQUIRED_TABLES = {"folders", "photos", "captions", "failures", "captions_fts"}


def read_only_reason(path: str | os.PathLike[str]) -> str | None:
    """Why the library file ``path`` cannot be written (a read-only mount, file or folder), or None.

    SQLite writes beside the file too (``-wal``, ``-shm``, journals), so a read-only folder makes a
    read-only library. As root, permission bits do not stop writes and only a read-only mount counts.
    """
    db_path = Path(path)
    folder = db_path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        return None  # the folder is not there yet: it will be created
    if db_path.exists() and not os.access(db_path, os.W_OK):
        return "the file is read-only"
    if not os.access(folder, os.W_OK):
        return "its folder is read-only"
    return None


def _make_engine(db_path: Path, read_only: str | None) -> Engine:
    if read_only is None:
        url = URL.create("sqlite+pysqlite", database=str(db_path.absolute()))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
    else:
        uri = read_only_uri(db_path)
        engine = create_engine(
            "sqlite+pysqlite://",
            creator=lambda: sqlite3.connect(
                uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            ),
        )
    event.listen(engine, "connect", _on_connect_read_only if read_only is not None else _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def open_engine(path: str | os.PathLike[str], *, read_only: str | None = None) -> Engine:
    """An engine on the SQLite file ``path`` (created with its folder if needed), tuned for threads.

    Every new connection gets ``journal_mode=WAL``, ``foreign_keys=ON``,
    ``busy_timeout=30000``, ``synchronous=NORMAL`` and a 64 MiB page cache. Transactions begin
    ``DEFERRED`` unless the connection carries the execution option set by
    :func:`write_engine`, in which case they begin ``IMMEDIATE``.

    A library that cannot be written (:func:`read_only_reason`, or ``read_only`` given: why) is opened
    read-only (``mode=ro``): nothing is written to it, not even the WAL; :func:`engine_read_only`
    tells why afterwards.

    Raises:
        LibraryError: the folder cannot be created or the file cannot be opened as SQLite.
        LibraryDamagedError: the file is damaged.
        DiskFullError: a new library cannot be created on a full disk.
    """
    db_path = Path(path).expanduser()
    if str(path) == ":memory:" or not str(path):
        raise LibraryError("the library needs a database file path (in-memory SQLite cannot use WAL)")
    if read_only is None:
        read_only = read_only_reason(db_path)
    if read_only is not None and not db_path.exists():
        raise LibraryReadOnlyError(
            f"cannot create the library {printable(db_path)}: {read_only}; choose a library file in a "
            "folder you can write to"
        )
    if read_only is None:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot create the library folder {db_path.parent}: {exc}") from exc
    existed = db_path.exists() and db_path.stat().st_size > 0
    engine = _make_engine(db_path, read_only)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()
    except SQLAlchemyError as exc:
        engine.dispose()
        orig = getattr(exc, "orig", None)
        cause = orig if isinstance(orig, BaseException) else exc
        if disk_full_cause(exc) is not None or (existed and _no_room(db_path, cause)):
            if existed and read_only is None:  # what is there can still be read
                return open_engine(db_path, read_only=DISK_FULL_REASON)
            raise DiskFullError(
                f"cannot create the library {printable(db_path)}: the disk is full; free some space and "
                "run the command again"
            ) from exc
        if damage_cause(exc) is not None:
            if not _looks_like_sqlite(db_path):
                raise LibraryError(
                    f"{printable(db_path)} is not a photoscribe library (not a SQLite file); choose another "
                    "library file"
                ) from exc
            raise LibraryDamagedError(db_path, str(cause)) from exc
        if read_only is None and existed and _is_write_refusal(cause):
            return open_engine(db_path, read_only=f"SQLite cannot write to it ({cause})")
        raise LibraryError(
            f"{printable(db_path)} cannot be opened as a library ({cause}); check that it is a photoscribe "
            "library file and that you may read it"
        ) from exc
    if read_only is not None:
        _READ_ONLY[engine] = read_only
    return engine


# Why an engine of open_engine cannot write (engines that can are not in it).
_READ_ONLY: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_SQLITE_MAGIC = b"SQLite format 3\0"


def engine_read_only(engine: Engine) -> str | None:
    """Why the engine opened by :func:`open_engine` cannot write, or None when it can."""
    return _READ_ONLY.get(engine)


DISK_FULL_REASON = "the disk is full"


def _no_room(db_path: Path, exc: BaseException) -> bool:
    """SQLite could not make its WAL index beside the file because the disk is full."""
    return getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR") and no_room(db_path.parent)


def _looks_like_sqlite(db_path: Path) -> bool:
    try:
        with db_path.open("rb") as f:
            return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _is_write_refusal(exc: BaseException) -> bool:
    """SQLite could not write (or create its WAL files) beside a file it could read."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or "readonly" in str(exc)


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) whose transactions begin IMMEDIATE: use it for all writes."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _on_connect(dbapi_connection: sqlite3.Connection, connection_record: Any) -> None:
    # Take transaction control away from pysqlite so that _on_begin decides how BEGIN is issued.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            # e.g. a network file system: still correct, but readers then wait for writers.
            log.warning("SQLite refused WAL mode (journal_mode=%s); concurrency will be reduced", mode)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
    finally:
        cursor.close()


def _on_connect_read_only(dbapi_connection: sqlite3.Connection, connection_record: Any) -> None:
    # As _on_connect, without asking for WAL mode (a write) or NORMAL sync (for writes only).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(_BEGIN_MODES.get(mode, "BEGIN DEFERRED"))


# The newest migration in migrations/versions (a test checks it against Alembic's head). A library
# already at this revision opens without importing Alembic (a third of a second of every command).
SCHEMA_HEAD = "0006"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest migration this version of photoscribe knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or ``None`` for an empty file."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    A fresh file is upgraded from scratch. A database that already has every
    table but no Alembic version (made by an old development build) is
    stamped. Migrations run in one IMMEDIATE transaction, so two processes
    opening the same new library do not both create it.

    Raises:
        LibraryError: the database was made by a newer photoscribe, is not a
            photoscribe library, or a migration failed.
    """
    if _recorded_revision(engine) == SCHEMA_HEAD:
        return
    from alembic.util.exc import CommandError

    head = head_revision()
    with write_engine(engine).connect() as conn:
        # Foreign keys off while tables may be copied by batch migrations (a no-op in a transaction).
        conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                # The check reads every reference (~50 ms per 100,000 photos): only after a migration.
                upgraded = _migrate_locked(conn, head)
                problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if upgraded else []
                if problems:
                    raise LibraryError(
                        f"the library migration left {len(problems)} broken references; "
                        "restore a backup of the library file"
                    )
        except CommandError as exc:
            raise LibraryError(
                f"the library database cannot be migrated ({exc}); it may have been made by a newer "
                "photoscribe: upgrade photoscribe or open another library file"
            ) from exc
        except SQLAlchemyError as exc:
            _raise_plainly(exc, Path(engine.url.database or ""))
            raise LibraryError(
                f"migrating the library database failed: {getattr(exc, 'orig', None) or exc}"
            ) from exc
        finally:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def _raise_plainly(exc: BaseException, db_path: Path) -> None:
    """Raise the one-sentence error for a full disk or a damaged file behind ``exc``; else return."""
    if disk_full_cause(exc) is not None:
        raise DiskFullError(
            f"the library {printable(db_path)} cannot be created or upgraded: the disk is full; free some "
            "space and run the command again (the library is unchanged)"
        ) from exc
    damage = damage_cause(exc)
    if damage is not None:
        raise LibraryDamagedError(db_path, str(damage)) from exc


def _recorded_revision(engine: Engine) -> str | None:
    """The schema revision stored in the file, read with one query (None if there is none yet)."""
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchone()
    except SQLAlchemyError:  # no such table: a new or unversioned file, which migrate() handles
        return None
    return str(row[0]) if row else None


def _migrate_locked(conn: Connection, head: str | None) -> bool:
    """Upgrade or stamp the database; True when migrations ran (tables may have been rebuilt)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(conn).get_current_revision()
    cfg = alembic_config(conn)
    if current == head:
        return False
    if current is None:
        tables = set(inspect(conn).get_table_names())
        tables.discard("alembic_version")
        if tables >= _REQUIRED_TABLES:
            log.info("stamping an unversioned library database at %s", head)
            command.stamp(cfg, "head")
            return False
        if tables & _REQUIRED_TABLES:
            raise LibraryError(
                f"the database has some library tables ({', '.join(sorted(tables & _REQUIRED_TABLES))}) "
                "but not all, and no schema version; it is not a photoscribe library or it is damaged"
            )
    if current is not None and current != head:
        from alembic.script import ScriptDirectory

        ScriptDirectory.from_config(cfg).get_revision(current)  # CommandError when made by a newer release
        _back_up(conn, current)
    log.info("migrating library database from %s to %s", current or "empty", head)
    command.upgrade(cfg, "head")
    return True


def read_only_message(path: str | os.PathLike[str], reason: str) -> str:
    """The one sentence for a write refused on a read-only library."""
    return (
        f"the library {printable(Path(path))} is open read-only because {reason}, so it cannot be changed; "
        "it can still be browsed, searched and exported to another folder ("
        + ("free some space" if reason == DISK_FULL_REASON else "make it and its folder writable")
        + " and run the command again to change it)"
    )


def _check_readable_schema(engine: Engine, db_path: Path, reason: str) -> None:
    """A read-only library must already be at this release's schema: it cannot be migrated."""
    revision = _recorded_revision(engine)
    if revision == SCHEMA_HEAD:
        return
    if revision is None:
        raise LibraryReadOnlyError(
            f"{printable(db_path)} is not a photoscribe library yet and {reason}, so it cannot be made one; "
            "choose a library file in a folder you can write to"
        )
    raise LibraryReadOnlyError(
        f"the library {printable(db_path)} was made by another photoscribe release (schema {revision}) and "
        f"{reason}, so it cannot be upgraded; make it writable, then open it again"
    )


def backup_path(library_file: str | os.PathLike[str], revision: str) -> Path:
    """Where the copy of a library file is kept before it is migrated from ``revision``."""
    path = Path(library_file)
    return path.with_name(f"{path.name}.before-upgrade-from-{revision}")


def _back_up(conn: Connection, revision: str) -> None:
    """Copy the library file (consistently, under the migration's lock) before a migration changes it.

    An existing backup is kept (the first one is the one made by the old release).
    """
    database = conn.engine.url.database
    if not database or database == ":memory:":
        return
    target = backup_path(database, revision)
    if target.exists():
        return
    partial = target.with_name(target.name + ".partial")
    try:
        # A second connection reads the committed state: the migration's own connection holds the
        # write lock, and SQLite refuses to back up from a connection that is writing.
        source = sqlite3.connect(database, timeout=30)
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise LibraryError(
            f"could not back up the library to {target} before upgrading it ({exc}); "
            "free some space or check permissions, the library is unchanged"
        ) from exc
    log.info("backed up the library to %s before upgrading it from %s", target, revision)


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
                _check_readable_schema(engine, db_path, read_only)
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
            return ops.add_folder_record(s, path, recursive=recursive)

    def remove_folder(self, folder: ops.FolderRef) -> int:
        with self.transaction() as s:
            return ops.remove_folder(s, folder)

    def list_folders(self) -> list[FolderInfo]:
        with self.session() as s:
            return ops.list_folders(s)

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
            return ops.upsert_photo(s, path, size, mtime, folder_id=folder_id, **metadata)

    def get_photo(self, photo: ops.PhotoRef) -> PhotoInfo | None:
        with self.session() as s:
            return ops.get_photo(s, photo)

    def get_photos(self, photo_ids: Iterable[int]) -> list[PhotoInfo]:
        with self.session() as s:
            return ops.get_photos(s, photo_ids)

    def list_photos(
        self,
        *,
        folder: ops.FolderRef | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[PhotoInfo]:
        with self.session() as s:
            return ops.list_photos(s, folder=folder, status=status, limit=limit, offset=offset)

    def folder_counts(self) -> dict[int, int]:
        with self.session() as s:
            return ops.folder_counts(s)

    def count_added_since(self, since: datetime) -> int:
        with self.session() as s:
            return ops.count_added_since(s, since)

    def known_files(self, folder: ops.FolderRef | None = None) -> dict[str, FileStamp]:
        with self.session() as s:
            return ops.known_files(s, folder)

    def move_photo(self, old: str | os.PathLike[str], new: str | os.PathLike[str]) -> PhotoInfo | None:
        with self.transaction() as s:
            return ops.move_photo(s, old, new)

    def move_directory(self, old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str]) -> int:
        with self.transaction() as s:
            return ops.move_directory(s, old_dir, new_dir)

    def mark_missing(self, photo: ops.PhotoRef) -> bool:
        with self.transaction() as s:
            return ops.mark_missing(s, photo)

    def delete_photo(self, photo: ops.PhotoRef) -> bool:
        with self.transaction() as s:
            return ops.delete_photo(s, photo)

    def delete_photos(self, photo_ids: Iterable[int]) -> int:
        """Remove photos and their captions in one transaction (the files stay); how many were removed."""
        with self.transaction() as s:
            return sum(ops.delete_photo(s, photo_id) for photo_id in photo_ids)

    # ----------------------------------------------------------------- captions

    def captions(self, photo: ops.PhotoRef) -> list[CaptionInfo]:
        with self.session() as s:
            return caps.captions_for(s, photo)

    def best_captions(self, photo_ids: Sequence[int]) -> dict[int, CaptionInfo]:
        with self.session() as s:
            return caps.best_captions(s, photo_ids)

    def best_caption(self, photo: ops.PhotoRef) -> CaptionInfo | None:
        with self.session() as s:
            return caps.best_caption(s, photo)

    def caption_attention(self, caption_id: int) -> np.ndarray | None:
        with self.session() as s:
            return caps.caption_attention(s, caption_id)

    def set_user_caption(self, photo: ops.PhotoRef, text: str, *, language: str = "en") -> CaptionInfo | None:
        with self.transaction() as s:
            return caps.set_user_caption(s, photo, text, language=language)

    def mark_reviewed(
        self, photo: ops.PhotoRef, *, caption_id: int | None = None, reviewed: bool = True
    ) -> CaptionInfo | None:
        with self.transaction() as s:
            return caps.mark_reviewed(s, photo, caption_id=caption_id, reviewed=reviewed)

    def set_caption_state(
        self, photo_id: int, user_text: str, model_caption_id: int | None, model_reviewed: bool
    ) -> None:
        """Put a photo's captions into one state in one transaction (an edit, or its undo).

        ``user_text`` is the person's caption ("" for none); the model caption ``model_caption_id``
        is marked reviewed or not, unless a re-caption has replaced it since (nothing to restore).
        """
        with self.transaction() as s:
            caps.set_user_caption(s, photo_id, user_text)
            if model_caption_id is not None:
                with contextlib.suppress(LibraryError):
                    caps.mark_reviewed(s, photo_id, caption_id=model_caption_id, reviewed=model_reviewed)

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
            added = caps.add_model_caption(
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

    def keywords(self, photo: ops.PhotoRef, *, include_removed: bool = False) -> list[KeywordInfo]:
        """A photo's keywords, a person's first, then the model's most probable first."""
        with self.session() as s:
            return kw.keywords_for(s, photo, include_removed=include_removed)

    def keywords_by_photo(self, photo_ids: Sequence[int]) -> dict[int, list[KeywordInfo]]:
        with self.session() as s:
            return kw.keywords_by_photo(s, photo_ids)

    def add_keyword(self, photo: ops.PhotoRef, word: str) -> KeywordInfo:
        """A person gives the photo a keyword (also un-removes a removed one)."""
        with self.transaction() as s:
            return kw.add_keyword(s, photo, word)

    def remove_keyword(self, photo: ops.PhotoRef, word: str) -> bool:
        """A person takes a keyword away; no model adds it back. False if the photo did not have it."""
        with self.transaction() as s:
            return kw.remove_keyword(s, photo, word)

    def active_model(self) -> str | None:
        """The id of the model whose captions photos show when no person's caption exists."""
        with self.session() as s:
            return caps.active_model(s)

    def set_active_model(self, model_id: str) -> bool:
        """Show ``model_id``'s captions (none is deleted; search follows); whether it changed."""
        with self.transaction() as s:
            return caps.set_active_model(s, model_id)

    def forget_model_captions(self, photo_ids: Iterable[int] | None, model_id: str | None = None) -> int:
        """Delete unreviewed model captions (of ``model_id``, else of all models) so they are made again."""
        with self.transaction() as s:
            return caps.forget_model_captions(s, photo_ids, model_id)

    def pending_for_model(
        self,
        model_id: str,
        limit: int = 100,
        *,
        max_attempts: int = caps.DEFAULT_MAX_ATTEMPTS,
        skip_user_captioned: bool = False,
        folder: ops.FolderRef | None = None,
        exclude_ids: Collection[int] = (),
        failure_model: str | None = None,
    ) -> list[PhotoInfo]:
        with self.session() as s:
            return caps.pending_for_model(
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
        max_attempts: int = caps.DEFAULT_MAX_ATTEMPTS,
        skip_user_captioned: bool = False,
        folder: ops.FolderRef | None = None,
        failure_model: str | None = None,
    ) -> int:
        with self.session() as s:
            return caps.count_pending(
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
            return caps.record_failure(s, path, error, model)

    def clear_failure(self, path: str | os.PathLike[str], model: str | None = None) -> bool:
        """Forget a file's failures (only those that stop ``model`` when given)."""
        with self.transaction() as s:
            return caps.clear_failure(s, path, model)

    def list_failures(self, *, model: str | None = None, limit: int | None = None) -> list[FailureInfo]:
        """Failures, most recent first (only those that stop ``model`` when given)."""
        with self.session() as s:
            return caps.list_failures(s, model=model, limit=limit)

    def retry_failed(self, model: str | None = None) -> int:
        """Forget the failures that stop ``model`` (every model's when ``None``); returns how many files."""
        with self.transaction() as s:
            return caps.retry_failed(s, model)

    def reset_failures(self) -> int:
        with self.transaction() as s:
            return caps.reset_failures(s)

    def stats(self) -> LibraryStats:
        with self.session() as s:
            return caps.stats(s)

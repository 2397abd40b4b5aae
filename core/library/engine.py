"""The SQLite engine of a library file: opened tuned for threads, or read-only when it cannot be written.

Every thread opens its own :class:`~sqlalchemy.orm.Session` from the shared engine (the pool hands
each one its own SQLite connection). The database runs in WAL mode so readers never wait for a
writer. Read sessions begin ``DEFERRED``; write transactions (:func:`write_engine`) begin
``IMMEDIATE``, taking the write lock up front, so a writer waits its turn (``busy_timeout``)
instead of failing half-way with "database is locked" when another connection got the lock first.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from photoscribe.core.errors import DiskFullError, LibraryError, LibraryReadOnlyError, disk_full_cause
from photoscribe.core.library.integrity import LibraryDamagedError, damage_cause, no_room, read_only_uri
from photoscribe.core.paths import printable

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
# Page cache per connection, in KiB (SQLite's default is 2 MiB): a search at a million photos reads
# tens of MiB of index and tables, and each pooled connection keeps its pages warm between keystrokes.
CACHE_SIZE_KIB = 64 * 1024

# Execution option read by the "begin" hook: which BEGIN a transaction starts with.
_BEGIN_OPTION = "photoscribe_sqlite_begin"
_BEGIN_MODES = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE"}


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


def read_only_message(path: str | os.PathLike[str], reason: str) -> str:
    """The one sentence for a write refused on a read-only library."""
    return (
        f"the library {printable(Path(path))} is open read-only because {reason}, so it cannot be changed; "
        "it can still be browsed, searched and exported to another folder ("
        + ("free some space" if reason == DISK_FULL_REASON else "make it and its folder writable")
        + " and run the command again to change it)"
    )

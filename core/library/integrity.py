"""Damaged library files: detecting them (``PRAGMA quick_check``) and saying what to do, in one sentence.

A library file can be damaged by a disk, a crash of the machine with write caching, or a program that
wrote into it. SQLite notices only when it reads a damaged page, so without a check a damaged library
looks fine to ``library status`` and fails later with "database disk image is malformed" in the middle
of a scan. :func:`check_library` reads every page once (``quick_check``, plus FTS5's own check of the
full-text index) and :func:`damage_message` turns what it found, or any SQLite error that means damage
(:func:`damage_cause`), into the one sentence every command and the app show: restore the backup
photoscribe kept, or run ``photoscribe library repair`` (:mod:`.repair`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.errors import LibraryError, find_cause
from photoscribe.core.paths import printable

# What SQLite says when the file (not the query) is at fault: SQLITE_CORRUPT, SQLITE_NOTADB, a damaged
# FTS5 index (its table cannot even be constructed, or its structure record is corrupt).
_DAMAGE_WORDS = (
    "malformed",
    "not a database",
    "vtable constructor failed",
    "database corruption",
    "fts5: corruption",
    "corrupt",
)
FTS_TABLE = "captions_fts"


class LibraryDamagedError(LibraryError):
    """The library file is damaged; the message says which backup to restore or to run ``library repair``."""

    exit_code = 2

    def __init__(self, path: str | os.PathLike[str], detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(damage_message(path, detail))


@dataclass(frozen=True)
class Damage:
    """What a check found: ``detail`` is SQLite's first complaint; ``index_only`` when the tables are sound
    and only the full-text index is damaged (``library repair`` rebuilds it in place)."""

    detail: str
    index_only: bool = False


def damage_cause(exc: BaseException) -> sqlite3.DatabaseError | None:
    """The SQLite error behind ``exc`` that means a damaged file ("malformed", "not a database"), or None.

    Looks through SQLAlchemy's ``orig`` and the ``__cause__``/``__context__`` chain (:func:`find_cause`).
    """
    return find_cause(
        exc, sqlite3.DatabaseError, lambda error: any(w in str(error).lower() for w in _DAMAGE_WORDS)
    )


def backups(library_file: str | os.PathLike[str]) -> list[Path]:
    """The copies photoscribe kept of ``library_file`` before upgrading it, newest first."""
    path = Path(library_file)
    found = [
        p
        for p in path.parent.glob(f"{_glob_escape(path.name)}.before-upgrade-from-*")
        if p.is_file() and not p.name.endswith(".partial")
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def damage_message(library_file: str | os.PathLike[str], detail: str) -> str:
    """The one sentence for a damaged library: what SQLite said, then the backup to restore or the repair."""
    path = Path(library_file)
    repair = f"run `photoscribe library repair --db {printable(path)}`"
    what = (
        "its full-text index is damaged"
        if "vtable constructor" in detail or detail.startswith("full-text")
        else "the file is damaged"
    )
    kept = backups(path)
    restore = (
        f"restore the backup photoscribe kept ({printable(kept[0])}, from before an upgrade: copy it over "
        "the library file with photoscribe closed) or "
        if kept
        else ""
    )
    return (
        f"the library {printable(path)} cannot be used: {what} ({detail}); {restore}{repair}, which rebuilds "
        "its indexes and saves what can still be read into a new file, keeping the damaged one aside"
    )


def read_only_uri(db_path: Path) -> str:
    """A ``mode=ro`` URI; ``immutable=1`` too when SQLite cannot make the WAL index beside the file.

    A WAL library closed cleanly has no ``-wal``/``-shm`` files (or empty ones), and a read-only
    connection needs them, or a folder with room to create them in (not a read-only folder, nor a
    full disk); ``immutable`` reads the file alone, which is then all there is.
    """
    folder = db_path.absolute().parent
    uri = f"{db_path.absolute().as_uri()}?mode=ro"
    wal, shm = (db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm"))
    wal_empty = not wal.exists() or wal.stat().st_size == 0
    cannot_make_index = not os.access(folder, os.W_OK) or no_room(folder)
    if cannot_make_index and (wal_empty or not shm.exists()):
        uri += "&immutable=1"  # (a WAL with commits but no index cannot be read: those commits are not shown)
    return uri


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection that never writes to ``path``."""
    return sqlite3.connect(read_only_uri(path), uri=True, timeout=30)


def no_room(folder: Path) -> bool:
    """Too little space in ``folder`` for SQLite's WAL index (32 KiB): the disk is full."""
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


def check_connection(conn: sqlite3.Connection) -> Damage | None:
    """Check the database of ``conn``: every page (``quick_check``), then the full-text index's own check."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return Damage(str(exc))
    problems = [str(row[0]) for row in rows if row and row[0] != "ok"]
    if problems:
        return Damage(_first_line(problems))
    has_fts = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
    ).fetchone()
    if not has_fts:
        return None
    try:  # a no-op on a sound index; it reads only the index pages quick_check has just read
        conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 0)")
    except sqlite3.DatabaseError as exc:
        if "readonly" in str(exc):  # FTS5 cannot run its check on a read-only connection
            return None
        return Damage(f"full-text index: {exc}", index_only=True)
    return None


def _first_line(problems: list[str]) -> str:
    lines = [line.strip() for text in problems for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("***")]
    first = lines[0] if lines else "quick_check failed"
    more = len(lines) - 1
    return f"{first}, and {more} more problems" if more > 0 else first


def check_library(path: str | os.PathLike[str], *, read_only: bool = False) -> Damage | None:
    """Check the library file ``path`` (nothing is written); what is damaged, or ``None`` when sound.

    Reads every page once, then the full-text index again: 0.12 s for 20,000 captioned photos (a
    78 MiB file, warm cache; ``bench/library_check.py``). FTS5 runs its check as an ``INSERT``, which
    a ``mode=ro`` connection refuses: with ``read_only`` only the pages are checked.
    """
    try:
        conn = connect_read_only(Path(path)) if read_only else sqlite3.connect(Path(path), timeout=30)
    except sqlite3.Error as exc:
        return Damage(str(exc))
    try:
        return check_connection(conn)
    finally:
        conn.close()


def ensure_sound(path: str | os.PathLike[str], *, read_only: bool = False) -> None:
    """Raise :class:`LibraryDamagedError` when the library file at ``path`` is damaged."""
    damage = check_library(path, read_only=read_only)
    if damage is not None:
        raise LibraryDamagedError(path, damage.detail)


def explain(exc: BaseException, library_file: str | os.PathLike[str]) -> LibraryError | None:
    """The one-sentence error for an SQLite failure that is the library file's fault, or None.

    A damaged file (:func:`damage_cause`) gives :class:`LibraryDamagedError`; SQLite refusing to write
    ("attempt to write a readonly database": the file or its folder became read-only while open)
    gives :class:`LibraryReadOnlyError`. Used where a command or the app meets an unexpected error.
    """
    from photoscribe.core.errors import LibraryReadOnlyError

    damage = damage_cause(exc)
    if damage is not None:
        return LibraryDamagedError(library_file, str(damage))
    refusal = _read_only_cause(exc)
    if refusal is not None:
        return LibraryReadOnlyError(
            f"the library {printable(Path(library_file))} cannot be written ({refusal}); make the file and its "
            "folder writable and run the command again (what was saved before is kept)"
        )
    return None


def _read_only_cause(exc: BaseException) -> sqlite3.DatabaseError | None:
    return find_cause(exc, sqlite3.DatabaseError, lambda error: "readonly database" in str(error))

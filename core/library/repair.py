"""``library repair``: rebuild a library's indexes, and save what can be read of a damaged file into a new one.

Two levels, chosen by :func:`~.integrity.check_library`:

- the tables are sound (or only the full-text index is damaged): the full-text index is rebuilt in
  place from the photos, captions and keywords (FTS5 ``rebuild``, then every row made again by the
  triggers that keep it in step), and embeddings that cannot be decoded are dropped (the embed queue
  makes them again);
- the file itself is damaged: a new library file is made at the damaged one's schema, every table is
  copied into it row by row in ``rowid`` order, stepping over rows SQLite cannot read (what the
  ``sqlite3`` shell's ``.recover`` does, which Python's ``sqlite3`` lacks), rows whose photo was lost
  are dropped, the full-text index is made from what was saved, and the new file takes the library's
  place. The damaged file is kept beside it as ``<name>.damaged-<UTC time>``.

Either way the saved search-by-meaning graphs (``<name>.<model>.hnsw``, a cache) are deleted; they
are built again from the embeddings at the next search.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from photoscribe.core.errors import LibraryError, LibraryReadOnlyError
from photoscribe.core.library.integrity import FTS_TABLE, check_library, connect_read_only
from photoscribe.core.paths import printable

log = logging.getLogger(__name__)

_MAX_ROWID = 2**63 - 1
_BATCH = 500


@dataclass(frozen=True)
class RepairReport:
    """What ``library repair`` found and did."""

    path: Path
    damage: str | None  # what the check found (None: nothing)
    salvaged: bool  # a new file was made from what could be read
    photos: int  # in the library now
    captions: int
    photos_before: int | None  # what the damaged file counted, where it could still count
    captions_before: int | None
    unreadable: int  # stretches of rows that could not be read and were stepped over
    dropped: int  # rows dropped because what they belonged to was lost (or, in place, bad embeddings)
    damaged_copy: Path | None  # where the damaged file was put aside

    def describe(self) -> str:
        """A few lines for the command line."""
        if not self.salvaged:
            found = f"found: {self.damage}" if self.damage else "no damage found"
            return (
                f"{found}; rebuilt the full-text index of {self.photos} photos and the search-by-meaning "
                f"index ({self.dropped} unusable embeddings dropped); the library is sound"
            )

        def of(now: int, before: int | None) -> str:
            return f"{now} of {before}" if before is not None and before >= now else str(now)

        lines = [
            f"found: {self.damage}",
            f"saved {of(self.photos, self.photos_before)} photos and {of(self.captions, self.captions_before)} "
            f"captions into a new library file {printable(self.path)}",
            f"stepped over {self.unreadable} unreadable stretches of rows; dropped {self.dropped} rows whose "
            "photo or caption was lost",
        ]
        if self.damaged_copy is not None:
            lines.append(f"the damaged file is kept as {printable(self.damaged_copy)}")
        return "\n".join(lines)


def repair_library(path: str | os.PathLike[str]) -> RepairReport:
    """Rebuild the indexes of the library at ``path``, salvaging it into a new file if it is damaged.

    Raises:
        LibraryError: there is no such file, or it is not SQLite at all.
        LibraryReadOnlyError: the file or its folder cannot be written.
        LibraryBusyError: a captioning run holds the library.
    """
    from photoscribe.core.library.engine import read_only_reason
    from photoscribe.core.library.runlock import CaptionLock

    db_path = Path(path).expanduser().absolute()
    if not db_path.is_file():
        raise LibraryError(f"there is no library file {printable(db_path)}; check the --db path")
    with db_path.open("rb") as f:
        if f.read(16) != b"SQLite format 3\0":
            raise LibraryError(
                f"{printable(db_path)} is not a SQLite file at all, so there is nothing to repair; if it was "
                "your library, restore a backup of it"
            )
    reason = read_only_reason(db_path)
    if reason is not None:
        raise LibraryReadOnlyError(
            f"cannot repair the library {printable(db_path)}: {reason}; copy it to a folder you can write "
            "to and repair the copy"
        )
    with CaptionLock(db_path):
        damage = check_library(db_path)
        report = None
        if damage is None or damage.index_only:
            report = _rebuild_in_place(db_path, damage.detail if damage else None)
        if report is None:
            detail = damage.detail if damage else "the full-text index could not be rebuilt in place"
            report = _salvage(db_path, detail)
    _drop_graph_caches(db_path)
    left = check_library(db_path)
    if left is not None:
        raise LibraryError(f"the repaired library {printable(db_path)} still fails its check ({left.detail})")
    return report


def _rebuild_in_place(db_path: Path, damage: str | None) -> RepairReport | None:
    """Rebuild the full-text index and drop unusable embeddings; None when the file resists it."""
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
        _refill_index(conn)
        dropped = _drop_bad_embeddings(conn)
        conn.execute("COMMIT")
        photos, captions = _counts(conn)
    except sqlite3.DatabaseError as exc:
        log.warning("rebuilding the full-text index in place failed (%s); salvaging into a new file", exc)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return None
    finally:
        conn.close()
    if check_library(db_path) is not None:
        return None
    return RepairReport(db_path, damage, False, photos, captions, None, None, 0, dropped, None)


def _refill_index(conn: sqlite3.Connection) -> None:
    """Empty the full-text index and let the library's own triggers write every photo's row again."""
    conn.execute(f"DELETE FROM {FTS_TABLE}")
    conn.execute("UPDATE photos SET name = name")  # photos_fts_au remakes the photo's row


def _drop_bad_embeddings(conn: sqlite3.Connection) -> int:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'caption_embeddings'")
    if has.fetchone() is None:
        return 0
    # float16 vectors: two bytes per dimension; anything else cannot be decoded and is made again.
    cur = conn.execute("DELETE FROM caption_embeddings WHERE vector IS NULL OR length(vector) != 2 * dim")
    return max(cur.rowcount, 0)


def _counts(conn: sqlite3.Connection) -> tuple[int, int]:
    photos = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    captions = conn.execute("SELECT count(*) FROM captions").fetchone()[0]
    return int(photos), int(captions)


def _count_or_none(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    except sqlite3.DatabaseError:
        return None


def _salvage(db_path: Path, damage: str) -> RepairReport:
    """Copy what can be read into a new file at the same schema, then put it in the library's place."""
    from photoscribe.core.library.database import Library
    from photoscribe.core.library.upgrade import SCHEMA_HEAD

    src = connect_read_only(db_path)
    try:
        revision = _revision(src) or SCHEMA_HEAD
        before = (_count_or_none(src, "photos"), _count_or_none(src, "captions"))
        new = db_path.with_name(db_path.name + ".repairing")
        for leftover in (new, *_companions(new)):
            leftover.unlink(missing_ok=True)
        _create_at(new, revision)
        dst = sqlite3.connect(new, isolation_level=None)
        try:
            unreadable, dropped = _copy_tables(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    os.replace(db_path, aside)
    for companion, suffix in zip(_companions(db_path), ("-wal", "-shm"), strict=True):
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    os.replace(new, db_path)
    log.info("salvaged %s into a new file; the damaged one is %s", db_path, aside)
    with Library.open(db_path) as library, library.session() as session:  # upgrades an old schema
        conn = session.connection()
        photos = int(conn.exec_driver_sql("SELECT count(*) FROM photos").scalar_one())
        captions = int(conn.exec_driver_sql("SELECT count(*) FROM captions").scalar_one())
    return RepairReport(
        db_path, damage, True, photos, captions, before[0], before[1], unreadable, dropped, aside
    )


def _companions(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _revision(src: sqlite3.Connection) -> str | None:
    try:
        row = src.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _create_at(new: Path, revision: str) -> None:
    """An empty library file at schema ``revision`` (the damaged file's, so its rows fit as they are)."""
    from alembic import command

    from photoscribe.core.library.engine import open_engine, write_engine
    from photoscribe.core.library.upgrade import alembic_config

    engine = open_engine(new)
    try:
        with write_engine(engine).connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def _copy_tables(src: sqlite3.Connection, dst: sqlite3.Connection) -> tuple[int, int]:
    """Copy every table of ``dst``'s schema that ``src`` has; (unreadable stretches, rows dropped)."""
    schema = dst.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    virtual = [
        name
        for kind, name, sql in schema
        if kind == "table" and str(sql).upper().startswith("CREATE VIRTUAL")
    ]
    tables = [
        name
        for kind, name, _sql in schema
        if kind == "table"
        and not name.startswith("sqlite_")
        and name != "alembic_version"
        and name not in virtual
        and not any(name.startswith(f"{v}_") for v in virtual)
    ]
    triggers = [(name, sql) for kind, name, sql in schema if kind == "trigger"]
    dst.execute("PRAGMA foreign_keys = OFF")
    dst.execute("BEGIN IMMEDIATE")
    for name, _sql in triggers:  # the index is filled once at the end, not per copied row
        dst.execute(f'DROP TRIGGER "{name}"')
    unreadable = 0
    for table in tables:
        columns = _common_columns(src, dst, table)
        if not columns:
            log.warning("table %s cannot be read from the damaged file; nothing of it is saved", table)
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        reader = _RowReader(src, table, names)
        batch: list[tuple[object, ...]] = []
        for row in reader:
            batch.append(row)
            if len(batch) >= _BATCH:
                dst.executemany(insert, batch)
                batch = []
        dst.executemany(insert, batch)
        unreadable += reader.unreadable
    dropped = _drop_orphans(dst)
    for _name, sql in triggers:
        dst.execute(sql)
    if FTS_TABLE in virtual:
        _refill_index(dst)
    dropped += _drop_bad_embeddings(dst)
    dst.execute("COMMIT")
    dst.execute("PRAGMA foreign_keys = ON")
    return unreadable, dropped


def _common_columns(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> list[str]:
    try:
        have = [row[1] for row in src.execute(f'PRAGMA table_info("{table}")').fetchall()]
    except sqlite3.DatabaseError:
        return []
    want = [row[1] for row in dst.execute(f'PRAGMA table_info("{table}")').fetchall()]
    return [c for c in want if c in have]


def _drop_orphans(dst: sqlite3.Connection) -> int:
    """Delete rows that point at a row that was lost (a caption whose photo could not be read)."""
    dropped = 0
    for _ in range(10):  # a dropped caption may orphan its embeddings: a few rounds settle it
        problems = dst.execute("PRAGMA foreign_key_check").fetchall()
        if not problems:
            break
        for table, rowid, _parent, _fk in problems:
            dst.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
            dropped += 1
    return dropped


class _RowReader:
    """The readable rows of one table in rowid order, stepping over the stretches SQLite cannot read."""

    def __init__(self, src: sqlite3.Connection, table: str, names: str) -> None:
        self.src = src
        self.sql = f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
        self.probe = f'SELECT rowid FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT 1'
        self.unreadable = 0

    def _rows(self, after: int, limit: int) -> list[tuple[object, ...]] | None:
        try:
            return self.src.execute(self.sql, (after, limit)).fetchall()
        except sqlite3.DatabaseError:
            return None

    def _readable_after(self, after: int) -> bool:
        # The whole next row, not only its rowid: a row whose key reads but whose columns do not
        # (a damaged record) would otherwise be "readable" at every step of one, for ever.
        try:
            self.src.execute(self.sql, (after, 1)).fetchall()
        except sqlite3.DatabaseError:
            return False
        return True

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        after, limit, single = -(2**63), _BATCH, 0
        while True:
            rows = self._rows(after, limit)
            if rows is None and limit > 1:  # somewhere in this batch: one row at a time up to the damage
                limit, single = 1, 0
                continue
            if rows is None:
                skipped = self._skip(after)
                if skipped is None:
                    return
                self.unreadable += 1
                after, limit = skipped, _BATCH
                continue
            if not rows:
                return
            for row in rows:
                yield row[1:]
            after = int(rows[-1][0])  # type: ignore[call-overload]
            single += 1
            if limit == 1 and single >= _BATCH:
                limit = _BATCH

    def _skip(self, bad: int) -> int | None:
        """The smallest ``after`` past ``bad`` from which rows can be read again (None: none can)."""
        step = 1
        good = None
        while bad + step <= _MAX_ROWID:
            if self._readable_after(bad + step):
                good = bad + step
                break
            step *= 2
        lo = bad + step // 2 if step > 1 else bad  # the last place that could not be read
        if good is None:  # the doubling stepped past the largest rowid: the end is the last place to try
            if not self._readable_after(_MAX_ROWID - 1):
                return None
            good = _MAX_ROWID - 1
        while good - lo > 1:  # narrow it down: lose as few readable rows as possible
            mid = (lo + good) // 2
            if self._readable_after(mid):
                good = mid
            else:
                lo = mid
        return good


def _drop_graph_caches(db_path: Path) -> None:
    """Delete the saved search-by-meaning graphs; the next search builds them from the embeddings."""
    for graph in db_path.parent.glob(f"{_glob_escape(db_path.name)}.*.hnsw"):
        graph.unlink(missing_ok=True)
        log.info("deleted the search-by-meaning graph %s; it is built again at the next search", graph)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)

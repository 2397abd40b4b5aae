"""Bringing a library file to this release's schema: Alembic migrations, run once, after a backup.

A library already at :data:`SCHEMA_HEAD` opens without importing Alembic. A migration runs in one
IMMEDIATE transaction (two processes opening the same new library do not both create it), after a
consistent copy of the file is kept beside it (:func:`backup_path`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from photoscribe.core.errors import DiskFullError, LibraryError, LibraryReadOnlyError, disk_full_cause
from photoscribe.core.library.engine import write_engine
from photoscribe.core.library.integrity import LibraryDamagedError, damage_cause
from photoscribe.core.paths import printable

if TYPE_CHECKING:  # Alembic is imported only when a library must be created or migrated
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REQUIRED_TABLES = {"folders", "photos", "captions", "failures", "captions_fts"}

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


def check_readable_schema(engine: Engine, db_path: Path, reason: str) -> None:
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

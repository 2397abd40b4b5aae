"""Alembic environment of the photo library.

Run through :func:`photoscribe.core.library.upgrade.migrate`, which hands us an
open connection in ``config.attributes["connection"]`` (there is no alembic.ini:
the configuration is built in code). To autogenerate a new revision during
development::

    from photoscribe.core.library.engine import open_engine
    from photoscribe.core.library.upgrade import alembic_config
    from alembic import command
    engine = open_engine("dev.sqlite3")
    with engine.begin() as conn:
        cfg = alembic_config(conn)
        command.upgrade(cfg, "head")
        command.revision(cfg, "what changed", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from alembic import context

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.migrations import include_object
from photoscribe.core.library.schema import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise LibraryError(
            "the library migrations need an open connection; "
            "run them through photoscribe.core.library.upgrade.migrate(engine)"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables instead
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise LibraryError("offline (--sql) migrations are not supported for the photo library")
run_migrations()

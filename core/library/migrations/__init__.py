"""Alembic migrations of the library database (run by ``upgrade.migrate``; no alembic.ini)."""

from __future__ import annotations

from typing import Any

# The full-text index (a virtual table and its shadow tables) is made by hand
# in the migrations; keep autogenerate from proposing to drop it.
FTS_PREFIX = "captions_fts"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: everything except the FTS5 tables."""
    return not (type_ == "table" and name is not None and name.startswith(FTS_PREFIX))

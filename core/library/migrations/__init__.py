"""Alembic migrations of the library database (run by ``upgrade.migrate``; no alembic.ini)."""

from __future__ import annotations

from typing import Any

# The full-text index (a virtual table and its shadow tables) and the caption embeddings (read and
# written in SQL by core/library/meaning.py, no ORM class) are made by hand in the migrations; keep
# autogenerate from proposing to drop them.
FTS_PREFIX = "captions_fts"
EMBEDDINGS_TABLE = "caption_embeddings"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: everything except the FTS5 tables and the caption embeddings."""
    return not (
        type_ == "table" and name is not None and (name.startswith(FTS_PREFIX) or name == EMBEDDINGS_TABLE)
    )

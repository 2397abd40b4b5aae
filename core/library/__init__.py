"""The photo library: SQLite store, full-text search, "more like this" and alt-text export.

Start with :class:`Library` (``Library.open(path)``). Session-level operations
for batching are in :mod:`.photos` and :mod:`.captions`; search in
:mod:`.search`; similarity in :mod:`.similar`; exports in :mod:`.export`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are imported from their modules on first use, so that importing a submodule (the CLI's
# argument parser, the scanner) does not pull in SQLAlchemy and Alembic before they are needed.
# The functions search() and similar() are imported from their modules (.search, .similar): a name
# shared with a submodule would resolve to the module once that submodule has been imported.
_WHERE = {
    "Library": "database",
    "default_library_path": "database",
    "migrate": "database",
    "open_engine": "database",
    "Alternative": "records",
    "CaptionInfo": "records",
    "FailureInfo": "records",
    "FileStamp": "records",
    "FolderInfo": "records",
    "LibraryStats": "records",
    "PhotoInfo": "records",
    "SearchHit": "records",
    "build_match_query": "search",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Alternative",
    "CaptionInfo",
    "FailureInfo",
    "FileStamp",
    "FolderInfo",
    "Library",
    "LibraryStats",
    "PhotoInfo",
    "SearchHit",
    "build_match_query",
    "default_library_path",
    "migrate",
    "open_engine",
]

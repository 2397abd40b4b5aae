"""The photo library: SQLite store, full-text search, "more like this" and alt-text export.

Start with :class:`Library` (``Library.open(path)``). Session-level operations
for batching are in :mod:`.photos` and :mod:`.captions`; search in
:mod:`.search`; similarity in :mod:`.similar`; exports in :mod:`.export`.
"""

from __future__ import annotations

from photoscribe.core.library.database import Library, default_library_path, migrate, open_engine
from photoscribe.core.library.records import (
    Alternative,
    CaptionInfo,
    FailureInfo,
    FileStamp,
    FolderInfo,
    LibraryStats,
    PhotoInfo,
    SearchHit,
)
from photoscribe.core.library.search import build_match_query, search
from photoscribe.core.library.similar import similar

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
    "search",
    "similar",
]

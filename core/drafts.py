"""Caption drafts kept across a crash: one small JSON file in the data folder, written atomically.

The app writes a draft while a person types a caption (debounced) and removes it when the caption
is saved or the edit reverted. A draft still there when the app starts again is offered in the
editor, never saved on its own. Drafts are keyed by the library file (its resolved path) and the
photo id, so two libraries never see each other's drafts.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photoscribe.core import paths

log = logging.getLogger(__name__)

DRAFTS_FILE = "caption-drafts.json"


def drafts_path() -> Path:
    """Where the drafts live: ``caption-drafts.json`` in the data folder (``$PHOTOSCRIBE_HOME`` moves it)."""
    return paths.data_dir() / DRAFTS_FILE


@dataclass(frozen=True)
class Draft:
    """An unsaved caption: its text, the caption it was typed over, and when it was last written."""

    photo_id: int
    text: str
    saved_text: str = ""
    updated: float = 0.0


class DraftStore:
    """The drafts of one library in the shared drafts file.

    Every change rewrites the whole (small) file through a temporary file and ``os.replace``, so a
    killed app leaves either the old file or the new one (no fsync: it runs on the GUI thread while
    a person types, and an app killed is what it guards against, not a power cut). A damaged or unreadable file is
    logged and read as no drafts: a draft is a courtesy, never a reason not to start.
    """

    def __init__(self, library_path: str | os.PathLike[str], path: Path | None = None) -> None:
        self.library_key = str(Path(library_path).expanduser().resolve())
        self.path = path if path is not None else drafts_path()

    def _read_all(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("caption drafts in %s cannot be read (%s); starting without them", self.path, exc)
            return {}
        return raw if isinstance(raw, dict) else {}

    def _write_all(self, data: dict[str, dict[str, Any]]) -> None:
        data = {key: drafts for key, drafts in data.items() if drafts}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".drafts-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def all(self) -> list[Draft]:
        """This library's drafts, oldest first."""
        drafts = []
        for key, entry in self._read_all().get(self.library_key, {}).items():
            if not (key.isdigit() and isinstance(entry, dict) and isinstance(entry.get("text"), str)):
                continue
            drafts.append(
                Draft(
                    int(key),
                    entry["text"],
                    str(entry.get("saved_text", "")),
                    float(entry.get("updated", 0.0)),
                )
            )
        return sorted(drafts, key=lambda d: d.updated)

    def get(self, photo_id: int) -> Draft | None:
        return next((d for d in self.all() if d.photo_id == photo_id), None)

    def put(self, photo_id: int, text: str, saved_text: str = "") -> None:
        """Keep ``text`` as the draft of ``photo_id`` (replacing an older one)."""
        data = self._read_all()
        mine = data.setdefault(self.library_key, {})
        entry = {"text": text, "saved_text": saved_text, "updated": time.time()}
        if mine.get(str(photo_id), {}).get("text") == text:
            return  # nothing new: no write
        mine[str(photo_id)] = entry
        self._write_all(data)

    def remove(self, photo_id: int) -> bool:
        """Forget the draft of ``photo_id``; False when there was none."""
        data = self._read_all()
        mine = data.get(self.library_key, {})
        if str(photo_id) not in mine:
            return False
        del mine[str(photo_id)]
        self._write_all(data)
        return True

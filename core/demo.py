"""The demo: 18 real photos (Creative Commons, bundled) captioned by the bundled model.

Everything the demo writes lives under ``data_dir()/demo`` (``$PHOTOSCRIBE_HOME`` moves it),
so the user's real library is never touched; the photos are copied there from the package.
Nothing is trained: the model is ``--model``, else the active model, else the bundled default.
"""

from __future__ import annotations

import importlib.resources
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.paths import active_model_path, data_dir
from photoscribe.core.progress import ProgressCallback

log = logging.getLogger(__name__)

# Searches that find photos of the bundled demo set (resources/demo/CREDITS.md lists what they show).
DEMO_QUERIES = ("dog", "skateboard", "tennis", "street", "beach", "table")


@dataclass(frozen=True)
class DemoResult:
    root: Path
    library_path: Path
    model_path: Path
    photos_dir: Path


def demo_root() -> Path:
    return data_dir() / "demo"


def bundled_demo_photos() -> list[Path]:
    """The demo photos shipped in ``photoscribe/resources/demo``, sorted by name."""
    folder = Path(str(importlib.resources.files("photoscribe.resources") / "demo"))
    return sorted(folder.glob("*.jpg"))


def prepare_demo(
    *,
    model: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DemoResult:
    """Copy the demo photos (once), add them to the demo library and caption what is not captioned yet.

    Raises:
        ModelLoadError: there is no model at all (the bundled default is missing from this install).
    """
    from photoscribe.core.captioning.captioner import Captioner
    from photoscribe.core.library import Library
    from photoscribe.core.library.queue import CaptionQueue
    from photoscribe.core.library.scanner import add_folder

    root = demo_root()
    model_path = model or active_model_path()
    if model_path is None:
        raise ModelLoadError(
            "the bundled default model is missing from this installation (photoscribe/resources/models/"
            "default.pt); reinstall photoscribe, or pass --model CKPT"
        )
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for src in bundled_demo_photos():
        target = photos / src.name
        if not target.exists():
            shutil.copyfile(src, target)
    credits = Path(str(importlib.resources.files("photoscribe.resources") / "demo" / "CREDITS.md"))
    if credits.is_file():
        shutil.copyfile(credits, photos / "CREDITS.md")
    library_path = root / "library.sqlite3"
    with Library.open(library_path) as library:
        add_folder(library, photos, on_progress=on_progress, cancel=cancel)
        captioner = Captioner.load(model_path, n_best=3)
        CaptionQueue(library, captioner).run_once(on_progress=on_progress, cancel=cancel)
    return DemoResult(root, library_path, Path(model_path), photos)


def demo_searches(
    library_path: Path, queries: tuple[str, ...] = DEMO_QUERIES, top: int = 3
) -> list[tuple[str, list[str]]]:
    """The top results (file name: caption) for a few searches in the demo library."""
    from photoscribe.core.library import Library
    from photoscribe.core.library.search import search

    out = []
    with Library.open(library_path) as library:
        for query in queries:
            hits = search(library, query, limit=top)
            out.append(
                (
                    query,
                    [
                        f"{Path(hit.photo.path).name}: {hit.caption.text if hit.caption else ''}"
                        for hit in hits
                    ],
                )
            )
    return out

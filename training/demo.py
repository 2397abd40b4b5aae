"""The offline demo: synthetic photos, a small model trained on the CPU, a captioned demo library.

Everything lives under ``data_dir()/demo`` (``$PHOTOSCRIBE_HOME`` moves it), so the
user's real library is never touched. A real model, when one is given or active, is
used instead of training the demo one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.captioner import Captioner
from photoscribe.core.errors import CancelledError
from photoscribe.core.library import Library, search
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.paths import active_model_path, data_dir, set_active_model
from photoscribe.core.progress import ProgressCallback
from photoscribe.training.synth import generate_shapes
from photoscribe.training.train import TrainConfig, train

log = logging.getLogger(__name__)

DEMO_QUERIES = ("red circle", "blue", "triangle left", "square", "green diamond")


@dataclass(frozen=True)
class DemoSettings:
    train_images: int = 500
    photos: int = 48
    epochs: int = 20
    image_size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class DemoResult:
    root: Path
    library_path: Path
    model_path: Path
    photos_dir: Path
    trained: bool


def demo_root() -> Path:
    return data_dir() / "demo"


def prepare_demo(
    settings: DemoSettings = DemoSettings(),
    *,
    model: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DemoResult:
    """Build (or reuse) the demo: train unless a model exists, add the photo folder, caption it."""
    root = demo_root()
    model_path = model or active_model_path()
    trained = False
    if model_path is None:
        model_path = root / "model" / "best.pt"
        if not model_path.is_file():
            data = root / "training-shapes"
            if not (data / "results.csv").is_file():
                generate_shapes(
                    data,
                    settings.train_images,
                    image_size=settings.image_size,
                    seed=settings.seed,
                    on_progress=on_progress,
                    cancel=cancel,
                )
            cfg = TrainConfig(
                data_dir=data,
                out_dir=root / "model",
                encoder="tinyresnet",
                image_size=settings.image_size,
                resize=round(settings.image_size * 9 / 8),
                embed_dim=64,
                hidden_dim=128,
                attention_dim=64,
                dropout=0.1,
                min_word_freq=1,
                epochs=settings.epochs,
                batch_size=32,
                lr=2e-3,
                step_size=12,
                all_captions=True,
                workers=0,
                patience=settings.epochs,
                seed=settings.seed,
                resume=True,
            )
            result = train(cfg, on_progress=on_progress, cancel=cancel)
            if result.stop_reason == "cancelled":
                raise CancelledError("demo training cancelled; run the demo again to resume it")
            trained = True
        set_active_model(model_path)

    photos = root / "photos"
    if not any(photos.glob("*.jpg")):
        # "Your photos": larger renders of held-out scenes (another seed), flattened into one folder.
        generate_shapes(root / "photo-source", settings.photos, image_size=192, seed=settings.seed + 777)
        photos.mkdir(parents=True, exist_ok=True)
        for src in sorted((root / "photo-source" / "flickr30k_images").glob("*.jpg")):
            (photos / f"shapes-{src.stem}.jpg").write_bytes(src.read_bytes())
    library_path = root / "library.sqlite3"
    with Library.open(library_path) as library:
        add_folder(library, photos, on_progress=on_progress, cancel=cancel)
        captioner = Captioner.load(model_path, beam_size=3, n_best=3)
        CaptionQueue(library, captioner).run_once(on_progress=on_progress, cancel=cancel)
    return DemoResult(root, library_path, model_path, photos, trained)


def demo_searches(
    library_path: Path, queries: tuple[str, ...] = DEMO_QUERIES, top: int = 3
) -> list[tuple[str, list[str]]]:
    """The top results (file name: caption) for a few searches in the demo library."""
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

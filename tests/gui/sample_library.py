"""Small test libraries built through the Library API (no trained model needed).

Captions are inserted with ``add_model_caption`` together with made-up
attention maps; photos are small PIL images drawn in colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from photoscribe.core.library import FolderInfo, Library

MODEL_ID = "test-model-1"

# (file stem, colour, shape, caption): colourful, distinct photos for search and screenshots.
PHOTOS = [
    ("beach", (240, 196, 92), "circle", "a yellow sun over a sandy beach"),
    ("forest", (46, 139, 87), "triangle", "a green pine tree in a quiet forest"),
    ("harbour", (30, 100, 200), "square", "a blue boat moored in the harbour"),
    ("tomato", (220, 50, 40), "circle", "a red tomato on a wooden table"),
    ("lavender", (150, 110, 200), "triangle", "a purple field of lavender at dusk"),
    ("snow", (235, 240, 250), "square", "a white cabin in deep snow"),
    ("orange", (250, 140, 30), "circle", "an orange cat asleep on a windowsill"),
    ("night", (25, 30, 70), "square", "a dark city street at night with lights"),
    ("meadow", (130, 200, 80), "circle", "a small dog running across a green meadow"),
    ("rose", (230, 90, 140), "triangle", "a pink rose with drops of rain"),
    ("desert", (210, 160, 110), "triangle", "a red rock arch in the desert"),
    ("lake", (60, 160, 190), "square", "two kayaks on a calm turquoise lake"),
]


def draw_photo(
    path: Path, colour: tuple[int, int, int], shape: str, size: tuple[int, int] = (320, 240)
) -> Path:
    """A small JPEG/PNG: a gradient background in ``colour`` with a white shape."""
    w, h = size
    x = np.linspace(0.55, 1.0, w, dtype=np.float32)[None, :, None]
    y = np.linspace(1.0, 0.7, h, dtype=np.float32)[:, None, None]
    pixels = (np.array(colour, dtype=np.float32)[None, None, :] * x * y).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    box = (w * 0.3, h * 0.25, w * 0.7, h * 0.75)
    fill = (255, 255, 255)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(w * 0.5, h * 0.2), (w * 0.72, h * 0.78), (w * 0.28, h * 0.78)], fill=fill)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def fake_attention(n_words: int, grid: int = 7) -> np.ndarray:
    """One peaked (grid, grid) map per word, the peak moving across the image word by word."""
    maps = np.zeros((n_words, grid, grid), dtype=np.float32)
    yy, xx = np.mgrid[0:grid, 0:grid]
    for t in range(n_words):
        cx, cy = (t * 2) % grid, (t * 3 + 1) % grid
        maps[t] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0)
        maps[t] /= maps[t].sum()
    return maps


def register_photo(library: Library, folder: FolderInfo, path: Path, taken_at: datetime | None = None) -> int:
    stat = path.stat()
    with Image.open(path) as img:
        width, height = img.size
    photo = library.upsert_photo(
        path, stat.st_size, stat.st_mtime, width=width, height=height, taken_at=taken_at, folder_id=folder.id
    )
    return photo.id


def add_caption(library: Library, photo_id: int, text: str, alternatives: list[str] | None = None) -> None:
    alts = [{"text": text, "score": -2.0}] + [
        {"text": alt, "score": -3.0 - i} for i, alt in enumerate(alternatives or [])
    ]
    library.add_model_caption(photo_id, MODEL_ID, text, -2.0, alts, fake_attention(len(text.split())))


@dataclass
class Sample:
    library: Library
    folder: FolderInfo
    ids: dict[str, int]  # file stem -> photo id
    root: Path

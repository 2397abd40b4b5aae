"""Synthetic captioned shapes: a tiny data set a small CNN+LSTM can learn in minutes.

Each image holds 1..``max_objects`` flat shapes of distinct colours on a gray background
(light or dark, plain, gradient or noisy; never saturated, so it cannot be mistaken for a
shape colour). Every image gets exactly five captions from a small grammar; the first one is
canonical (colour and shape of every object, left to right) and spatial words are true to the
pixels. Output is in the Kaggle Flickr30k layout so the real loader reads it::

    out/results.csv                 image_name| comment_number| comment
    out/flickr30k_images/000000.jpg
    out/shapes.json                 per-image ground truth (objects, bboxes, captions)
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from photoscribe.core.errors import DataError
from photoscribe.core.progress import ProgressCallback, ProgressTracker, check_cancel

logger = logging.getLogger(__name__)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (35, 75, 225),
    "yellow": (245, 215, 35),
    "purple": (135, 45, 175),
    "orange": (245, 130, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
SIZES: tuple[str, ...] = ("small", "large")
CAPTIONS_PER_IMAGE = 5
RESULTS_HEADER = "image_name| comment_number| comment"
IMAGE_DIR = "flickr30k_images"

# Object side as a fraction of the image side; the ranges are disjoint so "small"/"large" is true.
_SIZE_RANGE = {"small": (0.19, 0.25), "large": (0.32, 0.42)}
# Background gray levels: far from white (250) and black (15), with little saturation.
_GRAY_RANGE = {"light gray": (150, 180), "dark gray": (80, 105)}
_MAX_TINT = 8
_MIN_DX = 0.15  # minimum horizontal distance between object centres, as a fraction of the image
_GAP = 3  # pixels between bounding boxes
_POSITIONS = {
    (0, 0): "in the top left",
    (0, 1): "at the top",
    (0, 2): "in the top right",
    (1, 0): "on the left",
    (1, 1): "in the center",
    (1, 2): "on the right",
    (2, 0): "in the bottom left",
    (2, 1): "at the bottom",
    (2, 2): "in the bottom right",
}


@dataclass(frozen=True)
class ShapeObject:
    colour: str
    shape: str
    size: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        return (x0 + x1) / 2, (y0 + y1) / 2


def generate_shapes(
    out: Path,
    n_images: int,
    *,
    image_size: int = 128,
    seed: int = 0,
    max_objects: int = 3,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Write ``n_images`` captioned shape images under ``out`` and return ``out``.

    Image ``i`` depends only on ``(seed, i)``, so the same seed gives byte-identical
    ``results.csv`` and identical pixels, and a larger set extends a smaller one.
    """
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
    if not 1 <= max_objects <= 3:
        raise ValueError(f"max_objects must be 1, 2 or 3, got {max_objects}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the data set")
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    tracker = ProgressTracker("synth", n_images, on_progress)
    rows = [RESULTS_HEADER]
    truth = []
    for i in range(n_images):
        check_cancel(cancel)
        rng = np.random.default_rng([seed, i])
        image_id = f"{i:06d}.jpg"
        pixels, background = _background(rng, image_size)
        objects = _place(rng, int(rng.integers(1, max_objects + 1)), image_size)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for obj in objects:
            _draw(draw, obj)
        # 4:4:4 keeps small shapes' colours clean; 4:2:0 smears them into the background.
        image.save(image_dir / image_id, format="JPEG", quality=95, subsampling=0)
        captions = make_captions(objects, background["name"], image_size)
        rows += [f"{image_id}| {k}| {caption}" for k, caption in enumerate(captions)]
        truth.append(
            {
                "image_id": image_id,
                "file": f"{IMAGE_DIR}/{image_id}",
                "background": background,
                "objects": [asdict(o) for o in objects],
                "captions": captions,
            }
        )
        tracker.advance(message=captions[0])
    _write_text(out / "results.csv", "\n".join(rows) + "\n")
    meta = {
        "seed": seed,
        "image_size": image_size,
        "max_objects": max_objects,
        "colours": {k: list(v) for k, v in COLOURS.items()},
        "shapes": list(SHAPES),
        "images": truth,
    }
    _write_text(out / "shapes.json", json.dumps(meta, indent=1) + "\n")
    logger.info("wrote %d synthetic shape images to %s", n_images, out)
    return out


def make_captions(objects: list[ShapeObject], background: str, image_size: int) -> list[str]:
    """Five captions for objects sorted left to right; the first is the canonical one."""
    plain = [_a(f"{o.colour} {o.shape}") for o in objects]
    sized = [_a(f"{o.size} {o.colour} {o.shape}") for o in objects]
    on_bg = f"on {_a(background)} background"
    if len(objects) == 1:
        cx, cy = objects[0].centre
        cell = (min(2, int(3 * cy / image_size)), min(2, int(3 * cx / image_size)))
        return [
            plain[0],
            f"{plain[0]} {on_bg}",
            f"there is {plain[0]}",
            f"{sized[0]} {_POSITIONS[cell]}",
            f"a picture of {plain[0]}",
        ]
    if len(objects) == 2:
        a, b = plain
        return [
            f"{a} and {b}",
            f"{a} to the left of {b}",
            f"{b} to the right of {a}",
            f"{sized[0]} and {sized[1]} {on_bg}",
            f"a picture of {a} and {b}",
        ]
    if len(objects) == 3:
        a, b, c = plain
        return [
            f"{a}, {b} and {c}",
            f"{b} between {a} and {c}",
            f"{a} to the left of {b} and {c}",
            f"{c} to the right of {a} and {b}",
            f"{sized[0]}, {sized[1]} and {sized[2]} {on_bg}",
        ]
    raise ValueError(f"captions are defined for 1 to 3 objects, got {len(objects)}")


def _a(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict[str, str]]:
    """A gray (light or dark) background: plain, gradient or noisy, with a faint tint."""
    name = "light gray" if rng.random() < 0.5 else "dark gray"
    lo, hi = _GRAY_RANGE[name]
    kind = str(rng.choice(["plain", "gradient", "noisy"]))
    if kind == "gradient":
        start, end = rng.uniform(lo, hi, size=2)
        ramp = np.linspace(start, end, size)
        direction = int(rng.integers(3))
        if direction == 0:
            level = np.broadcast_to(ramp[None, :], (size, size))
        elif direction == 1:
            level = np.broadcast_to(ramp[:, None], (size, size))
        else:
            level = (ramp[None, :] + ramp[:, None]) / 2
    else:
        level = np.full((size, size), rng.uniform(lo, hi))
    tint = rng.integers(-_MAX_TINT, _MAX_TINT + 1, size=3)
    sigma = rng.uniform(2.5, 4.0) if kind == "noisy" else rng.uniform(0.0, 1.5)
    pixels = level[:, :, None] + tint[None, None, :] + rng.normal(0.0, sigma, size=(size, size, 3))
    pixels = np.clip(pixels, lo - 2 * _MAX_TINT, hi + 2 * _MAX_TINT)
    return np.ascontiguousarray(pixels.round().astype(np.uint8)), {"name": name, "kind": kind}


def _place(rng: np.random.Generator, n: int, size: int) -> list[ShapeObject]:
    """Non-overlapping objects with well separated centres, sorted left to right."""
    colours = [str(c) for c in rng.choice(list(COLOURS), size=n, replace=False)]
    shapes = [str(s) for s in rng.choice(SHAPES, size=n)]
    sizes = [str(s) for s in rng.choice(SIZES, size=n)]
    margin = max(2, size // 25)
    for attempt in range(50):
        if attempt >= 25:  # crowded: make everything small, which always fits
            sizes = ["small"] * n
        objects: list[ShapeObject] = []
        for colour, shape, size_name in zip(colours, shapes, sizes, strict=True):
            lo, hi = _SIZE_RANGE[size_name]
            side = round(rng.uniform(lo, hi) * size)
            for _ in range(100):
                x0, y0 = (int(v) for v in rng.integers(margin, size - margin - side + 1, size=2))
                obj = ShapeObject(colour, shape, size_name, (x0, y0, x0 + side, y0 + side))
                if all(_apart(obj, other, size) for other in objects):
                    objects.append(obj)
                    break
            else:
                break
        if len(objects) == n:
            return sorted(objects, key=lambda o: o.centre[0])
    raise RuntimeError(f"could not place {n} objects in a {size}px image")  # pragma: no cover


def _apart(a: ShapeObject, b: ShapeObject, size: int) -> bool:
    ax0, ay0, ax1, ay1 = a.bbox
    bx0, by0, bx1, by1 = b.bbox
    overlap = ax0 < bx1 + _GAP and bx0 < ax1 + _GAP and ay0 < by1 + _GAP and by0 < ay1 + _GAP
    return not overlap and abs(a.centre[0] - b.centre[0]) >= _MIN_DX * size


def _draw(draw: ImageDraw.ImageDraw, obj: ShapeObject) -> None:
    x0, y0, x1, y1 = obj.bbox
    x1, y1 = x1 - 1, y1 - 1  # PIL's boxes are inclusive
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    fill = COLOURS[obj.colour]
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(x0, y1), (x1, y1), (cx, y0)], fill=fill)
    elif obj.shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif obj.shape == "cross":
        arm = max(1.5, (x1 - x0) * 0.12)  # thin arms: at 64 px a fat cross looks like a diamond
        draw.rectangle((x0, cy - arm, x1, cy + arm), fill=fill)
        draw.rectangle((cx - arm, y0, cx + arm, y1), fill=fill)
    else:
        raise ValueError(f"unknown shape {obj.shape!r}; choose one of {', '.join(SHAPES)}")


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)

"""The synthetic captioned-shapes data set: deterministic, true to its pixels, readable by the loader."""

from __future__ import annotations

import argparse
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.errors import CancelledError
from photoscribe.core.progress import Progress
from photoscribe.training import cli
from photoscribe.training.datasets import load_corpus
from photoscribe.training.synth import COLOURS, SHAPES, generate_shapes

N_IMAGES = 40


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_shapes(tmp_path_factory.mktemp("shapes"), N_IMAGES, image_size=128, seed=5)


@pytest.fixture(scope="module")
def truth(shapes_dir: Path) -> dict:
    return json.loads((shapes_dir / "shapes.json").read_text(encoding="utf-8"))


def _pixels(shapes_dir: Path, image_id: str) -> np.ndarray:
    with Image.open(shapes_dir / "flickr30k_images" / image_id) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def _colour_mask(pixels: np.ndarray, colour: str, tol: float = 45.0) -> np.ndarray:
    return np.linalg.norm(pixels - np.array(COLOURS[colour], dtype=np.float32), axis=2) < tol


def test_same_seed_gives_identical_files_and_pixels(tmp_path: Path) -> None:
    a = generate_shapes(tmp_path / "a", 12, seed=1)
    b = generate_shapes(tmp_path / "b", 12, seed=1)
    c = generate_shapes(tmp_path / "c", 12, seed=2)

    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    assert (a / "results.csv").read_bytes() != (c / "results.csv").read_bytes()
    for i in range(12):
        name = f"{i:06d}.jpg"
        assert np.array_equal(_pixels(a, name), _pixels(b, name))
    assert not np.array_equal(_pixels(a, "000000.jpg"), _pixels(c, "000000.jpg"))


def test_results_csv_is_in_the_kaggle_flickr30k_format(shapes_dir: Path) -> None:
    lines = (shapes_dir / "results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "image_name| comment_number| comment"
    assert len(lines) == 1 + 5 * N_IMAGES
    assert all(re.fullmatch(r"\d{6}\.jpg\| [0-4]\| [a-z ,]+", line) for line in lines[1:])


def test_five_captions_per_image_through_the_real_loader(shapes_dir: Path, truth: dict) -> None:
    corpus = load_corpus(shapes_dir)

    assert corpus.format == "flickr30k"
    assert corpus.bad_rows == [] and corpus.missing_images == [] and corpus.dropped_captions == 0
    assert len(corpus.records) == N_IMAGES
    by_id = {img["image_id"]: img for img in truth["images"]}
    for record in corpus.records:
        assert len(record.captions) == 5
        assert len(set(record.captions)) == 5
        assert list(record.captions) == by_id[record.image_id]["captions"]
        assert record.path.is_file()


def test_canonical_caption_lists_every_object_left_to_right(truth: dict) -> None:
    counts = set()
    for image in truth["images"]:
        objects = image["objects"]
        counts.add(len(objects))
        assert 1 <= len(objects) <= 3
        assert len({o["colour"] for o in objects}) == len(objects)  # distinct colours
        centres = [(o["bbox"][0] + o["bbox"][2]) / 2 for o in objects]
        assert centres == sorted(centres)
        phrases = [
            f"{'an' if o['colour'][0] in 'aeiou' else 'a'} {o['colour']} {o['shape']}" for o in objects
        ]
        expected = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        assert image["captions"][0] == expected
        for o in objects:
            assert o["colour"] in COLOURS and o["shape"] in SHAPES and o["size"] in ("small", "large")
    assert counts == {1, 2, 3}


def test_spatial_relations_are_true_to_the_pixels(shapes_dir: Path, truth: dict) -> None:
    relation = re.compile(r"^an? (\w+) \w+ to the (left|right) of an? (\w+) \w+(?: and an? (\w+) \w+)?$")
    checked = 0
    for image in truth["images"]:
        pixels = _pixels(shapes_dir, image["image_id"])
        centroid_x = {}
        for o in image["objects"]:
            mask = _colour_mask(pixels, o["colour"])
            x0, y0, x1, y1 = o["bbox"]
            assert mask[y0:y1, x0:x1].sum() > 0.9 * mask.sum() > 0, (image["image_id"], o)
            centroid_x[o["colour"]] = float(np.nonzero(mask)[1].mean())
        for caption in image["captions"]:
            m = relation.match(caption)
            if m is None:
                continue
            subject, side, *others = m.groups()
            for other in filter(None, others):
                if side == "left":
                    assert centroid_x[subject] < centroid_x[other], (image["image_id"], caption)
                else:
                    assert centroid_x[subject] > centroid_x[other], (image["image_id"], caption)
                checked += 1
    assert checked > N_IMAGES // 2


def test_background_is_never_mistaken_for_a_shape_colour(shapes_dir: Path, truth: dict) -> None:
    for image in truth["images"]:
        pixels = _pixels(shapes_dir, image["image_id"])
        present = {o["colour"] for o in image["objects"]}
        for colour in set(COLOURS) - present:
            # Only anti-aliased edges between two shape colours may come close; never the background.
            assert _colour_mask(pixels, colour).mean() < 0.005, (image["image_id"], colour)


def test_sizes_and_single_object_positions_match_the_words(truth: dict) -> None:
    size = truth["image_size"]
    for image in truth["images"]:
        for o in image["objects"]:
            side = o["bbox"][2] - o["bbox"][0]
            assert (side > 0.3 * size) == (o["size"] == "large")
        if len(image["objects"]) == 1:
            x0, y0, x1, y1 = image["objects"][0]["bbox"]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            caption = image["captions"][3]
            assert ("left" in caption) == (cx < size / 3)
            assert ("right" in caption) == (cx > 2 * size / 3)
            assert ("top" in caption) == (cy < size / 3)
            assert ("bottom" in caption) == (cy > 2 * size / 3)


def test_progress_and_cancel(tmp_path: Path) -> None:
    seen: list[Progress] = []
    generate_shapes(tmp_path / "p", 7, on_progress=seen.append)
    assert [p.done for p in seen] == list(range(1, 8))
    assert seen[-1].total == 7 and seen[-1].stage == "synth"

    cancel = threading.Event()

    def stop_after_three(progress: Progress) -> None:
        if progress.done == 3:
            cancel.set()

    with pytest.raises(CancelledError):
        generate_shapes(tmp_path / "c", 10, on_progress=stop_after_three, cancel=cancel)
    assert not (tmp_path / "c" / "results.csv").exists()


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_objects"):
        generate_shapes(tmp_path, 1, max_objects=4)
    with pytest.raises(ValueError, match="n_images"):
        generate_shapes(tmp_path, 0)


def test_cli_data_synth_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="photoscribe")
    cli.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli-shapes"

    args = parser.parse_args(["data", "synth", "--out", str(out), "--images", "20", "--size", "64"])
    assert args.func(args) == 0
    with Image.open(out / "flickr30k_images" / "000019.jpg") as im:
        assert im.size == (64, 64)

    args = parser.parse_args(["data", "inspect", str(out), "--min-freq", "1"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "20 images with 100 captions" in printed
    assert "Vocabulary" in printed and "100.0%" in printed

    args = parser.parse_args(["data", "inspect", str(tmp_path / "nowhere")])
    assert args.func(args) == 1
    assert "not a folder" in capsys.readouterr().err

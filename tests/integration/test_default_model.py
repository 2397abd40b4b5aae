"""The default model shipped in the package: small, safe to load, and it captions real photos sensibly."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.model.checkpoint import load_checkpoint
from photoscribe.core.model.encoder import LITE0
from photoscribe.core.paths import bundled_model_path
from tests.helpers import SHARED_DATA

pytestmark = pytest.mark.bundled_model

DOG = re.compile(r"\b(dog|dogs|puppy)\b")
PERSON = re.compile(r"\b(man|men|woman|women|boy|boys|girl|girls|person|people|child|children|kid|kids)\b")


def _model() -> Path:
    path = bundled_model_path()
    assert path is not None, "resources/models/default.pt is missing from the package"
    return path


def _photos_whose_references_all_match(pattern: re.Pattern[str], limit: int) -> list[Path]:
    """Flickr8k photos (the subset at original size) whose five human captions all match ``pattern``."""
    folder = SHARED_DATA / "flickr8k-subset"
    if not folder.is_dir():
        pytest.skip(f"real photos not present at {folder} (a user's machine has no ../shared)")
    refs: dict[str, list[str]] = {}
    with (folder / "captions.txt").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            refs.setdefault(row["image"], []).append(row["caption"].lower())
    chosen = [name for name, caps in sorted(refs.items()) if all(pattern.search(c) for c in caps)]
    return [folder / "Images" / name for name in chosen[:limit]]


@pytest.fixture(scope="module")
def captioner() -> Iterator[Captioner]:
    with Captioner.load(_model(), beam_size=3, n_best=1, workers=1) as c:
        yield c


def test_the_bundled_model_is_a_small_fp16_lite0_checkpoint_that_loads_safely() -> None:
    path = _model()
    assert path.stat().st_size <= 25_000_000
    raw = torch.load(path, map_location="cpu", weights_only=True)  # no pickle code can run
    floats = [t for t in raw["decoder"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    assert raw["training"] is None
    ckpt = load_checkpoint(path)
    assert ckpt.config.encoder == LITE0 and ckpt.config.encoder_weights == "imagenet"
    assert ckpt.encoder_state is None  # the ImageNet encoder comes from the installed package
    assert "flickr8k" in str(ckpt.metadata.get("training_data", "")).lower()


@pytest.mark.slow
def test_real_dog_photos_are_captioned_with_the_word_dog(captioner: Captioner) -> None:
    photos = _photos_whose_references_all_match(DOG, 12)
    assert len(photos) == 12
    report = captioner.caption_paths(photos)
    assert not report.failures
    texts = [r.text for r in report.results]
    dogs = [t for t in texts if DOG.search(t)]
    assert len(dogs) >= 10, texts


@pytest.mark.slow
def test_real_photos_of_people_are_captioned_as_people(captioner: Captioner) -> None:
    photos = _photos_whose_references_all_match(PERSON, 12)
    texts = [r.text for r in captioner.caption_paths(photos).results]
    assert len(texts) == 12
    assert sum(bool(PERSON.search(t)) for t in texts) >= 10, texts
    assert len(set(texts)) >= 8, texts  # not one sentence for every photo


@pytest.mark.slow
def test_caption_with_no_flags_uses_the_default_model(tmp_path: Path) -> None:
    """`pip install` + `photoscribe caption photo.jpg`: no --model, no settings, a real caption."""
    photo = _photos_whose_references_all_match(DOG, 1)[0]
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSCRIBE_MODEL"}
    env["PHOTOSCRIBE_HOME"] = str(tmp_path / "fresh-home")
    out = subprocess.run([exe, "caption", str(photo)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert photo.name in out.stdout and DOG.search(out.stdout.lower()), out.stdout

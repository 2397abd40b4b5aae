"""Memory per photo is bounded by what decoding allocates (issue 12, item 2).

A 16-bit greyscale PNG of 10900x10900 (a quarter of a megabyte on disk, just under
the 120 MP limit) peaked at 5.1 GB in ``caption``: its pixels went through five
float64 copies. The peak RSS of a real ``photoscribe caption`` process is measured
here with ``getrusage(RUSAGE_CHILDREN)`` in a fresh parent, so nothing else counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.decode_budget import DecodeBudget, decode_cost
from photoscribe.core.files.imaging import load_image
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary

SIDE = 10_900

MAKE_PNG = """
import sys
import numpy as np
from PIL import Image
side = int(sys.argv[2])
pixels = np.zeros((side, side), np.uint16)
pixels[: side // 2] = 40000
Image.fromarray(pixels).save(sys.argv[1])
"""

PEAK = """
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(out.stdout)
sys.stderr.write(out.stderr)
print(f"PEAK_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(out.returncode)
"""


def photoscribe(*args: str) -> list[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe
    return [exe, *args]


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "grey16.png"
    subprocess.run([sys.executable, "-c", MAKE_PNG, str(path), str(SIDE)], check=True, timeout=600)
    with Image.open(path) as img:
        assert (img.mode, img.size) == ("I;16", (SIDE, SIDE))
    assert path.stat().st_size < 1_000_000
    return path


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


def _peak_run(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], int]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK, *photoscribe(*args)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )
    peak_kb = int(out.stderr.rsplit("PEAK_KB=", 1)[1].split()[0])
    return out, peak_kb * 1024


@pytest.mark.slow
def test_a_16bit_png_near_the_pixel_limit_is_captioned_in_bounded_memory(
    big_png: Path, model_file: Path
) -> None:
    out, peak = _peak_run(
        "caption", str(big_png), "--model", str(model_file), "--workers", "0", "--device", "cpu"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(big_png)) and len(out.stdout.split("\t")[1].split()) >= 1
    assert peak < 1.5 * 2**30, f"peak RSS {peak / 2**30:.2f} GB (it was 5.1 GB before the fix)"


@pytest.mark.slow
def test_an_image_over_the_decode_budget_is_a_per_file_error(
    big_png: Path, model_file: Path, tmp_path: Path
) -> None:
    small = tmp_path / "small.jpg"
    Image.fromarray(np.full((64, 80, 3), 200, np.uint8)).save(small)
    out, _peak = _peak_run(
        "caption",
        str(big_png),
        str(small),
        "--model",
        str(model_file),
        "--workers",
        "2",
        "--device",
        "cpu",
        env={"PHOTOSCRIBE_DECODE_BUDGET_MB": "64"},
    )
    assert out.returncode == 1
    assert out.stdout.startswith(str(small))  # the other file is captioned
    assert f"{big_png}: decoding it would take" in out.stderr and "64 MB decode budget" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_cost_follows_mode_and_bit_depth_and_reduction() -> None:
    size = (SIDE, SIDE)
    pixels = SIDE * SIDE
    assert decode_cost("I;16", size, 256) == 2 * pixels  # reduced a strip at a time
    assert decode_cost("I;16", size, None) == 18 * pixels  # full size through a wide copy
    assert decode_cost("L", size, 256) == pixels
    assert decode_cost("RGB", size, 256) == 4 * pixels  # Pillow keeps RGB in 32 bits
    assert decode_cost("P", size, 256) == 5 * pixels  # colours first, then reduced


def test_a_reduced_16bit_image_keeps_its_tones(tmp_path: Path) -> None:
    values = np.zeros((1200, 900), np.uint16)
    values[:600] = 65535
    values[600:] = 257 * 100
    Image.fromarray(values).save(tmp_path / "g.png")
    rgb = np.asarray(load_image(tmp_path / "g.png", target_size=256))
    assert rgb.shape == (400, 300, 3)  # reduced by 3: the short side stays >= 256
    assert (rgb[:200] == 255).all() and (rgb[200:] == 100).all()


def test_decodes_share_one_budget_and_wait_for_room(tmp_path: Path) -> None:
    budget = DecodeBudget(limit=100)
    with (
        pytest.raises(UnsupportedImageError, match="more than the 0 MB decode budget"),
        budget.reserve(tmp_path / "huge.png", 101),
    ):
        pass
    first_in, second_in, release = threading.Event(), threading.Event(), threading.Event()

    def hold(event: threading.Event, done: threading.Event | None) -> None:
        with budget.reserve(tmp_path / "x.png", 60):
            event.set()
            if done is not None:
                done.wait(60)

    first = threading.Thread(target=hold, args=(first_in, release))
    first.start()
    assert first_in.wait(60)
    second = threading.Thread(target=hold, args=(second_in, None))
    second.start()
    assert not second_in.wait(0.5)  # 60 + 60 > 100: it waits while the first one holds its share
    assert budget.used == 60
    release.set()
    assert second_in.wait(60)
    first.join(60)
    second.join(60)
    assert budget.used == 0

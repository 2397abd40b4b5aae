"""`photoscribe caption` and `photoscribe model info`, end to end through the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.cli.caption import resolve_model
from tests.helpers import WORDS, make_photos

pytestmark = pytest.mark.slow  # runs the photoscribe command in subprocesses


def photoscribe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe, "the photoscribe console script is not installed"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(
        tmp_path / "tiny.pt",
        tiny_model,
        tiny_vocab,
        {"training_data": "unit fixture", "metrics": {"CIDEr": 0.5}},
    )


def test_caption_folder_text_json_attention_and_failures(tmp_path: Path, model_file: Path) -> None:
    photos = make_photos(tmp_path / "album" / "sub", 3)
    (tmp_path / "album" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "album" / "readme.txt").write_text("not a photo")  # skipped by content sniffing

    text = photoscribe(
        "caption",
        str(tmp_path / "album"),
        str(tmp_path / "album" / "broken.jpg"),
        "--model",
        str(model_file),
        "--device",
        "cpu",
    )
    assert text.returncode == 1  # one file failed
    lines = [line for line in text.stdout.splitlines() if line.strip()]
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in photos]
    assert all(line.split("\t")[1].strip() for line in lines)
    assert "1 of 4 files failed" in text.stderr and "broken.jpg" in text.stderr

    out = photoscribe(
        "caption",
        str(photos[0]),
        "--model",
        str(model_file),
        "--json",
        "--n-best",
        "3",
        "--beam",
        "4",
        "--attention-out",
        str(tmp_path / "att"),
        "--device",
        "cpu",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    result = data["results"][0]
    assert result["path"] == str(photos[0]) and len(result["n_best"]) == 3
    scores = [alt["logprob"] for alt in result["n_best"]]
    assert scores == sorted(scores, reverse=True) and result["caption"] == result["n_best"][0]["caption"]
    pngs = sorted((tmp_path / "att").glob("photo00_*.png"))
    assert len(pngs) == len(result["caption"].split())
    assert Image.open(pngs[0]).size == (448, 448)


def test_model_info(model_file: Path) -> None:
    out = photoscribe("model", "info", str(model_file))
    assert out.returncode == 0
    assert "tinyresnet" in out.stdout and "unit fixture" in out.stdout and "CIDEr 0.500" in out.stdout
    assert f"vocabulary:   {len(WORDS) + 4} words" in out.stdout


def test_clear_errors_for_no_model_and_missing_encoder_weights(
    tmp_path: Path, tiny_vocab: Vocabulary
) -> None:
    photo = make_photos(tmp_path, 1)[0]
    home = {"PHOTOSCRIBE_HOME": str(tmp_path / "home"), "TORCH_HOME": str(tmp_path / "torch")}
    with pytest.raises(ModelLoadError, match="no captioning model"):  # the bundled one is hidden here
        resolve_model(None)
    cfg = ModelConfig(
        vocab_size=len(tiny_vocab), encoder="resnet50", embed_dim=8, hidden_dim=8, attention_dim=8
    )
    ckpt = save_checkpoint(tmp_path / "r50.pt", CaptionModel(cfg), tiny_vocab)
    missing = photoscribe("caption", str(photo), "--model", str(ckpt), env=home)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "resnet50-0676ba61.pth" in missing.stderr and "--encoder-weights" in missing.stderr
    hostile = tmp_path / "hostile.pt"
    hostile.write_bytes(b"\x80\x04\x95" + b"cos\nsystem\n" * 3)
    bad = photoscribe("caption", str(photo), "--model", str(hostile), env=home)
    assert bad.returncode == 2 and "not a safe photoscribe checkpoint" in bad.stderr


def test_caption_json_stays_valid_utf8_for_a_file_name_that_is_not(tmp_path: Path, model_file: Path) -> None:
    photo = make_photos(tmp_path / "album", 1)[0]
    odd = os.path.join(os.fsencode(tmp_path / "album"), b"caf\xe9.jpg")  # Latin-1, from an old drive
    shutil.copyfile(photo, odd)
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    raw = subprocess.run(
        [exe, "caption", str(tmp_path / "album"), "--model", str(model_file), "--json", "--device", "cpu"],
        capture_output=True,
        timeout=120,
    )
    assert raw.returncode == 0, raw.stderr
    data = json.loads(raw.stdout.decode("utf-8"))  # strict: valid UTF-8
    by_hex = {r.get("path_bytes_hex"): r for r in data["results"]}
    entry = by_hex[odd.hex()]
    assert entry["path"].endswith("caf\ufffd.jpg") and entry["caption"]
    assert len(data["results"]) == 2
    # plain text output prints the name as its own bytes, as ls does
    text = subprocess.run(
        [exe, "caption", str(tmp_path / "album"), "--model", str(model_file), "--device", "cpu"],
        capture_output=True,
        timeout=120,
    )
    assert text.returncode == 0 and odd in text.stdout and b"Traceback" not in text.stderr

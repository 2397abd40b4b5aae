"""A damaged or oversized checkpoint is refused before it is used (issue 20, items 3 and 5).

Real files damaged on disk, a real decompression bomb, the real ``photoscribe`` command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.model import checkpoint as checkpoint_module
from photoscribe.core.model.checkpoint import load_checkpoint, save_checkpoint
from photoscribe.core.model.checkpoint_file import MAX_EXPANSION, verify_checkpoint_file
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.integration.test_hostile_models import damage_copy

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "default.pt"

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


def peak_run(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``photoscribe ARGS`` from a fresh parent; its output and its peak RSS in bytes."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK, *photoscribe(*args)], capture_output=True, text=True, timeout=300
    )
    stderr, _, peak = out.stderr.rpartition("PEAK_KB=")
    out.stderr = stderr
    return out, int(peak.split()[0]) * 1024


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


@pytest.mark.slow
def test_a_damaged_copy_of_the_default_model_is_refused_in_one_line(tmp_path: Path) -> None:
    """The issue's case: 80 KB of one tensor of the 19.5 MB default model overwritten, same size.
    ``model info`` said nothing was wrong; ``caption`` captioned with it."""
    assert DEFAULT_MODEL.is_file()
    damaged = damage_copy(DEFAULT_MODEL, tmp_path / "default-copy.pt")
    with zipfile.ZipFile(DEFAULT_MODEL) as archive:
        member = max(archive.infolist(), key=lambda m: m.file_size).filename
    photo = next((DEFAULT_MODEL.parents[1] / "demo").glob("*.jpg"))
    for args in (("model", "info", str(damaged)), ("caption", str(photo), "--model", str(damaged))):
        out = subprocess.run(photoscribe(*args), capture_output=True, text=True, timeout=300)
        assert out.returncode == 2, out.stderr
        assert out.stdout == ""
        assert out.stderr.strip().splitlines() == [
            f"photoscribe: error: {damaged} is damaged: its contents do not match the checksums stored "
            f"in it (Bad CRC-32 for file {member!r}); copy or download the model again"
        ]


@pytest.mark.slow
def test_the_content_hash_is_the_files_identity(tmp_path: Path, model_file: Path) -> None:
    """Byte-identical copies share it; a copy with other weights but the same declared id does not.
    Checkpoints written before the hash existed carry nothing new: the zip's own CRC-32s are checked."""
    copy = tmp_path / "copy.pt"
    shutil.copyfile(model_file, copy)
    edited = tmp_path / "edited.pt"
    payload = torch.load(model_file, weights_only=True)
    payload["decoder"]["fc.bias"] += 1.0
    torch.save(payload, edited)  # what any older release wrote: torch.save of the same dict
    a, b, c = (load_checkpoint(p) for p in (model_file, copy, edited))
    assert a.content_hash == b.content_hash == verify_checkpoint_file(model_file)[1]
    assert a.model_id == c.model_id and a.content_hash != c.content_hash
    assert a.failure_id == f"{a.model_id}@sha256:{a.content_hash[:16]}" != c.failure_id
    out = subprocess.run(photoscribe("model", "info", str(model_file)), capture_output=True, text=True)
    assert out.returncode == 0 and f"sha256:       {a.content_hash}" in out.stdout


def _deflate_copy(source: Path, target: Path) -> Path:
    """``source`` re-zipped with every member deflated (a checkpoint torch still reads)."""
    with (
        zipfile.ZipFile(source) as src,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        for info in src.infolist():
            with src.open(info) as r, dst.open(info.filename, "w", force_zip64=True) as w:
                shutil.copyfileobj(r, w, 1 << 20)
    return target


@pytest.mark.slow
def test_a_compressed_tensor_bomb_is_refused_before_anything_is_decompressed(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    """A 2 MB file whose deflated 128 MiB of zeros torch.load expanded (the issue's 19 MB file
    held 2 GiB and peaked at 3 GB in ``model info``): the zip's declared sizes refuse it."""
    plain = save_checkpoint(
        tmp_path / "plain.pt", tiny_model, tiny_vocab, training_state={"blob": torch.zeros(2**25)}
    )
    bomb = _deflate_copy(plain, tmp_path / "bomb.pt")
    plain.unlink()
    assert bomb.stat().st_size < 4 * 2**20
    with zipfile.ZipFile(bomb) as archive:
        assert sum(m.file_size for m in archive.infolist()) > 128 * 2**20
    out, peak = peak_run("model", "info", str(bomb))
    assert out.returncode == 2, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert f"{bomb} is refused: its member" in line and "(a decompression bomb)" in line
    assert peak < 150 * 2**20, f"peak RSS {peak / 2**20:.0f} MB: the bomb was expanded"

    # Honest compression (a checkpoint zipped by hand) is no bomb: it loads.
    honest = _deflate_copy(save_checkpoint(tmp_path / "t.pt", tiny_model, tiny_vocab), tmp_path / "z.pt")
    with zipfile.ZipFile(honest) as archive:
        assert all(m.file_size <= MAX_EXPANSION * m.compress_size + 65536 for m in archive.infolist())
    assert load_checkpoint(honest).config == tiny_model.config


def test_oversized_declared_tensors_are_refused_before_any_is_read(
    tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pickle is read alone first, every tensor on the meta device: sizes and shapes are known
    before a byte of weights is. With the bound lowered below this checkpoint's tensors, torch.load
    never reads them."""
    calls: list[object] = []
    real_load = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setattr(checkpoint_module, "MAX_CHECKPOINT_BYTES", 100_000)
    with pytest.raises(ModelLoadError, match=r"its tensors declare .* more than"):
        load_checkpoint(model_file)
    assert calls == ["meta"]
    # Shapes that do not fit the config are refused from the meta pass too.
    monkeypatch.setattr(checkpoint_module, "MAX_CHECKPOINT_BYTES", 2**31)
    payload = real_load(model_file, weights_only=True)
    payload["decoder"]["fc.weight"] = torch.zeros(3, 3)
    wrong = tmp_path / "wrong.pt"
    torch.save(payload, wrong)
    calls.clear()
    with pytest.raises(ModelLoadError, match=r"shape \(3, 3\)"):
        load_checkpoint(wrong)
    assert calls == ["meta"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["device", "folder", "fifo"])
def test_a_model_path_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    target = {"device": Path("/dev/zero"), "folder": tmp_path}.get(kind)
    if target is None:
        target = tmp_path / "model.fifo"
        os.mkfifo(target)
    link = tmp_path / "model.pt"
    link.symlink_to(target)
    out = subprocess.run(photoscribe("model", "info", str(link)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    noun = {"device": "a device", "folder": "a folder", "fifo": "a pipe (FIFO)"}[kind]
    assert out.stderr.strip() == f"photoscribe: error: model file {link} is {noun}, not a checkpoint file"


def test_a_compressed_bomb_as_encoder_weights_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    from photoscribe.core.model.weights import load_encoder_state

    plain = tmp_path / "weights.pth"
    torch.save({"conv1.weight": torch.zeros(2**24)}, plain)
    bomb = _deflate_copy(plain, tmp_path / "resnet18-bomb.pth")
    with pytest.raises(ModelLoadError, match=r"would expand from .* \(a decompression bomb\)"):
        load_encoder_state("resnet18", bomb)

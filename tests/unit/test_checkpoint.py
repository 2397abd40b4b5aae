"""Checkpoints: round trip, schema checks, hostile files, offline encoder weights."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from photoscribe.core.errors import AssetMissingError, ModelLoadError
from photoscribe.core.model.checkpoint import load_checkpoint, load_model, save_checkpoint
from photoscribe.core.model.decoding import beam_search
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.model.weights import find_encoder_weights, hub_cache_path


def test_round_trip_gives_identical_outputs(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    path = save_checkpoint(
        tmp_path / "m.pt", tiny_model, tiny_vocab, {"training_data": "unit", "metrics": {"CIDEr": 1.5}}
    )
    model, ckpt = load_model(path)
    assert ckpt.vocab == tiny_vocab and ckpt.config == tiny_model.config
    assert ckpt.metadata["metrics"] == {"CIDEr": 1.5} and ckpt.model_id.startswith("m-")
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a = beam_search(tiny_model.decoder, tiny_model.encode(images), beam_size=3)
        b = beam_search(model.decoder, model.encode(images), beam_size=3)
    assert [h[0].tokens for h in a] == [h[0].tokens for h in b]
    assert [h[0].logprob for h in a] == [h[0].logprob for h in b]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_a_checkpoint_named_near_the_byte_limit_is_written(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    path = tmp_path / ("m" * 252 + ".pt")  # 255 bytes: its temporary file must have a shorter name
    save_checkpoint(path, tiny_model, tiny_vocab)
    assert load_checkpoint(path).vocab.itos == tiny_vocab.itos
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_checkpoint_with_the_old_config_layout_still_loads(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary
) -> None:
    """Checkpoints written before ``ModelConfig.extra`` was removed (the bundled default.pt too)
    store ``"extra": {}`` in their config; they load to the same model."""
    data = torch.load(save_checkpoint(tmp_path / "new.pt", tiny_model, tiny_vocab), weights_only=True)
    assert "extra" not in data["config"]
    data["config"]["extra"] = {}
    old = tmp_path / "old.pt"
    torch.save(data, old)
    model, ckpt = load_model(old)
    assert ckpt.config == tiny_model.config
    for name, value in tiny_model.decoder.state_dict().items():
        torch.testing.assert_close(model.decoder.state_dict()[name], value, rtol=0, atol=0)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/photoscribe_pwned",))


def test_pickle_payload_is_refused(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> None:
    path = tmp_path / "evil.pt"
    good = torch.load(save_checkpoint(tmp_path / "g.pt", tiny_model, tiny_vocab), weights_only=True)
    good["metadata"]["payload"] = _Evil()
    torch.save(good, path)
    marker = Path("/tmp/photoscribe_pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="not a safe photoscribe checkpoint") as err:
        load_checkpoint(path)
    assert not marker.exists()
    assert "could run code" in str(err.value)
    assert "weights_only" not in str(err.value)  # no advice to turn the protection off


def test_plain_pickle_and_garbage_are_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"format": "photoscribe-checkpoint"}))
    with pytest.raises(ModelLoadError):
        load_checkpoint(raw)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError):
        load_checkpoint(junk)
    with pytest.raises(ModelLoadError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    # a truncated zip (interrupted copy)
    good = tmp_path / "zip.pt"
    torch.save({"a": torch.zeros(10)}, good)
    good.write_bytes(good.read_bytes()[:50])
    with pytest.raises(ModelLoadError):
        load_checkpoint(good)
    assert not zipfile.is_zipfile(good)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load_checkpoint(empty)


@pytest.mark.slow
def test_model_info_refuses_a_bad_file_without_importing_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "photo.pt"
    bad.write_bytes(b"\xff\xd8\xff\xe0 a JPEG renamed")
    code = (
        "import sys\n"
        "from photoscribe.desktop.cli import main\n"
        "rc = main(['model', 'info', sys.argv[1]])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "not a safe photoscribe checkpoint" in out.stderr, out.stderr


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.pop("format"), "not a photoscribe checkpoint"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(config={**d["config"], "bogus": 1}), "invalid model config"),
        (lambda d: d["vocab"]["itos"].append("extra"), "vocabulary has"),
        (lambda d: d.update(decoder={"fc.weight": "not a tensor"}), "must be tensors"),
        (lambda d: d.update(encoder=None), "encoder weights should be in the checkpoint"),
        (lambda d: d["decoder"].pop("fc.weight"), "do not fit"),
        # crafted sizes: refused from the config, before anything is allocated
        (lambda d: d.update(config={**d["config"], "embed_dim": 100_000_000}), "embed_dim must be"),
        (lambda d: d.update(config={**d["config"], "hidden_dim": 10**8}), "hidden_dim must be"),
        (lambda d: d.update(config={**d["config"], "image_size": -224}), "image_size must be"),
        (lambda d: d.update(config={**d["config"], "dropout": float("nan")}), "dropout must be"),
        # weights whose shapes do not match the config
        (lambda d: d["decoder"].update({"fc.weight": torch.zeros(3, 3)}), r"shape \(3, 3\)"),
        (lambda d: d["decoder"].update({"extra.weight": torch.zeros(1)}), "1 unexpected"),
    ],
)
def test_schema_mismatch_is_refused(
    tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary, mutate, message: str
) -> None:
    data = torch.load(save_checkpoint(tmp_path / "g.pt", tiny_model, tiny_vocab), weights_only=True)
    mutate(data)
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)
    with pytest.raises(ModelLoadError, match=message):
        load_model(bad)


def test_imagenet_encoder_not_stored_and_missing_weights_explained(
    tmp_path: Path, tiny_vocab: Vocabulary
) -> None:
    cfg = ModelConfig(
        vocab_size=len(tiny_vocab), encoder="resnet18", embed_dim=8, hidden_dim=8, attention_dim=8
    )
    path = save_checkpoint(tmp_path / "r18.pt", CaptionModel(cfg), tiny_vocab)
    assert load_checkpoint(path).encoder_state is None
    assert path.stat().st_size < 1_000_000  # the 45 MB ResNet is not copied into the file
    with pytest.raises(AssetMissingError) as err:
        load_model(path)
    msg = str(err.value)
    assert (
        "resnet18-f37072fd.pth" in msg
        and str(hub_cache_path("resnet18")) in msg
        and "--encoder-weights" in msg
    )


def test_local_encoder_weights_are_found_and_loaded(
    tmp_path: Path, tiny_vocab: Vocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    weights = tmp_path / "resnet18-local.pth"
    torch.save(reference.state_dict(), weights)
    cfg = ModelConfig(
        vocab_size=len(tiny_vocab), encoder="resnet18", embed_dim=8, hidden_dim=8, attention_dim=8
    )
    path = save_checkpoint(tmp_path / "r18.pt", CaptionModel(cfg), tiny_vocab)
    model, _ = load_model(path, encoder_weights=weights)
    torch.testing.assert_close(model.encoder.body[0].weight, reference.conv1.weight)
    torch.testing.assert_close(model.encoder.body[7][1].bn2.running_var, reference.layer4[1].bn2.running_var)
    # the same file found through the environment variable and through the hub cache
    monkeypatch.setenv("PHOTOSCRIBE_ENCODER_WEIGHTS", str(weights))
    assert find_encoder_weights("resnet18") == weights
    monkeypatch.delenv("PHOTOSCRIBE_ENCODER_WEIGHTS")
    cached = hub_cache_path("resnet18")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights.read_bytes())
    assert find_encoder_weights("resnet18") == cached
    load_model(path)

"""Downloading a ResNet's ImageNet weights as torchvision does: hash-checked, into the hub cache.

These machines are offline, so the network is a local ``file://`` URL (or a closed port)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from photoscribe.core.errors import AssetMissingError, CancelledError
from photoscribe.core.model import weights
from photoscribe.core.model.weights import download_encoder_weights, find_encoder_weights, hub_cache_path
from photoscribe.core.progress import Progress
from photoscribe.desktop.cli import main as cli_main


def _served(tmp_path: Path, payload: bytes) -> str:
    source = tmp_path / "server" / "weights.pth"
    source.parent.mkdir()
    source.write_bytes(payload)
    return source.as_uri()


def test_a_file_with_the_right_hash_lands_in_the_hub_cache_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"weights " * 50_000
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    target = tmp_path / "hub" / "checkpoints" / f"resnet18-{prefix}.pth"
    monkeypatch.setattr(weights, "hub_cache_path", lambda name: target)
    seen: list[Progress] = []
    path = download_encoder_weights("resnet18", url=_served(tmp_path, payload), on_progress=seen.append)
    assert path == target and target.read_bytes() == payload
    assert seen[-1].stage == "download" and seen[-1].done == len(payload) and seen[-1].total == len(payload)
    assert find_encoder_weights("resnet18") == target
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left


def test_a_file_whose_hash_does_not_match_is_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    target = hub_cache_path("resnet18")  # resnet18-f37072fd.pth: the hash prefix is in the name
    with pytest.raises(AssetMissingError, match="corrupt"):
        download_encoder_weights("resnet18", url=_served(tmp_path, b"not the real weights"))
    assert not target.exists() and not list(target.parent.glob("*.partial"))
    with pytest.raises(AssetMissingError, match=r"resnet18-f37072fd\.pth"):
        find_encoder_weights("resnet18")


def test_offline_says_what_to_download_and_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(AssetMissingError) as err:
        download_encoder_weights("resnet18", url="http://127.0.0.1:9/resnet18-f37072fd.pth", timeout=5)
    assert str(hub_cache_path("resnet18")) in str(err.value)
    assert not hub_cache_path("resnet18").exists()


def test_cancel_stops_the_download_and_leaves_no_partial_file(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        download_encoder_weights("resnet18", url=_served(tmp_path, b"x" * 200_000), cancel=cancel)
    folder = hub_cache_path("resnet18").parent
    assert not any(folder.iterdir())


def test_the_cli_command_reports_a_refused_file_as_an_error(tmp_path: Path, capsys) -> None:
    code = cli_main(["model", "download-encoder", "resnet18", "--url", _served(tmp_path, b"bad")])
    assert code == 2 and "corrupt" in capsys.readouterr().err
    assert cli_main(["model", "download-encoder", "efficientnet-lite0"]) == 0
    assert "efficientnet-lite0-57934424.pth" in capsys.readouterr().out


def test_the_torch_free_table_matches_torchvision_and_the_hub_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from torchvision import models

    from photoscribe.core.model import encoder_files

    enums = {
        "resnet18": models.ResNet18_Weights,
        "resnet34": models.ResNet34_Weights,
        "resnet50": models.ResNet50_Weights,
        "resnet101": models.ResNet101_Weights,
        "resnet152": models.ResNet152_Weights,
    }
    assert {n: e.IMAGENET1K_V1.url for n, e in enums.items()} == encoder_files.RESNET_WEIGHTS_URLS
    for torch_home in (None, "/tmp/somewhere/torch"):
        if torch_home is None:
            monkeypatch.delenv("TORCH_HOME", raising=False)
            monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")
        else:
            monkeypatch.setenv("TORCH_HOME", torch_home)
        assert encoder_files.torch_hub_dir() == Path(torch.hub.get_dir())


@pytest.mark.slow
def test_the_app_and_the_cli_parser_start_without_importing_torch() -> None:
    """The window appears before torch loads (the model loads in the background)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import photoscribe.desktop.app, photoscribe.desktop.cli\n"
        "photoscribe.desktop.cli.build_parser()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

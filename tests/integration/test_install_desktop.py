"""``photoscribe install-desktop``: the menu entry, icons and metainfo in a temporary XDG data folder,
checked by the freedesktop validators, and removed again by ``--uninstall``."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core import desktop_entry
from photoscribe.core.desktop_entry import APP_ID, ICON_SIZES
from photoscribe.desktop.cli import main


def validate(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: desktop-file-utils, appstream)")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def entry_fields(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_install_writes_files_the_validators_accept(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-desktop", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    entry = data_home / "applications" / f"{APP_ID}.desktop"
    metainfo = data_home / "metainfo" / f"{APP_ID}.metainfo.xml"
    assert report["data_home"] == str(data_home)
    assert sorted(report["files"]) == sorted(
        str(p) for p in data_home.rglob("*") if p.is_file() and p.name != "mimeinfo.cache"
    )
    assert len(report["files"]) == len(ICON_SIZES) + 3

    done = validate("desktop-file-validate", str(entry))
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    done = validate("appstreamcli", "validate", "--no-net", str(metainfo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'<launchable type="desktop-id">{APP_ID}.desktop</launchable>' in metainfo.read_text()

    # every PNG is the size its folder names, rendered from the SVG (the blue tile, a clear corner)
    for size in ICON_SIZES:
        with Image.open(data_home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as png:
            assert png.size == (size, size)
            rgba = png.convert("RGBA")
            assert rgba.getpixel((0, 0))[3] == 0
            assert rgba.getpixel((size // 2, size - 1 - size // 16))[:3] != (0, 0, 0)
    svg = data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert svg.read_bytes().startswith(b"<?xml")
    assert entry_fields(entry)["Icon"] == APP_ID


@pytest.mark.slow
def test_exec_is_the_absolute_launcher_of_this_install_and_opens_files(data_home: Path) -> None:
    assert main(["install-desktop"]) == 0
    fields = entry_fields(data_home / "applications" / f"{APP_ID}.desktop")
    program, *args = shlex.split(fields["Exec"])
    assert os.path.isabs(program)
    assert Path(program) == Path(sys.executable).absolute().parent / "photoscribe"
    assert os.access(program, os.X_OK)
    assert args == ["gui", "%F"]
    assert fields["TryExec"] == program
    # the launcher it names really is photoscribe
    done = subprocess.run([program, "install-desktop", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--uninstall" in done.stdout


def test_a_launcher_path_with_spaces_is_quoted_as_the_spec_asks(tmp_path: Path) -> None:
    launcher = tmp_path / "my apps" / "photo$cribe" / "photoscribe"
    desktop_entry.install(tmp_path / "share", launcher, refresh=False)
    entry = tmp_path / "share" / "applications" / f"{APP_ID}.desktop"
    fields = entry_fields(entry)
    assert fields["Exec"] == f'"{tmp_path}/my apps/photo\\\\$cribe/photoscribe" gui %F'
    done = validate("desktop-file-validate", str(entry))
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_uninstall_removes_exactly_what_install_wrote(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_entry = data_home / "applications" / "org.example.Other.desktop"
    other_icon = data_home / "icons" / "hicolor" / "48x48" / "apps" / "org.example.Other.png"
    for path in (other_entry, other_icon):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("another application's file")
    assert main(["install-desktop", "--json"]) == 0
    written = set(json.loads(capsys.readouterr().out)["files"])

    assert main(["install-desktop", "--uninstall", "--json"]) == 0
    removed = set(json.loads(capsys.readouterr().out)["files"])
    assert removed == written
    assert not any(APP_ID in p.name for p in data_home.rglob("*"))
    assert other_entry.read_text() == other_icon.read_text() == "another application's file"

    assert main(["install-desktop", "--uninstall"]) == 0  # a second time: nothing left, says so
    assert "nothing to remove" in capsys.readouterr().out


def test_the_metainfo_lists_screenshots_when_the_package_names_its_repository(tmp_path: Path) -> None:
    text = desktop_entry.metainfo("0.1.0", "https://github.com/example/photoscribe")
    assert "https://github.com/example/photoscribe/raw/HEAD/docs/screenshots/main_window.png" in text
    for name, _caption in desktop_entry.SCREENSHOTS:
        assert (Path(__file__).resolve().parents[2] / "docs" / "screenshots" / name).is_file()
    path = tmp_path / f"{APP_ID}.metainfo.xml"
    path.write_text(text)
    done = validate("appstreamcli", "validate", "--no-net", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_installed_version_has_a_release_entry() -> None:
    assert desktop_entry.package_version() in {version for version, _date in desktop_entry.RELEASES}


def test_without_a_launcher_it_says_what_to_do(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "nowhere" / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["install-desktop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("photoscribe: error: No photoscribe launcher was found") and "pipx" in err
    assert err.count("\n") == 1
    assert not data_home.exists()


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(monkeypatch: pytest.MonkeyPatch) -> None:
    assert desktop_entry.data_home({"XDG_DATA_HOME": "relative/share"}) == Path.home() / ".local" / "share"
    assert desktop_entry.data_home({"XDG_DATA_HOME": ""}) == Path.home() / ".local" / "share"
    assert desktop_entry.data_home({"XDG_DATA_HOME": "/srv/share"}) == Path("/srv/share")


def test_a_folder_that_cannot_be_written_is_said_in_one_sentence(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a file where the metainfo folder should be: mkdir fails for root too (unlike a chmod)
    data_home.mkdir()
    (data_home / "metainfo").write_text("not a folder")
    assert main(["install-desktop"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"photoscribe: error: {data_home}/metainfo/{APP_ID}.metainfo.xml could not be written"
    )
    assert "XDG_DATA_HOME" in err and err.count("\n") == 1
    assert not (data_home / "applications").exists()  # the menu entry is written last: no half entry


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_on_macos_and_windows_it_refuses_in_one_sentence(
    platform: str, data_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert main(["install-desktop"]) == 2
    err = capsys.readouterr().err
    assert "Linux and BSD desktops" in err and err.count("\n") == 1
    assert not data_home.exists()

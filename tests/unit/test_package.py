"""The installable package: ``--version``, ``python -m photoscribe``, no display, what the wheel carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import photoscribe
from photoscribe.core.version import __version__
from photoscribe.desktop.cli import app_main, main
from photoscribe.desktop.cli.display import NO_DISPLAY, display_missing

ROOT = Path(__file__).resolve().parents[2]


def _photoscribe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photoscribe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert photoscribe.__version__ == __version__ and __version__.count(".") == 2
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"photoscribe {__version__}\n"


@pytest.mark.slow
def test_python_m_photoscribe_is_the_command_line(tmp_path: Path) -> None:
    done = _photoscribe("--version")
    assert (done.returncode, done.stdout) == (0, f"photoscribe {__version__}\n")
    db = str(tmp_path / "library.sqlite3")
    done = _photoscribe("library", "--db", db, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["library"] == db
    # The package itself loads nothing heavy.
    probe = "import sys, photoscribe; print(sorted({'torch', 'PySide6'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_display_missing_only_on_linux_without_a_display_or_a_qt_platform() -> None:
    assert display_missing({}, "linux")
    assert display_missing({"DISPLAY": "", "WAYLAND_DISPLAY": ""}, "linux")
    for name, value in (
        ("DISPLAY", ":0"),
        ("WAYLAND_DISPLAY", "wayland-0"),
        ("QT_QPA_PLATFORM", "offscreen"),
    ):
        assert not display_missing({name: value}, "linux")
    assert not display_missing({}, "darwin") and not display_missing({}, "win32")
    # a platform that needs a display, without it
    assert display_missing({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert display_missing({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ""}, "linux")
    assert not display_missing({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":1"}, "linux")
    assert not display_missing({"QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}, "linux")


@pytest.mark.slow
@pytest.mark.parametrize("argv", [(), ("gui",), ("demo",)])
def test_the_app_without_a_display_says_so_in_one_sentence_and_exits_2(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    """Before: Qt aborted the process (SIGABRT, exit code 134) with a page of plugin messages."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env["PHOTOSCRIBE_HOME"] = str(tmp_path / "home")
    done = _photoscribe(*argv, env=env)
    assert done.returncode == 2
    assert done.stderr == f"photoscribe: error: {NO_DISPLAY}\n" and done.stdout == ""
    assert not (tmp_path / "home").exists()  # the demo did not caption its photos first


def test_photoscribe_app_is_the_gui_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(sys, "argv", ["photoscribe-app", "--db", "/nonexistent/library.sqlite3"])
    assert app_main() == 2
    assert capsys.readouterr().err == f"photoscribe: error: {NO_DISPLAY}\n"


def _build(tmp_path: Path) -> tuple[zipfile.ZipFile, tarfile.TarFile]:
    """Build the sdist and the wheel from a copy of the checkout (no build files left in it)."""
    src = tmp_path / "src"
    junk = (".venv", ".git", "__pycache__", "build", "dist", "*.egg-info", "*_cache", "runs")
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*junk), symlinks=True)
    out = tmp_path / "dist"
    code = (
        "import sys; from setuptools import build_meta as b; out = sys.argv[1]; "  # build_meta resets argv
        "b.build_sdist(out); b.build_wheel(out)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return zipfile.ZipFile(wheel), tarfile.open(sdist)


@pytest.mark.slow
def test_the_wheel_and_sdist_carry_the_licence_metadata_and_entry_points(tmp_path: Path) -> None:
    wheel, sdist = _build(tmp_path)
    names = wheel.namelist()
    dist_info = f"photoscribe-{__version__}.dist-info"
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert f"photoscribe-{__version__}/LICENSE" in sdist.getnames()
    assert b"MIT License" in (ROOT / "LICENSE").read_bytes()
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert f"Version: {__version__}\n" in metadata and "License-Expression: MIT\n" in metadata
    assert (
        "Classifier: Intended Audience :: End Users/Desktop" in metadata and "Project-URL: Source" in metadata
    )
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    # pycocoevalcap (104 MB of Java jars) only with the eval extra; pillow-heif with heif
    assert 'Requires-Dist: pycocoevalcap>=1.2; extra == "eval"' in requires
    assert not [r for r in requires if "pycocoevalcap" in r and "extra" not in r]
    assert 'Requires-Dist: pillow-heif>=0.16; extra == "heif"' in requires
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "photoscribe = photoscribe.desktop.cli:main" in entry_points
    assert "[gui_scripts]\nphotoscribe-app = photoscribe.desktop.cli:app_main" in entry_points
    assert {"photoscribe/__init__.py", "photoscribe/__main__.py", "photoscribe/core/version.py"} <= set(names)
    photos = sorted(n for n in names if n.startswith("photoscribe/resources/demo/") and n.endswith(".jpg"))
    assert len(photos) == 18 and "photoscribe/resources/demo/CREDITS.md" in names
    assert "photoscribe/resources/models/NOTICE.md" in names  # the weights' terms, beside them
    assert not [n for n in names if "desktop/package" in n]  # it is `photoscribe` itself in the wheel

"""The Linux menu entry, icons and AppStream metainfo that ``photoscribe install-desktop`` writes.

Everything comes from the installed package (``photoscribe.resources``): the menu entry's template
``photoscribe.desktop``, the SVG icon and its PNG renderings (``icons/photoscribe-N.png``, made by
``scripts/render_icons.py``). The files go into the user's XDG data folder (``$XDG_DATA_HOME``, else
``~/.local/share``) under the reverse-DNS application id, which the app also sets as its desktop file
name so that Wayland compositors match its window to the menu entry. No Qt here: the command runs
headless.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from photoscribe.core.errors import AssetMissingError, PhotoscribeError

log = logging.getLogger(__name__)

APP_ID = "app.photoscribe.Photoscribe"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Newest first. A test checks the installed version is listed: add a line with each release.
RELEASES = (("0.1.0", "2026-12-06"),)
SCREENSHOTS = (
    ("main_window.png", "The library: photos with their captions, folders and search"),
    ("demo_library.png", "The demo library of real photos captioned by the bundled model"),
    ("retrain.png", "Training a model on your own captions"),
)
DEFAULT_SHOT = ' type="default"'
TEMPLATE = "photoscribe.desktop"
SVG_ICON = "photoscribe.svg"
# Characters an Exec program path may hold unquoted (the Desktop Entry spec's reserved ones excluded).
_PLAIN = re.compile(r"[A-Za-z0-9/_.+,:@=-]+")


@dataclass(frozen=True)
class DesktopFiles:
    """What one install or uninstall did: the files written or removed and the caches refreshed."""

    data_home: Path
    files: list[Path]
    launcher: Path | None = None
    refreshed: list[str] = field(default_factory=list)


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` when it is an absolute path (the spec says to ignore anything else), else
    ``~/.local/share``."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def target_files(home: Path) -> list[Path]:
    """Every file install writes under ``home`` and uninstall removes, in that order."""
    icons = home / "icons" / "hicolor"
    return [
        *(icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png" for size in ICON_SIZES),
        icons / "scalable" / "apps" / f"{APP_ID}.svg",
        home / "metainfo" / f"{APP_ID}.metainfo.xml",
        home / "applications" / f"{APP_ID}.desktop",
    ]


def find_launcher() -> Path:
    """The absolute path of the installed ``photoscribe`` command the menu entry starts.

    The standalone bundle is its own launcher; an install by pip or pipx puts the launcher beside the
    interpreter; otherwise the one on ``PATH``.

    Raises:
        AssetMissingError: there is no launcher to point the menu entry at.
    """
    if getattr(sys, "frozen", False):
        return Path(sys.executable).absolute()
    beside = Path(sys.executable).absolute().parent / "photoscribe"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("photoscribe")
    if found:
        return Path(found).absolute()
    raise AssetMissingError(
        f"No photoscribe launcher was found beside {sys.executable} or on PATH, so the menu entry would "
        "have nothing to start; install photoscribe with pip or pipx (which create the launcher) and run "
        "photoscribe install-desktop again"
    )


def exec_program(path: Path) -> str:
    """``path`` as the program of an ``Exec`` key: quoted and escaped as the Desktop Entry spec asks
    when it holds spaces or reserved characters."""
    text = str(path)
    if _PLAIN.fullmatch(text):
        return text
    quoted = re.sub(r'(["`$\\])', r"\\\1", text).replace("%", "%%")
    # The value of a string key is unescaped once more before Exec is parsed: double each backslash.
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(launcher: Path) -> str:
    """The menu entry: the packaged template with the absolute launcher in ``Exec`` and ``TryExec``."""
    template = _resource(TEMPLATE).read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0]
        if key == "Exec":
            # photoscribe gui %F -> /abs/path/photoscribe gui %F
            args = line.split("=", 1)[1].split(" ", 1)[1]
            line = f"Exec={exec_program(launcher)} {args}"
        elif key == "TryExec":
            continue
        lines.append(line)
        if key == "Exec":
            lines.append(f"TryExec={_escape_string(str(launcher))}")
    return "\n".join(lines) + "\n"


def package_version() -> str:
    try:
        return importlib.metadata.version("photoscribe")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return RELEASES[0][0]


def project_url() -> str | None:
    """The project's web page from the installed package's metadata (``Project-URL``), if it has one."""
    try:
        meta = importlib.metadata.metadata("photoscribe")
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [] if ", " in entry)
    for label in ("Source", "Repository", "Homepage"):
        if urls.get(label, "").startswith("https://"):
            return urls[label].rstrip("/")
    return None


def metainfo(version: str, url: str | None) -> str:
    """AppStream metainfo of the app. Screenshots need web addresses (AppStream refuses local files),
    so they are listed when the package names a GitHub repository whose ``docs/screenshots`` holds them."""
    releases = "\n".join(f'    <release version="{escape(v)}" date="{d}"/>' for v, d in RELEASES)
    if version not in {v for v, _ in RELEASES}:
        log.warning("version %s has no entry in RELEASES; the metainfo lists only the known ones", version)
    extra = ""
    if url:
        extra += f'  <url type="homepage">{escape(url)}</url>\n'
        if url.startswith("https://github.com/"):
            shots = "\n".join(
                f"    <screenshot{DEFAULT_SHOT if i == 0 else ''}>\n"
                f"      <caption>{escape(caption)}</caption>\n"
                f"      <image>{escape(url)}/raw/HEAD/docs/screenshots/{name}</image>\n"
                "    </screenshot>"
                for i, (name, caption) in enumerate(SCREENSHOTS)
            )
            extra += f"  <screenshots>\n{shots}\n  </screenshots>\n"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<component type="desktop-application">
  <id>{APP_ID}</id>
  <metadata_license>CC0-1.0</metadata_license>
  <project_license>MIT</project_license>
  <name>Photoscribe</name>
  <summary>Caption, search and export alt text for your photos</summary>
  <description>
    <p>
      Photoscribe writes a one-sentence description of every photo in the folders you add, on your own
      computer, with a Show, Attend and Tell model that comes with it. No photo leaves the machine.
    </p>
    <p>
      Search the library by what the photos show, review and correct the captions, and export them as
      alt text or write them into the photos' metadata for other programs to read. You can also train
      the model further on the captions you have reviewed.
    </p>
  </description>
  <launchable type="desktop-id">{APP_ID}.desktop</launchable>
  <provides>
    <binary>photoscribe</binary>
  </provides>
  <categories>
    <category>Graphics</category>
    <category>Photography</category>
  </categories>
  <keywords>
    <keyword>caption</keyword>
    <keyword>alt text</keyword>
    <keyword>accessibility</keyword>
    <keyword>photo</keyword>
  </keywords>
{extra}  <content_rating type="oars-1.1"/>
  <releases>
{releases}
  </releases>
</component>
"""


def install(home: Path | None = None, launcher: Path | None = None, *, refresh: bool = True) -> DesktopFiles:
    """Write the menu entry, the icons and the metainfo under ``home`` (the XDG data folder).

    Raises:
        AssetMissingError: no launcher, or a packaged file is missing (a broken install).
        PhotoscribeError: a file could not be written (the message names it).
    """
    home = data_home() if home is None else home
    launcher = find_launcher() if launcher is None else launcher
    targets = target_files(home)
    contents: list[bytes] = [
        _resource("icons", f"photoscribe-{size}.png").read_bytes() for size in ICON_SIZES
    ]
    contents.append(_resource(SVG_ICON).read_bytes())
    contents.append(metainfo(package_version(), project_url()).encode("utf-8"))
    contents.append(desktop_entry(launcher).encode("utf-8"))  # last: the menu shows it once all is there
    for path, data in zip(targets, contents, strict=True):
        _write(path, data)
    return DesktopFiles(home, targets, launcher, refresh_caches(home) if refresh else [])


def uninstall(home: Path | None = None, *, refresh: bool = True) -> DesktopFiles:
    """Remove exactly the files :func:`install` writes (those present); folders stay."""
    home = data_home() if home is None else home
    removed = []
    for path in reversed(target_files(home)):  # the menu entry first
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PhotoscribeError(
                f"{path} could not be removed ({exc.strerror}); check the folder's permissions and run "
                "photoscribe install-desktop --uninstall again"
            ) from None
        removed.append(path)
    return DesktopFiles(home, removed, None, refresh_caches(home) if refresh else [])


def refresh_caches(
    home: Path, tools: Sequence[str] = ("update-desktop-database", "gtk-update-icon-cache")
) -> list[str]:
    """Run the desktop's cache tools that are installed; returns the commands that succeeded.

    The icon cache is refreshed only where one exists already: a stale cache hides new icons, while
    no cache at all is read fine."""
    commands = []
    if "update-desktop-database" in tools and (home / "applications").is_dir():
        commands.append(["update-desktop-database", "-q", str(home / "applications")])
    hicolor = home / "icons" / "hicolor"
    if "gtk-update-icon-cache" in tools and (hicolor / "icon-theme.cache").is_file():
        commands.append(["gtk-update-icon-cache", "-q", "-f", "-t", str(hicolor)])
    done = []
    for command in commands:
        if shutil.which(command[0]) is None:
            continue
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("%s failed: %s", command[0], exc)
            continue
        if result.returncode == 0:
            done.append(" ".join(command))
        else:
            log.warning("%s exited with %d: %s", command[0], result.returncode, result.stderr.strip())
    return done


def _resource(*parts: str) -> Path:
    path = Path(str(importlib.resources.files("photoscribe.resources").joinpath(*parts)))
    if not path.is_file():
        raise AssetMissingError(
            f"{path} is missing from the installed package; reinstall photoscribe "
            "(pip install --force-reinstall photoscribe) and run install-desktop again"
        )
    return path


def _escape_string(text: str) -> str:
    """A Desktop Entry string value: backslashes, newlines and tabs escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name beside it (never a half-written entry)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # never written, or its folder is the problem
            temporary.unlink()
        raise PhotoscribeError(
            f"{path} could not be written ({exc.strerror}); check that {path.parent} is writable "
            "(or set XDG_DATA_HOME to a folder that is) and run photoscribe install-desktop again"
        ) from None

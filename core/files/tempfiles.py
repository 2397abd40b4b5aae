"""Temporary files written beside their target: short names, and the removal of stale ones.

A file photoscribe writes atomically (a sidecar, an export, a photo's metadata) is first written
to a temporary file in the same folder and then renamed over the target. The temporary name is
``.photoscribe-<pid>-<random>.tmp``: about 33 bytes whatever the target is called, so a photo
named near the 255-byte limit can still get its sidecar, and recognisable, so that one left
behind by a process that was killed (SIGKILL, a power cut) is removed by the next run that writes
into that folder (:func:`remove_stale_temps`). A run that is interrupted or stopped (Ctrl-C,
SIGTERM) removes its own.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_PREFIX = ".photoscribe-"
TEMP_SUFFIX = ".tmp"
# A temporary file lives for the milliseconds of one write. One whose writer is gone is stale
# after a minute; one whose writer cannot be checked (another machine on a share) after an hour.
STALE_WHEN_WRITER_GONE_S = 60.0
STALE_ALWAYS_S = 3600.0
_OURS = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"\Z")
# The names of earlier versions: ".<target name>.<8 random characters>.tmp".
_LEGACY = re.compile(r"\.(.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + r"\Z", re.DOTALL)


def temp_path_beside(target: str | os.PathLike[str]) -> Path:
    """A fresh temporary name in ``target``'s folder (see the module doc); the file is not created.

    Callers create it inside the ``try`` that removes it (:func:`create_exclusive`), so that an
    interrupt arriving just after the file appears cannot leave it behind.
    """
    folder = os.path.dirname(os.path.abspath(target))
    for _ in range(100):
        path = Path(folder) / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free temporary name in {folder}")


def create_exclusive(path: Path) -> int:
    """Create ``path`` (which must not exist) for writing, readable by its owner only; its fd."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (``True`` when that cannot be known)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def _stale(folder: str, name: str, age: float) -> bool:
    if (ours := _OURS.match(name)) is not None:
        return age > STALE_ALWAYS_S or (age > STALE_WHEN_WRITER_GONE_S and not _running(int(ours[1])))
    legacy = _LEGACY.match(name)
    if legacy is None or age <= STALE_WHEN_WRITER_GONE_S:
        return False
    # An earlier version's name is taken as ours for a sidecar, or when the file it wrote is there.
    target = legacy[1]
    return target.lower().endswith(".xmp") or os.path.exists(os.path.join(folder, target))


def remove_stale_temps(folder: str | os.PathLike[str], *, now: float | None = None) -> int:
    """Remove photoscribe's temporary files left in ``folder`` by runs that died; returns how many.

    Never raises: a folder that cannot be listed, or a file that cannot be removed, is left.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _stale(os.fspath(folder), name, now - entry.stat(follow_symlinks=False).st_mtime):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary files left in %s by an earlier run", removed, folder)
    return removed


class StaleTempSweeper:
    """:func:`remove_stale_temps` once per folder, for a batch that writes into many folders."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, target: str | os.PathLike[str]) -> None:
        """Sweep the folder of ``target`` (a file about to be written) unless already swept."""
        folder = os.path.dirname(os.path.abspath(target))
        if folder not in self._seen:
            self._seen.add(folder)
            remove_stale_temps(folder)

"""Open and walk the user's files safely: only regular files are read, never devices, pipes or /proc.

A photo folder can hold anything: a FIFO (``mkfifo``) whose ``open()`` blocks until someone
writes to it, a symlink to ``/dev/zero`` that never ends, a folder symlink to ``/proc`` or to
``/`` that leads to the whole machine. Every place that opens or walks the user's files goes
through this module:

* :func:`check_photo_file` stats a path (following symlinks: a link to a photo is a photo) and
  refuses, *before anything is opened*, what is not a regular file, a file of a pseudo file
  system (``/proc``, ``/sys``, ``/dev``, ...) or a file larger than :data:`MAX_PHOTO_BYTES`.
  Opening is not harmless for every device (a watchdog device reboots the machine when it is
  not closed the right way), so devices are never opened at all.
* :func:`open_photo` then opens with ``O_NONBLOCK`` (a FIFO swapped in after the stat cannot
  block the open), checks again with ``fstat`` what was really opened, and clears
  ``O_NONBLOCK`` for ordinary reads. :func:`read_chunks` and :func:`read_head_and_tail` read a
  bounded amount, even from a file that keeps growing.
* :func:`folder_refusal` tells a walker which folders it never enters: pseudo file systems and
  folders that hold the walk's own root (a link to ``/`` or to the home folder would walk the
  whole disk). Symlink loops are the walker's business (it visits each real folder once).

Pseudo file systems are recognised by device number (``st_dev``, from ``/proc/self/mountinfo``
and from ``/proc``, ``/sys`` and ``/dev`` themselves where they are mount points) and, for a
folder reached through a symlink, by its real path.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from photoscribe.core.errors import UnsupportedImageError

log = logging.getLogger(__name__)

# The largest file read as a photo: above the biggest photo the decoder accepts (120 megapixels
# of 16-bit RGBA is 960 MB uncompressed), far below what would make hashing or reading hang.
MAX_PHOTO_BYTES = 2 << 30
MAX_SIDECAR_BYTES = 64 << 20  # an XMP sidecar is text: kilobytes, rarely a megabyte
# For reads the caller bounds itself (a header, a tail): a 3 GB video is still sniffed, and skipped.
ANY_SIZE = sys.maxsize
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
# Kernel file systems that hold no user files (and files that never end, or block, or cost).
PSEUDO_FS_TYPES = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devfs",
        "devpts",
        "debugfs",
        "tracefs",
        "securityfs",
        "cgroup",
        "cgroup2",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "mqueue",
        "binfmt_misc",
        "efivarfs",
        "selinuxfs",
        "rpc_pipefs",
        "nsfs",
        "hugetlbfs",
    }
)
_REFRESH_S = 30.0  # mounts change rarely; a watcher running for days sees new ones within this


class NotRegularFileError(UnsupportedImageError):
    """The path is a device, a FIFO, a socket or a pseudo file system's file: never a photo."""


class FileTooLargeError(UnsupportedImageError):
    """The file is larger than any photo photoscribe reads (:data:`MAX_PHOTO_BYTES`)."""


# What a file of each type is called: precisely (a file refused as a photo), and plainly (the file a
# setting or a model path names, where "a device" says enough).
_KINDS: tuple[tuple[Callable[[int], bool], str, str], ...] = (
    (stat.S_ISREG, "a regular file", "a file"),
    (stat.S_ISDIR, "a folder", "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)", "a pipe (FIFO)"),
    (stat.S_ISCHR, "a character device", "a device"),
    (stat.S_ISBLK, "a block device", "a device"),
    (stat.S_ISSOCK, "a socket", "a socket"),
    (stat.S_ISLNK, "a symbolic link", "not a regular file"),
)


def describe_kind(mode: int, *, plain: bool = False) -> str:
    """What a file of this ``st_mode`` is, for a message: ``"a named pipe (FIFO)"``.

    With ``plain``, in fewer words: ``"a pipe (FIFO)"``, ``"a device"``, ``"not a regular file"``.
    """
    for is_kind, precise, plainly in _KINDS:
        if is_kind(mode):
            return plainly if plain else precise
    return "not a regular file" if plain else "a special file"


# --------------------------------------------------------------------------- pseudo file systems


def _mountinfo_devices(text: str) -> set[int]:
    """Device numbers of the pseudo file systems listed in ``/proc/self/mountinfo`` text."""
    devices: set[int] = set()
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, fs = head.split(), tail.split()
        if not sep or len(fields) < 3 or not fs or fs[0] not in PSEUDO_FS_TYPES:
            continue
        major, _, minor = fields[2].partition(":")
        if major.isdigit() and minor.isdigit():
            devices.add(os.makedev(int(major), int(minor)))
    return devices


@functools.lru_cache(maxsize=1)
def _pseudo_devices_at(_epoch: int) -> frozenset[int]:
    devices: set[int] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            devices |= _mountinfo_devices(fh.read(1 << 20))
    except OSError:  # not Linux (or no /proc in this chroot): the roots below still count
        pass
    try:
        system = os.stat("/").st_dev
    except OSError:
        return frozenset(devices)
    for root in PSEUDO_ROOTS:
        try:
            dev = os.stat(root).st_dev
        except OSError:
            continue
        if dev != system:  # a mount point of its own; a plain folder on / would make / pseudo
            devices.add(dev)
    return frozenset(devices)


def pseudo_devices() -> frozenset[int]:
    """``st_dev`` of every pseudo file system mounted now (re-read every 30 s)."""
    return _pseudo_devices_at(int(time.monotonic() // _REFRESH_S))


def in_pseudo_root(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies at or under ``/proc``, ``/sys`` or ``/dev`` (as it is written)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return any(text == root or text.startswith(root + "/") for root in PSEUDO_ROOTS)


def on_pseudo_fs(st: os.stat_result) -> bool:
    """Whether a file (by its ``stat``) lives on a pseudo file system (proc, sysfs, devtmpfs, ...)."""
    return st.st_dev in pseudo_devices()


# --------------------------------------------------------------------------- files


def _refusal(path: object, st: os.stat_result, max_bytes: int) -> UnsupportedImageError | None:
    if not stat.S_ISREG(st.st_mode):
        return NotRegularFileError(
            path,
            f"not a regular file but {describe_kind(st.st_mode)}{_target(path)}; only photo files are read",
        )
    if on_pseudo_fs(st):
        return NotRegularFileError(
            path, "not a regular file: it belongs to the system (/proc, /sys or /dev), not to your photos"
        )
    if st.st_size > max_bytes:
        return FileTooLargeError(
            path,
            f"the file is {st.st_size / (1 << 30):.1f} GiB, larger than any photo photoscribe reads "
            f"({max_bytes / (1 << 30):.1f} GiB)",
        )
    return None


def _target(path: object) -> str:
    """`` (a link to /dev/zero)`` when ``path`` is a symlink, else nothing."""
    try:
        if isinstance(path, (str, os.PathLike)) and os.path.islink(path):
            return f" (a link to {os.path.realpath(path)})"
    except (OSError, ValueError):
        pass
    return ""


def check_photo_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_PHOTO_BYTES) -> os.stat_result:
    """The ``stat`` of a regular file fit to read as a photo (symlinks followed); nothing is opened.

    Raises:
        NotRegularFileError: a folder, device, FIFO, socket, or a file of a pseudo file system.
        FileTooLargeError: larger than ``max_bytes``.
        OSError: the path cannot be stat'ed (missing, permission denied).
    """
    st = os.stat(path)
    refusal = _refusal(path, st, max_bytes)
    if refusal is not None:
        raise refusal
    return st


_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_photo(path: str | os.PathLike[str], *, max_bytes: int = MAX_PHOTO_BYTES) -> BinaryIO:
    """Open a regular file for reading without ever blocking on a FIFO or opening a device.

    The path is checked first (:func:`check_photo_file`), opened with ``O_NONBLOCK``, checked
    again with ``fstat`` (what was opened, in case the path was swapped meanwhile), and then read
    as an ordinary blocking file. Symlinks are followed: what counts is the file they lead to.

    Raises:
        NotRegularFileError, FileTooLargeError, OSError: as :func:`check_photo_file`.
    """
    check_photo_file(path, max_bytes=max_bytes)

    def opener(name: str, _flags: int) -> int:
        fd = os.open(name, _OPEN_FLAGS)
        try:
            refusal = _refusal(path, os.fstat(fd), max_bytes)
            if refusal is not None:
                raise refusal
            _set_blocking(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    return open(path, "rb", opener=opener)  # builtins.open: the one place tests inject faults


def _set_blocking(fd: int) -> None:
    if _NONBLOCK:  # Windows has no O_NONBLOCK: nothing to clear
        os.set_blocking(fd, True)


def read_chunks(
    fh: BinaryIO, chunk_size: int = 1 << 20, *, max_bytes: int = MAX_PHOTO_BYTES, name: object = None
) -> Iterator[bytes]:
    """The file's bytes in chunks, at most ``max_bytes`` of them (a file that grows while read).

    Raises:
        FileTooLargeError: the file holds more than ``max_bytes``.
    """
    total = 0
    while chunk := fh.read(chunk_size):
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(
                name if name is not None else getattr(fh, "name", "?"),
                f"the file grew past {max_bytes / (1 << 30):.1f} GiB while it was read, "
                "more than any photo photoscribe reads",
            )
        yield chunk


def read_head_and_tail(path: str | os.PathLike[str], head: int, tail: int) -> tuple[bytes, bytes]:
    """The first ``head`` and the last ``tail`` bytes of a regular file of any size (two bounded reads).

    Raises:
        NotRegularFileError, OSError: as :func:`open_photo`.
    """
    with open_photo(path, max_bytes=ANY_SIZE) as fh:
        size = os.fstat(fh.fileno()).st_size
        first = fh.read(head)
        fh.seek(max(0, size - tail))
        last = fh.read(tail)
    return first, last


# --------------------------------------------------------------------------- folders


def folder_refusal(
    path: str, st: os.stat_result, *, via_link: bool = False, walk_root: str | None = None
) -> str | None:
    """Why a walker must not enter the folder at ``path`` (whose ``stat`` is ``st``), or ``None``.

    Never entered: a folder of a pseudo file system (``/proc``, ``/sys``, ``/dev``, ...) and,
    when it is reached through a symlink (``via_link``), a folder that holds ``walk_root`` (the
    real path of the walk's first folder): a link to ``/`` or to the home folder.
    """
    if on_pseudo_fs(st):
        return _SYSTEM_FOLDER
    if via_link or walk_root is None:  # a link, or the walk's first folder: where it really is
        real = os.path.realpath(path)
        if in_pseudo_root(real):
            return _SYSTEM_FOLDER
        if via_link and walk_root is not None and _holds(real, walk_root):
            return f"it leads to {real}, which holds the folder being walked (the walk would never end)"
    return None


def _holds(folder: str, path: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both real paths)."""
    top = folder.rstrip(os.sep) + os.sep
    return path == folder or (path.rstrip(os.sep) + os.sep).startswith(top)


_SYSTEM_FOLDER = "it is a system folder (/proc, /sys or /dev), which holds no photos"

__all__ = [
    "ANY_SIZE",
    "MAX_PHOTO_BYTES",
    "MAX_SIDECAR_BYTES",
    "FileTooLargeError",
    "NotRegularFileError",
    "check_photo_file",
    "describe_kind",
    "folder_refusal",
    "in_pseudo_root",
    "on_pseudo_fs",
    "open_photo",
    "pseudo_devices",
    "read_chunks",
    "read_head_and_tail",
]

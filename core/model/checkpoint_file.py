"""Checks on a checkpoint file before torch reads it: its kind, its sizes, its checksums.

``torch.save`` writes a zip archive; anything else (a 0-byte or truncated file, a bare pickle,
a photo renamed ``.pt``, a device) is refused here in microseconds, so ``model info`` of a bad
file and a hostile file never cost the seconds it takes to import torch.

The zip's central directory declares what every member expands to. That is checked before a
byte of it is decompressed: the members together may hold at most :data:`MAX_CHECKPOINT_BYTES`,
the pickle at most :data:`MAX_PICKLE_BYTES`, and a compressed member may expand at most
:data:`MAX_EXPANSION` times (``torch.save`` never compresses; real weights do not shrink much,
and a 19 MB file that holds a 2 GiB tensor of zeros is a decompression bomb).

:func:`verify_checkpoint_file` then reads every member once, in bounded chunks, checking the
CRC-32 the zip stores for it (``torch.load`` does not: a checkpoint with part of a tensor
overwritten loaded and captioned garbage) and hashing the contents (SHA-256): the hash is the
file's identity, which a copy with the same declared model id but other weights does not share.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
import zlib
from pathlib import Path

from photoscribe.core.errors import ModelLoadError
from photoscribe.core.files.safe_files import describe_kind

# The bundled default model is 19.5 MB; the largest checkpoint photoscribe writes (a fine-tuned
# ResNet-152 encoder in fp32 with its decoder and the Adam state to resume training) is about
# 0.9 GB. 2 GiB (about 100 times the default model) leaves room for that and refuses anything
# that would take more memory than a desktop can spare to load.
MAX_CHECKPOINT_BYTES = 2 * 2**30
# The pickle holds the config, the vocabulary and the metadata (63 KB in the default model; a
# million-word vocabulary, the config's limit, is about 15 MB).
MAX_PICKLE_BYTES = 64 * 2**20
# How much larger than its compressed size a member may be. Weights compress by 10-20 % at most;
# a bomb of zeros by 1000 times.
MAX_EXPANSION = 4
_SLACK = 64 * 1024  # a small member (the version string) may compress better: it costs nothing
_CHUNK = 1 << 20


def check_checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a regular, non-empty zip archive whose declared sizes are within bounds.

    Reads only the zip's central directory: nothing is decompressed.

    Raises:
        ModelLoadError: missing, not a regular file, empty, not a zip archive, or members that
            would expand past the bounds above.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} not found") from None
    except OSError as exc:
        raise ModelLoadError(f"model file {path} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelLoadError(
            f"model file {path} is {describe_kind(st.st_mode, plain=True)}, not a checkpoint file"
        )
    if st.st_size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes): not a photoscribe checkpoint")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path} is not a safe photoscribe checkpoint: it is not a PyTorch zip archive "
            "(a truncated file, a bare pickle or another kind of file)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is damaged: its zip directory cannot be read ({exc})") from exc
    _check_sizes(path, members)
    return path


def check_archive_sizes(path: str | os.PathLike[str]) -> None:
    """The bounds above for any zip archive torch is about to load (an ImageNet weights file);
    a file that is not a zip (torch's legacy format) is left to ``torch.load``.

    Raises:
        ModelLoadError: members that would expand past the bounds.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is damaged: its zip directory cannot be read ({exc})") from exc
    _check_sizes(path, members)


def _check_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    total = sum(m.file_size for m in members)
    if total > MAX_CHECKPOINT_BYTES:
        raise ModelLoadError(
            f"{path} is refused: its contents would take {total / 2**30:.1f} GiB of memory, more "
            f"than the {MAX_CHECKPOINT_BYTES / 2**30:.0f} GiB any photoscribe checkpoint needs"
        )
    for m in members:
        if m.filename.endswith(".pkl") and m.file_size > MAX_PICKLE_BYTES:
            raise ModelLoadError(
                f"{path} is refused: its {m.filename} is {m.file_size / 2**20:.0f} MB, more than "
                f"the {MAX_PICKLE_BYTES / 2**20:.0f} MB a checkpoint's config and vocabulary need"
            )
        if m.compress_type != zipfile.ZIP_STORED and m.file_size > MAX_EXPANSION * m.compress_size + _SLACK:
            raise ModelLoadError(
                f"{path} is refused: its member {m.filename} would expand from "
                f"{m.compress_size / 2**20:.1f} MB to {m.file_size / 2**20:.1f} MB (a decompression bomb); "
                "use a checkpoint written by photoscribe"
            )


def verify_checkpoint_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Check ``path`` (:func:`check_checkpoint_file`), then every member's CRC-32; returns the
    path and the SHA-256 of its contents (member names and bytes, in the zip's order).

    One pass over the file in 1 MiB chunks: about 50 ms for the 19.5 MB default model.

    Raises:
        ModelLoadError: as :func:`check_checkpoint_file`, or a member whose bytes do not match
            its stored checksum (the file was damaged after it was written).
    """
    path = check_checkpoint_file(path)
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                digest.update(member.filename.encode("utf-8", "surrogateescape") + b"\0")
                with archive.open(member) as data:  # raises BadZipFile at the end on a bad CRC-32
                    while chunk := data.read(_CHUNK):
                        digest.update(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ModelLoadError(
            f"{path} is damaged: its contents do not match the checksums stored in it ({exc}); "
            "copy or download the model again"
        ) from exc
    return path, digest.hexdigest()


__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "MAX_EXPANSION",
    "MAX_PICKLE_BYTES",
    "check_archive_sizes",
    "check_checkpoint_file",
    "verify_checkpoint_file",
]

"""The environment variables photoscribe reads, each read and checked here, in one place.

A variable that is set must be usable: a file that does not exist, a folder or a device where a
file is needed, or a number that is not one, is an :class:`EnvironmentVariableError` naming the
variable and saying what is wrong, never silently replaced by the default. An empty value counts
as unset. The command line checks them all before any command runs (:func:`check_environment`);
the readers below raise the same error when they are called directly (the app, tests).
Torch-free, so the check costs nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from photoscribe.core.errors import UsageError
from photoscribe.core.files.safe_files import describe_kind

HOME = "PHOTOSCRIBE_HOME"  # a folder that holds everything of photoscribe's (data, cache, logs)
MODEL = "PHOTOSCRIBE_MODEL"  # the checkpoint to caption with
LIBRARY = "PHOTOSCRIBE_LIBRARY"  # the library database file
ENCODER_WEIGHTS = "PHOTOSCRIBE_ENCODER_WEIGHTS"  # an ImageNet weights file for the encoder
DECODE_BUDGET_MB = "PHOTOSCRIBE_DECODE_BUDGET_MB"  # memory decoding may take at once, in MB

DEFAULT_DECODE_BUDGET_MB = 1536
# The smallest budget that still decodes a 12-megapixel photo (36 MB as RGB) with room to spare;
# the largest is a terabyte (a typo such as an extra zero still fits, a byte count does not).
MIN_DECODE_BUDGET_MB = 64
MAX_DECODE_BUDGET_MB = 1 << 20


class EnvironmentVariableError(UsageError):
    """An environment variable photoscribe reads is set to a value it cannot use."""

    def __init__(self, name: str, value: str, problem: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name}={value!r} {problem}; fix it or unset it (`unset {name}`)")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _existing_file(name: str, what: str) -> Path | None:
    """The regular file ``$name`` names (symlinks followed), or ``None`` when unset."""
    value = _raw(name)
    if value is None:
        return None
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EnvironmentVariableError(name, value, f"names no file: {path} does not exist") from None
    except OSError as exc:
        raise EnvironmentVariableError(name, value, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise EnvironmentVariableError(name, value, f"is {describe_kind(mode, plain=True)}, not {what}")
    return path


def model_file() -> Path | None:
    """``$PHOTOSCRIBE_MODEL``: an existing checkpoint file (a zip archive, what ``torch.save``
    writes; its contents are checked when it is loaded), or ``None`` when unset."""
    path = _existing_file(MODEL, "a checkpoint file")
    if path is not None and not _starts_with(MODEL, path, (b"PK\x03\x04",)):
        raise EnvironmentVariableError(
            MODEL, os.environ[MODEL], "is not a photoscribe checkpoint (not a PyTorch zip archive)"
        )
    return path


def _starts_with(name: str, path: Path, magics: tuple[bytes, ...]) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise EnvironmentVariableError(name, str(path), f"cannot be read ({exc.strerror or exc})") from None
    return head.startswith(magics)


def encoder_weights_file() -> Path | None:
    """``$PHOTOSCRIBE_ENCODER_WEIGHTS``: an existing PyTorch weights file, or ``None`` when unset.

    Its first bytes must be what ``torch.save`` writes: a zip archive, or a pickle (the legacy
    format of older torchvision files); the weights themselves are checked when loaded.
    """
    path = _existing_file(ENCODER_WEIGHTS, "an ImageNet weights file")
    if path is None:
        return None
    if not _starts_with(ENCODER_WEIGHTS, path, (b"PK\x03\x04", b"\x80")):
        raise EnvironmentVariableError(
            ENCODER_WEIGHTS,
            os.environ[ENCODER_WEIGHTS],
            "is not a PyTorch weights file (neither a zip archive nor a pickle): point it at "
            "torchvision's ImageNet weights file (e.g. resnet50-0676ba61.pth)",
        )
    return path


def _path_to_be(name: str, is_right: Callable[[int], bool], right: str) -> Path | None:
    """``$name`` as a path that may not exist yet (it is made when first used); if it exists it
    must be ``right`` (``is_right`` of its mode). ``None`` when unset."""
    value = _raw(name)
    if value is None:
        return None
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise EnvironmentVariableError(name, value, f"cannot be read ({exc.strerror or exc})") from None
    if not is_right(mode):
        raise EnvironmentVariableError(name, value, f"is {describe_kind(mode, plain=True)}, not {right}")
    return path


def home_dir() -> Path | None:
    """``$PHOTOSCRIBE_HOME``: a folder (made when first written to), or ``None`` when unset."""
    return _path_to_be(HOME, stat.S_ISDIR, "a folder")


def library_file() -> Path | None:
    """``$PHOTOSCRIBE_LIBRARY``: a library file (made when first opened), or ``None`` when unset."""
    return _path_to_be(LIBRARY, stat.S_ISREG, "a library file")


def decode_budget_mb() -> int:
    """``$PHOTOSCRIBE_DECODE_BUDGET_MB`` (default 1536): a whole number of megabytes, 64 or more."""
    value = _raw(DECODE_BUDGET_MB)
    if value is None:
        return DEFAULT_DECODE_BUDGET_MB
    try:
        megabytes = int(value.strip())
    except ValueError:
        raise EnvironmentVariableError(
            DECODE_BUDGET_MB,
            value,
            f"is not a whole number of megabytes (the default is {DEFAULT_DECODE_BUDGET_MB})",
        ) from None
    if not MIN_DECODE_BUDGET_MB <= megabytes <= MAX_DECODE_BUDGET_MB:
        raise EnvironmentVariableError(
            DECODE_BUDGET_MB,
            value,
            f"is out of range: give from {MIN_DECODE_BUDGET_MB} to {MAX_DECODE_BUDGET_MB} megabytes "
            f"(the default is {DEFAULT_DECODE_BUDGET_MB})",
        )
    return megabytes


def check_environment() -> None:
    """Check every variable photoscribe reads; the first bad one raises :class:`EnvironmentVariableError`."""
    home_dir()
    library_file()
    model_file()
    encoder_weights_file()
    decode_budget_mb()


__all__ = [
    "DECODE_BUDGET_MB",
    "DEFAULT_DECODE_BUDGET_MB",
    "ENCODER_WEIGHTS",
    "HOME",
    "LIBRARY",
    "MODEL",
    "EnvironmentVariableError",
    "check_environment",
    "decode_budget_mb",
    "encoder_weights_file",
    "home_dir",
    "library_file",
    "model_file",
]

"""Image loading for inference, training and thumbnails (Pillow only: no torch here).

Every photo that enters photoscribe goes through :func:`load_image`, which turns
whatever Pillow can open (any mode, any EXIF orientation) into a fully decoded
8-bit RGB image, or raises :class:`UnsupportedImageError` naming the file. The
model-side transform lives in :mod:`photoscribe.core.model.preprocess`; :func:`sniff_image`
and :func:`read_exif_summary` are the cheap header-only helpers the folder
scanner uses, so the library never imports torch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin, TiffImagePlugin

from photoscribe.core.choices import RESIZE_MODES
from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.decode_budget import (
    REDUCIBLE_MODES,
    SIXTEEN_BIT_MODES,
    DecodeBudget,
    decode_budget,
    decode_cost,
)
from photoscribe.core.files.safe_files import ANY_SIZE, open_photo

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 120_000_000
WHITE = (255, 255, 255)

# What Pillow's decoders raise on corrupt or hostile data. DecompressionBombWarning is
# listed because a warnings filter set to "error" turns it into an exception.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # some plugins signal a broken header this way
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,  # the AVIF plugin reports undecodable data this way
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

# EXIF Orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_TAG_ORIENTATION = 0x0112
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_DATETIME = 0x0132
_IFD_EXIF = 0x8769
_TAG_EXPOSURE_TIME = 0x829A
_TAG_F_NUMBER = 0x829D
_TAG_ISO = 0x8827
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_FOCAL_LENGTH = 0x920A
_TAG_LENS_MODEL = 0xA434

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "PA"})


# --------------------------------------------------------------------------- loading


def load_image(
    path: str | Path,
    *,
    target_size: int | None = 256,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    budget: DecodeBudget | None = None,
) -> Image.Image:
    """Open, fully decode, orient and convert an image file to 8-bit RGB.

    Args:
        path: the image file.
        target_size: the smallest side the caller needs. JPEGs are then decoded at a
            reduced scale (1/2, 1/4 or 1/8) and other formats reduced by a whole factor
            right after decoding, keeping both sides >= ``target_size``, before any
            conversion. ``None`` keeps the full size.
        max_pixels: images declaring more pixels than this are refused before decoding.
        budget: the memory decoding may take, shared with the other decodes of this
            process (and of the loader's workers); default: :func:`decode_budget`.

    Returns:
        A loaded RGB image, detached from the file, upright according to its EXIF orientation.

    Raises:
        UnsupportedImageError: the path is missing, a directory, not an image, corrupt,
            truncated, empty, too large, or would take more memory to decode than the budget.
    """
    path = Path(path)
    if not path.exists():
        raise UnsupportedImageError(path, "file does not exist; was it moved or deleted?")
    if path.is_dir():
        raise UnsupportedImageError(path, "is a directory, not an image file")
    budget = budget or decode_budget()
    try:
        with _open(path) as img:
            _check_size(path, img.size, max_pixels)
            if target_size is not None:
                # JPEG only (a no-op elsewhere): picks the largest DCT scaling that keeps
                # both sides >= target_size: a 4000x3000 photo and 256 decode at 500x375.
                img.draft("RGB", (target_size, target_size))
            with budget.reserve(path, decode_cost(img.mode, img.size, target_size)):
                img.load()  # force the full decode here, so corrupt data fails inside the try
                small = _reduce(img, target_size)
                upright = _apply_orientation(small, _orientation(img))
                rgb = to_rgb(upright)
                if rgb is img:  # the file's image object dies with the `with` block
                    rgb = rgb.copy()
    except _DECODE_ERRORS as exc:
        raise UnsupportedImageError(path, _describe(exc)) from exc
    return rgb


def _check_size(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise UnsupportedImageError(path, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise UnsupportedImageError(
            path,
            f"image is too large ({width}x{height} = {width * height:,} pixels, limit {max_pixels:,}); "
            "it may be a decompression bomb, or downscale it before importing",
        )


def _reduce(img: Image.Image, target_size: int | None) -> Image.Image:
    """Shrink by the largest whole factor that keeps both sides >= ``target_size`` (box filter)."""
    if target_size is None or target_size <= 0:
        return img
    factor = min(img.size) // target_size
    if factor < 2:
        return img
    if img.mode in SIXTEEN_BIT_MODES:
        return _reduce_16bit(img, factor)
    if img.mode in REDUCIBLE_MODES:
        return img.reduce(factor)
    return to_rgb(img).reduce(factor)  # palette indices must not be averaged: colours first


def _reduce_16bit(img: Image.Image, factor: int) -> Image.Image:
    """:meth:`Image.reduce` of a 16-bit image, which Pillow only reduces as 32-bit ``I``.

    Converted a strip of rows at a time (about 16 MB each), so the only full-size
    allocation is the decoded image itself.
    """
    width, height = img.size
    out = Image.new("I", (-(-width // factor), -(-height // factor)))
    rows = max(1, (16 * 2**20) // (4 * width * factor)) * factor  # a whole number of boxes
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(height, top + rows))).convert("I").reduce(factor)
        out.paste(strip, (0, top // factor))
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not an image file Pillow can read (unknown format or corrupt header)"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"image is too large, possibly a decompression bomb ({exc})"
    if isinstance(exc, PermissionError):
        return "permission denied; check the file's access rights"
    if isinstance(exc, OSError) and "truncated" in str(exc).lower():
        return f"image data is truncated; the file is incomplete ({exc})"
    return f"corrupt or unsupported image data ({type(exc).__name__}: {exc})"


def _apply_orientation(img: Image.Image, orientation: int | None) -> Image.Image:
    """Transpose ``img`` upright.

    Same table as ``ImageOps.exif_transpose``, but that function also rewrites the EXIF
    block, which raises on garbage tag values; we only need the pixels.
    """
    method = _ORIENTATION_TRANSPOSE.get(orientation or 1)
    return img if method is None else img.transpose(method)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparency is composited over white; 16-bit and float grayscale is rescaled (not
    clipped) to 0..255; CMYK (including Adobe's inverted CMYK JPEGs, which Pillow already
    un-inverts), palette, 1-bit, YCbCr etc. use Pillow's own conversion. Returns ``img``
    itself when it is already RGB.
    """
    mode = img.mode
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")  # also turns a tRNS colour key into alpha
        background = Image.new("RGB", rgba.size, WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))  # alpha-blend over white
        return background
    if mode == "RGB":
        return img
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return Image.fromarray(_gray_to_uint8(np.asarray(img), mode)).convert("RGB")
    return img.convert("RGB")


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Map high-bit-depth grayscale to 0..255 (2-D uint8).

    ``I;16*`` is 0..65535 by definition. ``I`` and ``F`` carry no range, so it is guessed:
    ``F`` within 0..1 is a normalised float image; ``F`` within 0..255 is already 8-bit;
    anything within 0..65535 is 16-bit data; anything else is stretched min..max.
    """
    if mode in SIXTEEN_BIT_MODES:  # round(x / 257) in integers: no float copy of a huge image
        wide = values.astype(np.uint32)
        wide *= 2
        wide += 257
        wide //= 514
        return wide.astype(np.uint8)
    arr = values.astype(np.float64)
    np.nan_to_num(arr, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo = float(arr.min()) if arr.size else 0.0
    hi = float(arr.max()) if arr.size else 0.0
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        arr *= 255.0
    elif mode == "F" and lo >= 0.0 and hi <= 255.0:
        pass
    elif lo >= 0.0 and hi <= 65535.0:
        arr /= 257.0
    elif hi > lo:
        arr -= lo
        arr *= 255.0 / (hi - lo)
    else:
        arr[...] = 0.0
    np.rint(arr, out=arr)
    np.clip(arr, 0, 255, out=arr)
    return arr.astype(np.uint8)


# --------------------------------------------------------------------------- sniffing


def _registered(fmt: str) -> bool:
    Image.init()
    return fmt in Image.OPEN


def sniff_image(path: str | Path) -> bool:
    """Whether the file starts with the magic bytes of a photo format Pillow can decode.

    Reads at most 32 bytes and never trusts the extension. Returns False for unreadable
    paths (missing, directory, permission denied) and for what is not a regular file (a FIFO,
    a device, a file of ``/proc``: :mod:`photoscribe.core.files.safe_files`).
    """
    try:
        with open_photo(path, max_bytes=ANY_SIZE) as fh:
            head = fh.read(32)
    except (OSError, UnsupportedImageError):
        return False
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return True
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):  # TIFF, BigTIFF
        return True
    if head.startswith(b"BM") and len(head) >= 18:
        # "BM" alone is too weak (a text file may start with it); check the DIB header size.
        dib_size = struct.unpack_from("<I", head, 14)[0]
        return dib_size in (12, 16, 40, 52, 56, 64, 108, 124)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _registered("WEBP")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return _registered("AVIF")
        if brand in _HEIF_BRANDS:
            return True  # a photo: read with pillow-heif, or a failure that says to install it
    return False


_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
HEIF_HINT = (
    "is a HEIC/HEIF photo (as iPhones take them), which needs the pillow-heif plugin: "
    "install it (`pip install 'photoscribe[heif]'`, or `pip install pillow-heif`) and scan again"
)
_heif_state: list[bool] = []  # [whether pillow-heif is registered], once it has been tried


def _is_heif(fh: BinaryIO) -> bool:
    try:
        fh.seek(0)
        head = fh.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def heif_supported() -> bool:
    """Whether HEIC/HEIF files can be read: pillow-heif is installed (its opener is registered
    with Pillow the first time this is asked; it is an optional plugin, not a dependency)."""
    if not _heif_state:
        if _registered("HEIF"):
            _heif_state.append(True)
        else:
            try:
                import pillow_heif  # type: ignore[import-not-found,unused-ignore]

                pillow_heif.register_heif_opener()
                _heif_state.append(True)
            except Exception as exc:  # ImportError, or a broken libheif: reported per file
                logger.debug("pillow-heif is not usable: %s", exc)
                _heif_state.append(False)
    return _heif_state[0]


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` of a regular file opened safely (never a FIFO or a device, at most
    ``MAX_PHOTO_BYTES``: :func:`~photoscribe.core.files.safe_files.open_photo`), kept open while the
    image is used; a HEIC/HEIF file gets the pillow-heif plugin registered on first sight, or a
    failure that says to install it (instead of "not an image")."""
    with open_photo(path) as fh:
        try:
            img = Image.open(fh)
        except Image.UnidentifiedImageError:
            if not _is_heif(fh):
                raise
            if not heif_supported():
                raise UnsupportedImageError(path, HEIF_HINT) from None
            fh.seek(0)
            img = Image.open(fh)
        with img:
            yield img


# --------------------------------------------------------------------------- EXIF


@dataclass(frozen=True)
class ExifSummary:
    """The header facts the library shows and sorts by.

    ``width`` and ``height`` are as displayed, i.e. after applying ``orientation``.
    ``exposure`` is in seconds, ``focal_length`` in millimetres; every optional field is
    ``None`` when absent or unparseable. ``taken_at`` is the camera's local time (naive).
    """

    width: int
    height: int
    taken_at: datetime | None = None
    camera: str | None = None
    orientation: int | None = None
    lens: str | None = None
    iso: int | None = None
    exposure: float | None = None
    f_number: float | None = None
    focal_length: float | None = None


def read_exif_summary(path: str | Path) -> ExifSummary:
    """Read size and EXIF from the file header, without decoding the pixels.

    Raises:
        UnsupportedImageError: the file is missing or not an image. Bad EXIF never raises:
            the affected fields are ``None``.
    """
    path = Path(path)
    if not path.exists():
        raise UnsupportedImageError(path, "file does not exist; was it moved or deleted?")
    if path.is_dir():
        raise UnsupportedImageError(path, "is a directory, not an image file")
    try:
        with _open(path) as img:
            width, height = img.size
            exif, sub = _header_exif(path, img)
    except _DECODE_ERRORS as exc:
        raise UnsupportedImageError(path, _describe(exc)) from exc
    if width <= 0 or height <= 0:
        raise UnsupportedImageError(path, f"image has no pixels ({width}x{height})")

    orientation = _as_int(exif.get(_TAG_ORIENTATION))
    if orientation not in _ORIENTATION_TRANSPOSE and orientation != 1:
        orientation = None
    # Rotated by 90 degrees: the displayed sides swap. Pillow's TIFF plugin already reports
    # the displayed size (it transposes on load), so only other formats need the swap.
    if orientation in (5, 6, 7, 8) and not isinstance(img, TiffImagePlugin.TiffImageFile):
        width, height = height, width
    taken_at = (
        _as_datetime(sub.get(_TAG_DATETIME_ORIGINAL))
        or _as_datetime(exif.get(_TAG_DATETIME_ORIGINAL))  # misplaced in IFD0 by some writers
        or _as_datetime(exif.get(_TAG_DATETIME))
    )
    return ExifSummary(
        width=width,
        height=height,
        taken_at=taken_at,
        camera=_camera_name(_as_str(exif.get(_TAG_MAKE)), _as_str(exif.get(_TAG_MODEL))),
        orientation=orientation,
        lens=_as_str(sub.get(_TAG_LENS_MODEL)),
        iso=_as_int(sub.get(_TAG_ISO)),
        exposure=_as_positive_float(sub.get(_TAG_EXPOSURE_TIME)),
        f_number=_as_positive_float(sub.get(_TAG_F_NUMBER)),
        focal_length=_as_positive_float(sub.get(_TAG_FOCAL_LENGTH)),
    )


def _header_exif(path: Path, img: Image.Image) -> tuple[dict[int, Any], dict[int, Any]]:
    """IFD0 and the EXIF sub-IFD as plain dicts; empty when the EXIF block is garbage."""
    try:
        # PngImageFile.getexif() decodes the whole image looking for an eXIf chunk after
        # the pixel data; the base method only reads the chunks already parsed.
        is_png = isinstance(img, PngImagePlugin.PngImageFile)
        exif = Image.Image.getexif(img) if is_png else img.getexif()
        ifd0 = dict(exif)
    except _DECODE_ERRORS as exc:
        logger.debug("%s: unreadable EXIF ignored (%s)", path, exc)
        return {}, {}
    try:
        sub = dict(exif.get_ifd(_IFD_EXIF))
    except _DECODE_ERRORS as exc:
        logger.debug("%s: unreadable EXIF sub-IFD ignored (%s)", path, exc)
        sub = {}
    return ifd0, sub


def _orientation(img: Image.Image) -> int | None:
    try:
        value = _as_int(img.getexif().get(_TAG_ORIENTATION))
    except _DECODE_ERRORS as exc:
        logger.debug("unreadable EXIF orientation ignored (%s)", exc)
        return None
    return value if value is not None and 1 <= value <= 8 else None


def _first(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return value[0] if value else None
    return value


def _as_str(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text or None


def _as_int(value: Any) -> int | None:
    value = _first(value)
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return int(number) if math.isfinite(number) else None


def _as_positive_float(value: Any) -> float | None:
    value = _first(value)
    if isinstance(value, (bool, str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _as_datetime(value: Any) -> datetime | None:
    """Parse EXIF's ``YYYY:MM:DD HH:MM:SS`` (also tolerating ``-`` or ``T`` separators)."""
    text = _as_str(value)
    if text is None or len(text) < 19:
        return None
    text = text[:19]
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None  # includes the "0000:00:00 00:00:00" placeholder cameras write


def _camera_name(make: str | None, model: str | None) -> str | None:
    """Join Make and Model without repeating the maker.

    ``Canon`` + ``Canon EOS 5D`` -> ``Canon EOS 5D``; ``Apple`` + ``iPhone 12`` -> ``Apple iPhone 12``.
    """
    if not make or not model:
        return model or make
    # "NIKON CORPORATION" + "NIKON D750": the model already names the maker.
    if model.lower().startswith(make.split()[0].lower()):
        return model
    return f"{make} {model}"


__all__ = [
    "RESIZE_MODES",
    "ExifSummary",
    "load_image",
    "read_exif_summary",
    "sniff_image",
    "to_rgb",
]

"""Unit tests for photoscribe.core.files.imaging; every image is generated in tmp_path."""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, features
from PIL.TiffImagePlugin import IFDRational

from photoscribe.core.errors import PhotoscribeError, UnsupportedImageError
from photoscribe.core.files.imaging import (
    ExifSummary,
    load_image,
    read_exif_summary,
    sniff_image,
    to_rgb,
)
from photoscribe.core.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
TAG_ORIENTATION, TAG_MAKE, TAG_MODEL, TAG_DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
IFD_EXIF, TAG_DATETIME_ORIGINAL = 0x8769, 0x9003


def save(img: Image.Image, path: Path, **kwargs: object) -> Path:
    img.save(path, **kwargs)
    return path


def assert_close(pixel: tuple[int, ...], expected: tuple[int, ...], tol: int = 3) -> None:
    assert len(pixel) == len(expected)
    assert all(abs(a - b) <= tol for a, b in zip(pixel, expected, strict=True)), (pixel, expected)


def png_with_header(width: int, height: int) -> bytes:
    """A syntactically valid PNG declaring width x height but holding almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def noise_jpeg(size: tuple[int, int] = (200, 150), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


# --------------------------------------------------------------------------- mode conversion


def test_rgba_transparent_is_white_and_half_transparent_red_is_pink(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (12, 34, 56, 0))  # fully transparent: colour must not leak through
    img.putpixel((1, 0), (255, 0, 0, 128))
    img.putpixel((2, 0), (0, 0, 255, 255))
    out = load_image(save(img, tmp_path / "a.png"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == WHITE
    assert_close(out.getpixel((1, 0)), (255, 127, 127), tol=2)
    assert out.getpixel((2, 0)) == BLUE


def test_la_alpha_is_composited_over_white(tmp_path: Path) -> None:
    img = Image.new("LA", (3, 1))
    img.putpixel((0, 0), (0, 0))
    img.putpixel((1, 0), (0, 255))
    img.putpixel((2, 0), (0, 128))
    out = load_image(save(img, tmp_path / "la.png"))
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == (0, 0, 0)
    assert_close(out.getpixel((2, 0)), (127, 127, 127), tol=2)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparent_index_is_white(tmp_path: Path, suffix: str) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *GREEN] + [0] * (254 * 3))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    out = load_image(save(img, tmp_path / f"p{suffix}", transparency=0))
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == GREEN


def test_palette_without_transparency_keeps_colours(tmp_path: Path) -> None:
    img = Image.new("RGB", (2, 1))
    img.putpixel((0, 0), RED)
    img.putpixel((1, 0), BLUE)
    out = load_image(save(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=2), tmp_path / "p.png"))
    assert out.getpixel((0, 0)) == RED
    assert out.getpixel((1, 0)) == BLUE


def test_rgb_colour_key_transparency_is_white(tmp_path: Path) -> None:
    img = Image.new("RGB", (2, 1), BLUE)
    img.putpixel((0, 0), (1, 2, 3))
    out = load_image(save(img, tmp_path / "key.png", transparency=(1, 2, 3)))
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == BLUE


def test_pa_mode_is_composited_over_white() -> None:
    img = Image.new("PA", (2, 1))
    img.putpalette([*RED] + [0] * (255 * 3))
    img.putpixel((0, 0), (0, 0))
    img.putpixel((1, 0), (0, 255))
    out = to_rgb(img)
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == RED


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_pure_cyan_becomes_rgb_cyan(tmp_path: Path, suffix: str) -> None:
    out = load_image(save(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), tmp_path / f"cyan{suffix}"))
    assert out.mode == "RGB"
    assert_close(out.getpixel((8, 8)), (0, 255, 255), tol=4)


def test_cmyk_black_and_white(tmp_path: Path) -> None:
    img = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (8, 0, 16, 8))
    out = load_image(save(img, tmp_path / "bw.jpg", quality=95))
    assert_close(out.getpixel((2, 4)), WHITE, tol=4)
    assert_close(out.getpixel((13, 4)), (0, 0, 0), tol=4)


SIXTEEN_BIT = np.array([[0, 32768, 65535]], dtype=np.uint16)
EXPECTED_8BIT = [0, 128, 255]


def gray_row(img: Image.Image) -> list[int]:
    arr = np.asarray(img)
    assert arr.shape == (1, 3, 3)
    assert (arr == arr[..., :1]).all(), "grey must stay grey"
    return arr[0, :, 0].tolist()


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = save(Image.fromarray(SIXTEEN_BIT), tmp_path / "g16.png")
    assert Image.open(path).mode == "I;16"
    assert gray_row(load_image(path)) == EXPECTED_8BIT


def test_16bit_big_endian_tiff_is_scaled(tmp_path: Path) -> None:
    img = Image.frombytes("I;16B", (3, 1), SIXTEEN_BIT.astype(">u2").tobytes())
    path = save(img, tmp_path / "g16b.tif")
    assert Image.open(path).mode == "I;16B"
    assert gray_row(load_image(path)) == EXPECTED_8BIT


def test_32bit_int_tiff_holding_16bit_values_is_scaled(tmp_path: Path) -> None:
    path = save(Image.fromarray(SIXTEEN_BIT.astype(np.int32)), tmp_path / "gi.tif")
    assert Image.open(path).mode == "I"
    assert gray_row(load_image(path)) == EXPECTED_8BIT


def test_float_tiff_in_unit_range_is_scaled(tmp_path: Path) -> None:
    path = save(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)), tmp_path / "gf.tif")
    assert Image.open(path).mode == "F"
    assert gray_row(load_image(path)) == EXPECTED_8BIT


def test_int_outside_16bit_range_is_stretched() -> None:
    out = to_rgb(Image.fromarray(np.array([[-1000, 0, 99000]], dtype=np.int32)))
    row = gray_row(out)
    assert row[0] == 0 and row[2] == 255 and 0 < row[1] < 10


def test_one_bit_and_grayscale(tmp_path: Path) -> None:
    bilevel = Image.new("1", (2, 1), 0)
    bilevel.putpixel((1, 0), 1)
    out = load_image(save(bilevel, tmp_path / "b.png"))
    assert out.getpixel((0, 0)) == (0, 0, 0)
    assert out.getpixel((1, 0)) == WHITE
    gray = load_image(save(Image.new("L", (2, 2), 77), tmp_path / "l.png"))
    assert gray.mode == "RGB" and gray.getpixel((1, 1)) == (77, 77, 77)


def test_returned_image_is_detached_from_the_file(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (8, 8), GREEN), tmp_path / "g.png")
    out = load_image(path)
    path.unlink()
    assert out.getpixel((4, 4)) == GREEN
    assert out.mode == "RGB"


# --------------------------------------------------------------------------- orientation and draft


def left_red_right_blue() -> Image.Image:
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 20, 20))
    return img


# Orientation 6 means "rotate 90° clockwise to display": the stored left edge ends up on top.
# Orientation 8 means "rotate 90° counter-clockwise": the stored left edge ends up at the bottom.
# Pillow's TIFF plugin reports the upright size and rotates on load by itself: it must not be
# rotated twice, by load_image or by read_exif_summary.
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
@pytest.mark.parametrize(("orientation", "top", "bottom"), [(6, RED, BLUE), (8, BLUE, RED)])
def test_exif_orientation_is_applied(
    tmp_path: Path, suffix: str, orientation: int, top: tuple, bottom: tuple
) -> None:
    exif = Image.Exif()
    exif[TAG_ORIENTATION] = orientation
    path = save(left_red_right_blue(), tmp_path / f"rot{suffix}", exif=exif)
    out = load_image(path)
    assert out.size == (20, 40)
    assert_close(out.getpixel((10, 8)), top, tol=8)
    assert_close(out.getpixel((10, 31)), bottom, tol=8)
    summary = read_exif_summary(path)
    assert (summary.width, summary.height, summary.orientation) == (20, 40, orientation)


def test_orientation_1_and_missing_leave_the_image_alone(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[TAG_ORIENTATION] = 1
    for name, kwargs in (("one.jpg", {"exif": exif}), ("none.jpg", {})):
        out = load_image(save(left_red_right_blue(), tmp_path / name, quality=95, **kwargs))
        assert out.size == (40, 20)
        assert_close(out.getpixel((5, 10)), RED, tol=8)


def test_jpeg_draft_decodes_large_photo_at_reduced_scale(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4000, 3000), (90, 140, 200)), tmp_path / "big.jpg")
    small = load_image(path, target_size=256)
    assert small.width < 4000
    assert min(small.size) >= 256
    assert small.width * 3 == small.height * 4  # aspect ratio preserved
    assert_close(small.getpixel((10, 10)), (90, 140, 200), tol=4)
    assert load_image(path, target_size=None).size == (4000, 3000)


# --------------------------------------------------------------------------- bad input


def assert_unsupported(path: Path, **kwargs: object) -> UnsupportedImageError:
    with pytest.raises(UnsupportedImageError) as info:
        load_image(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert isinstance(info.value, PhotoscribeError)
    return info.value


def test_decompression_bomb_refused_by_pillow_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(100_000, 100_000))
    assert "too large" in str(assert_unsupported(path))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_max_pixels_is_checked_before_decoding(tmp_path: Path) -> None:
    # 144 MP: above our 120 MP default but below Pillow's hard error. Decoding this header-only
    # file would fail as "truncated", so "too large" proves the check ran first.
    path = tmp_path / "huge.png"
    path.write_bytes(png_with_header(12_000, 12_000))
    err = assert_unsupported(path)
    assert "too large" in str(err) and "truncated" not in str(err)


def test_max_pixels_argument(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (100, 100)), tmp_path / "s.png")
    assert_unsupported(path, max_pixels=9_999)
    assert load_image(path, max_pixels=10_000).size == (100, 100)


def test_truncated_images_are_not_silently_accepted() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def make_bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / {"dir": "folder.jpg", "zero_png": "empty.png", "zero_width_png": "zw.png"}.get(
        kind, f"{kind}.jpg"
    )
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is a shopping list, not a photo\n" * 20)
    elif kind == "truncated":
        data = noise_jpeg()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(random.Random(1234).randbytes(4096))
    elif kind == "dir":
        path.mkdir()
    elif kind == "zero_png":
        path.write_bytes(b"")
    elif kind == "zero_width_png":
        path.write_bytes(png_with_header(0, 10))
    elif kind != "missing":
        raise AssertionError(kind)
    return path


BAD_KINDS = ["empty", "text", "truncated", "random", "dir", "missing", "zero_png", "zero_width_png"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_files_raise_unsupported_image_error(tmp_path: Path, kind: str) -> None:
    assert_unsupported(make_bad(kind, tmp_path))


@pytest.mark.parametrize("kind", [k for k in BAD_KINDS if k != "truncated"])
def test_bad_files_raise_in_read_exif_summary(tmp_path: Path, kind: str) -> None:
    path = make_bad(kind, tmp_path)
    with pytest.raises(UnsupportedImageError) as info:
        read_exif_summary(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_truncated_jpeg_message_says_truncated(tmp_path: Path) -> None:
    assert "truncated" in str(assert_unsupported(make_bad("truncated", tmp_path)))


# --------------------------------------------------------------------------- preprocessor


def test_preprocessor_output_shape_dtype() -> None:
    out = ImagePreprocessor()(Image.new("RGB", (640, 480), (200, 10, 30)))
    assert out.shape == (3, 224, 224)
    assert out.dtype == torch.float32
    expected = [(c / 255 - m) / s for c, m, s in zip((200, 10, 30), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(out.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-3)


def test_mean_colour_normalises_to_zero() -> None:
    mean_rgb = tuple(round(m * 255) for m in IMAGENET_MEAN)
    out = ImagePreprocessor()(Image.new("RGB", (300, 500), mean_rgb))
    assert out.abs().max().item() < 0.01  # only 8-bit quantisation error is left


def test_preprocessor_resizes_shorter_side_then_center_crops() -> None:
    # 512x256: resize keeps it 512x256, the 224 center crop spans x = 144..368, all green.
    img = Image.new("RGB", (512, 256), GREEN)
    img.paste(RED, (0, 0, 128, 256))
    img.paste(BLUE, (384, 0, 512, 256))
    out = ImagePreprocessor()(img)
    green = torch.tensor(
        [(g / 255 - m) / s for g, m, s in zip(GREEN, IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    )
    assert torch.allclose(out, green.view(3, 1, 1).expand(3, 224, 224), atol=1e-3)


def test_preprocessor_accepts_other_modes_and_sizes() -> None:
    pre = ImagePreprocessor(image_size=32, resize=40)
    assert pre(Image.new("L", (50, 90), 128)).shape == (3, 32, 32)
    assert pre(Image.new("RGBA", (10, 7), (0, 0, 0, 0))).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="image_size"):
        ImagePreprocessor(image_size=300, resize=256)


def test_whole_mode_keeps_the_sides_of_a_wide_photo_that_crop_mode_cuts_off() -> None:
    """A 400x100 photo: red left quarter, green middle, blue right quarter. "crop" sees only the
    green centre square; "whole" squashes the whole photo, so red and blue are still at the edges."""
    img = Image.new("RGB", (400, 100), GREEN)
    img.paste(RED, (0, 0, 100, 100))
    img.paste(BLUE, (300, 0, 400, 100))
    crop = ImagePreprocessor(image_size=64, resize=64, mode="crop").crop(img)
    whole = ImagePreprocessor(image_size=64, resize=64, mode="whole").crop(img)
    assert crop.size == whole.size == (64, 64)
    assert crop.getpixel((2, 32)) == GREEN and crop.getpixel((61, 32)) == GREEN
    assert whole.getpixel((2, 32)) == RED and whole.getpixel((61, 32)) == BLUE
    with pytest.raises(ValueError, match="resize mode"):
        ImagePreprocessor(mode="stretch")


def test_preprocessor_load_matches_call(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(noise_jpeg((320, 240)))
    pre = ImagePreprocessor()
    loaded = pre.load(path)
    assert torch.equal(loaded, pre(load_image(path, target_size=256)))
    assert torch.isfinite(loaded).all()
    with pytest.raises(UnsupportedImageError):
        pre.load(tmp_path / "nope.jpg")


def test_denormalize_round_trips() -> None:
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    pre = ImagePreprocessor(image_size=224, resize=224)  # no resampling: exact inverse expected
    back = pre.denormalize(pre(img))
    assert back.mode == "RGB" and back.size == (224, 224)
    diff = np.abs(np.asarray(back, dtype=np.int16) - np.asarray(img, dtype=np.int16))
    assert diff.max() <= 1
    assert pre.denormalize(pre(img).unsqueeze(0)).size == (224, 224)
    with pytest.raises(ValueError, match="3, H, W"):
        pre.denormalize(torch.zeros(1, 224, 224))


# --------------------------------------------------------------------------- sniffing

SNIFF_FORMATS = [
    ("JPEG", ".jpg"),
    ("PNG", ".png"),
    ("GIF", ".gif"),
    ("BMP", ".bmp"),
    ("TIFF", ".tif"),
    pytest.param("WEBP", ".webp", marks=pytest.mark.skipif(not features.check("webp"), reason="no WebP")),
    pytest.param("AVIF", ".avif", marks=pytest.mark.skipif(not features.check("avif"), reason="no AVIF")),
]


@pytest.mark.parametrize(("fmt", "suffix"), SNIFF_FORMATS)
def test_sniff_recognises_real_images_whatever_the_extension(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = save(Image.new("RGB", (8, 8), RED), tmp_path / f"photo{suffix}", format=fmt)
    renamed = path.rename(tmp_path / "photo.dat")
    assert sniff_image(renamed)


def test_sniff_big_endian_tiff_magic(tmp_path: Path) -> None:
    path = tmp_path / "mm.tif"
    path.write_bytes(b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 24)
    assert sniff_image(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world, this is text\n",
        b"BMW is a car brand, not a bitmap file header.",  # starts with "BM"
        b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20,  # RIFF but audio
        b"%PDF-1.7\n",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",  # MP4 video
    ],
)
def test_sniff_rejects_non_images(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    assert not sniff_image(path)


def test_sniff_rejects_unreadable_paths(tmp_path: Path) -> None:
    assert not sniff_image(tmp_path)
    assert not sniff_image(tmp_path / "missing.jpg")
    random_path = tmp_path / "random.jpg"
    random_path.write_bytes(b"\x13\x37" + random.Random(7).randbytes(100))
    assert not sniff_image(random_path)


# --------------------------------------------------------------------------- EXIF


def exif_with(make: str | None = None, model: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    if make is not None:
        exif[TAG_MAKE] = make
    if model is not None:
        exif[TAG_MODEL] = model
    return exif


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_read_exif_summary_parses_written_tags(tmp_path: Path, suffix: str) -> None:
    exif = exif_with("Canon", "Canon EOS 5D")
    exif[TAG_DATETIME] = "2020:01:01 00:00:00"  # file modification time: must lose to the original
    sub = exif.get_ifd(IFD_EXIF)
    sub[TAG_DATETIME_ORIGINAL] = "2021:07:04 12:34:56"
    sub[0xA434] = "EF 50mm f/1.8 II"  # LensModel
    sub[0x8827] = 400  # ISO
    sub[0x829A] = IFDRational(1, 250)  # ExposureTime
    sub[0x829D] = IFDRational(18, 10)  # FNumber
    sub[0x920A] = IFDRational(50, 1)  # FocalLength
    path = save(Image.new("RGB", (40, 20)), tmp_path / f"e{suffix}", exif=exif)
    assert read_exif_summary(path) == ExifSummary(
        width=40,
        height=20,
        taken_at=datetime(2021, 7, 4, 12, 34, 56),
        camera="Canon EOS 5D",
        orientation=None,
        lens="EF 50mm f/1.8 II",
        iso=400,
        exposure=pytest.approx(1 / 250),
        f_number=pytest.approx(1.8),
        focal_length=pytest.approx(50.0),
    )


def test_read_exif_summary_falls_back_to_datetime(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[TAG_DATETIME] = "2019:12:31 23:59:58"
    summary = read_exif_summary(save(Image.new("RGB", (4, 4)), tmp_path / "d.jpg", exif=exif))
    assert summary.taken_at == datetime(2019, 12, 31, 23, 59, 58)


@pytest.mark.parametrize(
    ("make", "model", "camera"),
    [
        ("Canon", "Canon EOS 5D", "Canon EOS 5D"),
        ("NIKON CORPORATION", "NIKON D750", "NIKON D750"),
        ("Apple", "iPhone 12", "Apple iPhone 12"),
        ("  FUJIFILM \x00", "X-T3\x00\x00", "FUJIFILM X-T3"),
        (None, "X100V", "X100V"),
        ("Leica", None, "Leica"),
        (None, None, None),
    ],
)
def test_camera_name(tmp_path: Path, make: str | None, model: str | None, camera: str | None) -> None:
    path = save(Image.new("RGB", (4, 4)), tmp_path / "c.jpg", exif=exif_with(make, model))
    assert read_exif_summary(path).camera == camera


def test_read_exif_summary_does_not_decode_pixels(tmp_path: Path) -> None:
    # Both files would fail a full decode; the header is all read_exif_summary needs.
    header_only = tmp_path / "header.png"
    header_only.write_bytes(png_with_header(5000, 4000))
    assert (read_exif_summary(header_only).width, read_exif_summary(header_only).height) == (5000, 4000)
    truncated = make_bad("truncated", tmp_path)
    assert read_exif_summary(truncated).width == 200


def test_read_exif_summary_tolerates_garbage_values(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[TAG_ORIENTATION] = 99
    exif[TAG_DATETIME] = "not a date at all, really"
    exif[TAG_MODEL] = 12345  # wrong type
    sub = exif.get_ifd(IFD_EXIF)
    sub[TAG_DATETIME_ORIGINAL] = "0000:00:00 00:00:00"  # what cameras write when the clock is unset
    sub[0x829A] = "fast"  # ExposureTime as text
    sub[0x829D] = IFDRational(1, 0)  # FNumber with a zero denominator
    sub[0x8827] = "high"  # ISO as text
    path = save(Image.new("RGB", (30, 10)), tmp_path / "g.jpg", exif=exif)
    summary = read_exif_summary(path)
    assert (summary.width, summary.height) == (30, 10)
    assert summary.orientation is None
    assert summary.taken_at is None
    assert summary.exposure is None and summary.f_number is None and summary.iso is None
    assert load_image(path).size == (30, 10)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns "Corrupt EXIF data"
@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\x00\x00" + random.Random(5).randbytes(200),
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + random.Random(6).randbytes(50),  # 65535 entries
        b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0",  # IFD offset far past the end
        b"Exif\x00\x00",
    ],
)
def test_garbage_exif_block_never_raises(tmp_path: Path, payload: bytes) -> None:
    jpeg = noise_jpeg((48, 32))
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path = tmp_path / "garbage.jpg"
    path.write_bytes(jpeg[:2] + app1 + jpeg[2:])  # right after SOI
    summary = read_exif_summary(path)
    assert (summary.width, summary.height) == (48, 32)
    assert summary.taken_at is None and summary.camera is None
    assert load_image(path).size == (48, 32)

"""Reading a photo's own descriptions and keywords (core/library/metadata.py), files written by exiftool.

Needs ``exiftool`` (Debian/Ubuntu: ``apt-get install libimage-exiftool-perl``) to write the test
photos: an independent writer, so the reader is checked against what other programs write.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library import metadata
from photoscribe.core.library.metadata import ImportedText, is_boilerplate, read_descriptions


def exiftool(*args: str | Path) -> None:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.fail("exiftool is not installed (Debian/Ubuntu: `apt-get install -y libimage-exiftool-perl`)")
    subprocess.run([tool, "-q", "-q", *map(str, args)], check=True)


def make_jpeg(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    return path


def tagged(path: Path, *tags: str, seed: int = 0) -> Path:
    make_jpeg(path, seed)
    if tags:
        exiftool("-overwrite_original", *tags, path)
    return path


ALL_FIELDS = (
    "-XMP-iptcCore:AltTextAccessibility=Alt text of the photo",
    "-XMP-dc:Description=A dog on a beach",
    "-IPTC:Caption-Abstract=IPTC caption",
    "-EXIF:ImageDescription=EXIF description",
    "-EXIF:XPComment=Windows comment",
    "-EXIF:UserComment=User comment",
)


@pytest.mark.parametrize(
    ("drop", "caption", "source"),
    [
        (0, "Alt text of the photo", "xmp:Iptc4xmpCore:AltTextAccessibility"),
        (1, "A dog on a beach", "xmp:dc:description"),
        (2, "IPTC caption", "iptc:Caption-Abstract"),
        (3, "EXIF description", "exif:ImageDescription"),
        (4, "Windows comment", "exif:XPComment"),
        (5, "User comment", "exif:UserComment"),
    ],
)
def test_caption_precedence(tmp_path: Path, drop: int, caption: str, source: str) -> None:
    photo = tagged(tmp_path / "p.jpg", *ALL_FIELDS[drop:])
    got = read_descriptions(photo)
    assert (got.caption, got.source) == (caption, source)


def test_keywords_from_iptc_and_xmp_without_repeats(tmp_path: Path) -> None:
    photo = tagged(
        tmp_path / "p.jpg",
        "-Keywords=cake",
        "-Keywords=Family",
        "-XMP-dc:Subject=party",
        "-XMP-dc:Subject=family",
    )
    assert read_descriptions(photo) == ImportedText(None, None, ("party", "family", "cake"))


def test_camera_boilerplate_is_skipped(tmp_path: Path) -> None:
    photo = tagged(
        tmp_path / "p.jpg",
        "-EXIF:ImageDescription=OLYMPUS DIGITAL CAMERA",
        "-EXIF:UserComment=Picnic by the lake",
    )
    assert read_descriptions(photo).caption == "Picnic by the lake"
    only = tagged(tmp_path / "q.jpg", "-EXIF:ImageDescription=SONY DSC        ", "-IPTC:Caption-Abstract=   ")
    assert read_descriptions(only) == ImportedText()
    for text in ("SAMSUNG", "DCIM\\100OLYMP", "IMG_1234", "DSC01234.JPG", "", "  ", "..."):
        assert is_boilerplate(text), text
    assert is_boilerplate("Canon EOS 5D", camera=["Canon", "Canon EOS 5D"])
    assert not is_boilerplate("Samsung Galaxy launch party")


def test_sidecars_win_over_the_photo(tmp_path: Path) -> None:
    photo = tagged(tmp_path / "p.jpg", "-XMP-iptcCore:AltTextAccessibility=embedded alt", "-Keywords=inside")
    exiftool("-o", tmp_path / "p.xmp", "-XMP-dc:Description=from p.xmp", "-XMP-dc:Subject=outside")
    assert read_descriptions(photo) == ImportedText(
        "from p.xmp", "sidecar:dc:description", ("outside", "inside")
    )
    exiftool("-o", tmp_path / "p.jpg.xmp", "-XMP-dc:Description=from p.jpg.xmp")
    assert read_descriptions(photo).caption == "from p.jpg.xmp"


def test_lang_alt_prefers_x_default(tmp_path: Path) -> None:
    photo = tagged(tmp_path / "p.jpg", "-XMP-dc:Description-de=Ein Hund", "-XMP-dc:Description=A dog", seed=1)
    assert read_descriptions(photo).caption == "A dog"
    german = tagged(tmp_path / "g.jpg", "-XMP-dc:Description-de=Ein Hund")
    assert read_descriptions(german).caption == "Ein Hund"


def test_latin1_iptc_and_utf8(tmp_path: Path) -> None:
    photo = tagged(tmp_path / "p.jpg", "-charset", "iptc=Latin", "-IPTC:Caption-Abstract=Café Müller")
    assert read_descriptions(photo).caption == "Café Müller"
    utf8 = tagged(tmp_path / "u.jpg", "-EXIF:ImageDescription=Zoë's party 🎂")
    assert read_descriptions(utf8).caption == "Zoë's party 🎂"


def test_long_text_and_many_keywords_are_capped(tmp_path: Path) -> None:
    long = "word " * 1000
    photo = tagged(
        tmp_path / "p.jpg",
        f"-XMP-dc:Description={long}",
        *(f"-XMP-dc:Subject=kw{i}" for i in range(metadata.MAX_KEYWORDS + 20)),
    )
    got = read_descriptions(photo)
    assert got.caption is not None and 1000 < len(got.caption) <= metadata.MAX_TEXT_CHARS
    assert got.caption.endswith("word")
    assert len(got.keywords) == metadata.MAX_KEYWORDS and got.keywords[0] == "kw0"


def test_damaged_and_missing_files_give_nothing(tmp_path: Path) -> None:
    photo = tagged(tmp_path / "p.jpg", "-XMP-dc:Description=A dog")
    truncated = tmp_path / "t.jpg"
    truncated.write_bytes(photo.read_bytes()[:200])
    garbage = tmp_path / "g.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe1" + b"\x00\xff" * 100)
    broken_sidecar = tmp_path / "p.xmp"
    broken_sidecar.write_text("<x:xmpmeta not xml")
    for path in (truncated, garbage, tmp_path / "missing.jpg"):
        assert read_descriptions(path) == ImportedText()
    assert read_descriptions(photo).caption == "A dog"  # a broken sidecar leaves the photo's own text


def test_reading_never_writes(tmp_path: Path) -> None:
    photo = tagged(tmp_path / "p.jpg", *ALL_FIELDS, "-Keywords=cake")
    exiftool("-o", tmp_path / "p.xmp", "-XMP-dc:Description=side")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    read_descriptions(photo)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before


def test_no_metadata(tmp_path: Path) -> None:
    assert read_descriptions(make_jpeg(tmp_path / "plain.jpg")).empty


def test_reading_on_several_threads_agrees(tmp_path: Path) -> None:
    """The scanner reads a batch on a thread pool (the XMP toolkit is set up once, under a lock)."""
    first = tagged(tmp_path / "p0.jpg", "-XMP-dc:Description=A dog", "-Keywords=dog")
    paths = [first] + [Path(shutil.copy(first, tmp_path / f"p{i}.jpg")) for i in range(1, 32)]
    with ThreadPoolExecutor(8) as pool:
        results = set(pool.map(read_descriptions, paths))
    assert results == {ImportedText("A dog", "xmp:dc:description", ("dog",))}


def test_what_photoscribe_exported_is_not_imported_as_a_persons_words(tmp_path: Path) -> None:
    from photoscribe.core.library.xmp import AccessibilityText, write_sidecar

    photo = make_jpeg(tmp_path / "dog.jpg")
    ours = AccessibilityText("a brown dog on the grass", None, "a brown dog on the grass", keywords=("dog",))
    write_sidecar(tmp_path / "dog.jpg.xmp", ours)
    imported = read_descriptions(photo)
    assert imported.caption is None  # a model's caption, exported earlier: not the person's
    assert "dog" in imported.keywords  # keywords are merged, whoever wrote them
    # A person then edits the description in another program: that is theirs.
    exiftool("-overwrite_original", "-XMP-dc:Description=Rex on his first day home", tmp_path / "dog.jpg.xmp")
    assert read_descriptions(photo).caption == "Rex on his first day home"

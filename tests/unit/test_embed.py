"""Writing alt text, description and keywords into photo files (read back with exiftool)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library import embed as embedding
from photoscribe.core.library.database import Library
from photoscribe.core.library.embed import EmbedError, embed_in_file, embed_photos
from photoscribe.core.library.xmp import AccessibilityText
from photoscribe.desktop.cli import main
from tests.helpers import new_library

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")

FORMATS = ("jpg", "png", "tif", "webp")
TEXT = AccessibilityText(
    "a red car parked by a lake", None, "a red car parked by a lake", keywords=("car", "lake")
)
# Tags we write, and the ones that change with any rewrite (file system, the XMP toolkit's name).
OURS = {
    "IFD0:ImageDescription",
    "XMP-dc:Description",
    "XMP-dc:Subject",
    "XMP-iptcCore:AltTextAccessibility",
    "XMP-iptcCore:ExtDescrAccessibility",
    "XMP-photoscribe:DescriptionWritten",
    "XMP-photoscribe:AltTextWritten",
    "XMP-photoscribe:ExtDescrWritten",
    "XMP-photoscribe:MachineGenerated",
    "XMP-x:XMPToolkit",
    "IPTC:Caption-Abstract",
    "IPTC:Keywords",
    "IPTC:ApplicationRecordVersion",
    "SourceFile",
    "IFD0:StripOffsets",  # TIFF: where the unchanged pixel strips now start
}


def _exiftool(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", str(path)], check=True, capture_output=True, text=True
    )
    tags = json.loads(out.stdout)[0]
    return {k: v for k, v in tags.items() if not k.startswith(("System:", "File:", "ExifTool:"))}


def _photo(folder: Path, ext: str, *extra: str) -> Path:
    path = folder / f"photo.{ext}"
    pixels = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-Make=Canon",
            "-Model=EOS R",
            "-DateTimeOriginal=2020:01:02 03:04:05",
            "-XMP:Rating=4",
            "-GPSLatitude=48.1",
            "-GPSLatitudeRef=N",
            *extra,
            str(path),
        ],
        check=True,
    )
    return path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("ext", FORMATS)
def test_embed_writes_our_fields_and_keeps_everything_else(tmp_path: Path, ext: str) -> None:
    path = _photo(tmp_path, ext)
    before, pixels = _exiftool(path), _pixels(path)
    result = embed_in_file(path, TEXT)
    after = _exiftool(path)
    assert after["XMP-iptcCore:AltTextAccessibility"] == TEXT.alt_text
    assert after["XMP-dc:Description"] == TEXT.description
    assert after["XMP-dc:Subject"] == ["car", "lake"]
    assert {"alt text", "description", "keywords"} <= set(result.written_fields)
    if ext != "webp":  # WebP has no IPTC
        assert after["IPTC:Caption-Abstract"] == TEXT.description
        assert after["IPTC:Keywords"] == ["car", "lake"]
    assert {k: v for k, v in before.items() if k not in OURS} == {
        k: v for k, v in after.items() if k not in OURS
    }
    assert after["IFD0:Make"] == "Canon" and after["XMP-xmp:Rating"] == 4
    assert np.array_equal(pixels, _pixels(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


@pytest.mark.parametrize("ext", ("jpg", "png"))
def test_a_persons_description_is_kept_and_reported(tmp_path: Path, ext: str) -> None:
    path = _photo(tmp_path, ext, "-XMP-dc:Description=Grandma's car, summer 1998", "-IPTC:Keywords=family")
    result = embed_in_file(path, TEXT)
    after = _exiftool(path)
    assert after["XMP-dc:Description"] == "Grandma's car, summer 1998"
    assert "description" in result.kept_fields
    assert after["XMP-iptcCore:AltTextAccessibility"] == TEXT.alt_text
    assert after["IPTC:Keywords"] == ["family", "car", "lake"]


def test_running_twice_duplicates_nothing_and_updates_our_own_text(tmp_path: Path) -> None:
    path = _photo(tmp_path, "jpg")
    embed_in_file(path, TEXT)
    embed_in_file(path, TEXT)
    newer = AccessibilityText("a blue car", None, "a blue car", keywords=("Car", "blue"))
    embed_in_file(path, newer)
    after = _exiftool(path)
    assert after["XMP-dc:Subject"] == ["car", "lake", "blue"]
    assert after["IPTC:Keywords"] == ["car", "lake", "blue"]
    assert after["XMP-dc:Description"] == "a blue car"  # ours, so replaced
    assert after["IPTC:Caption-Abstract"] == "a blue car"


def test_long_text_gets_an_extended_description(tmp_path: Path) -> None:
    path = _photo(tmp_path, "png")
    long = "a red car " * 40
    embed_in_file(path, AccessibilityText("a red car…", long.strip(), long.strip()))
    after = _exiftool(path)
    assert after["XMP-iptcCore:AltTextAccessibility"] == "a red car…"
    assert after["XMP-iptcCore:ExtDescrAccessibility"] == long.strip()


@pytest.mark.parametrize("where", ("replace", "write"))
def test_a_failed_write_leaves_the_original_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = _photo(tmp_path, "jpg")
    original = path.read_bytes()
    if where == "replace":

        def fail(*_args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(embedding.os, "replace", fail)
    else:
        real = embedding._edit

        def fail_after_exiv2(tmp: Path, text: AccessibilityText) -> object:
            real(tmp, text)
            raise embedding.exiv2.Exiv2Error(1, "simulated failure")

        monkeypatch.setattr(embedding, "_edit", fail_after_exiv2)
    with pytest.raises(EmbedError, match="not changed"):
        embed_in_file(path, TEXT)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_unsupported_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.heic"
    path.write_bytes(b"not really")
    with pytest.raises(EmbedError, match="sidecars"):
        embed_in_file(path, TEXT)
    assert path.read_bytes() == b"not really"


def _captioned(library: Library, folder: Path) -> tuple[Path, Path]:
    mine = _photo(folder, "jpg")
    model = folder / "model.png"
    shutil.copy(_photo(folder, "png"), model)
    (folder / "photo.png").unlink()
    photo = library.upsert_photo(mine, mine.stat().st_size, mine.stat().st_mtime)
    library.set_user_caption(photo.id, "a red car parked by a lake")
    library.upsert_photo(model, model.stat().st_size, model.stat().st_mtime)
    return mine, model


def test_batch_writes_reviewed_captions_only_by_default(tmp_path: Path, library: Library) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    mine, model = _captioned(library, folder)
    model_bytes = model.read_bytes()
    summary = embed_photos(library)
    assert (summary.written, summary.failed) == (1, ())
    assert _exiftool(mine)["XMP-iptcCore:AltTextAccessibility"] == "a red car parked by a lake"
    assert model.read_bytes() == model_bytes


def test_cli_refuses_without_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "library.sqlite3"
    folder = tmp_path / "photos"
    folder.mkdir()
    with new_library(db) as library:
        mine, _ = _captioned(library, folder)
    before = mine.read_bytes()
    assert main(["library", "write-metadata", "--all", "--db", str(db)]) == 2
    assert "--yes" in capsys.readouterr().out
    assert mine.read_bytes() == before
    assert main(["library", "write-metadata", "--all", "--yes", "--db", str(db)]) == 0
    assert "wrote 1 photo files" in capsys.readouterr().out
    assert _exiftool(mine)["XMP-dc:Description"] == "a red car parked by a lake"


def test_what_photoscribe_wrote_into_a_file_is_not_imported_back_as_a_persons_words(tmp_path: Path) -> None:
    from photoscribe.core.library.embed import embed_in_file
    from photoscribe.core.library.metadata import read_descriptions
    from photoscribe.core.library.xmp import AccessibilityText

    photo = tmp_path / "dog.jpg"
    Image.new("RGB", (32, 24), (120, 80, 40)).save(photo, quality=90)
    embed_in_file(photo, AccessibilityText("a brown dog on the grass", None, "a brown dog on the grass"))
    imported = read_descriptions(photo)
    assert imported.caption is None, imported  # XMP, IPTC and EXIF copies of our text are all ours


def test_cli_skips_a_format_it_cannot_write_without_calling_it_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "library.sqlite3"
    folder = tmp_path / "photos"
    folder.mkdir()
    heic = folder / "phone.heic"
    heic.write_bytes(b"not decoded here")
    with new_library(db) as library:
        mine, _ = _captioned(library, folder)
        photo = library.upsert_photo(heic, heic.stat().st_size, heic.stat().st_mtime)
        library.set_user_caption(photo.id, "a phone photo of a lake")
    assert main(["library", "write-metadata", "--all", "--yes", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "1 in a format that cannot be written; failed 0" in out
    assert "phone.heic" in out and not err
    assert heic.read_bytes() == b"not decoded here"
    assert _exiftool(mine)["XMP-dc:Description"] == "a red car parked by a lake"

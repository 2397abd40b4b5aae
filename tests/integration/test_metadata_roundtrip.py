"""Round trips against exiftool, for each description and keyword field and each sidecar name.

For every field photoscribe reads (EXIF ImageDescription, XPComment, UserComment, IPTC
Caption-Abstract and Keywords, XMP dc:description, dc:subject, Iptc4xmpCore:AltTextAccessibility
and ExtDescrAccessibility), in the photo itself and in each sidecar name (``photo.jpg.xmp``,
``photo.xmp``; a sidecar only carries the XMP fields): exiftool (an independent writer and
reader) writes a person's text into a copy of a real photo; the library imports it; the caption
is edited in photoscribe; ``library export --format xmp`` writes the sidecar, with either
``--sidecar-name``; exiftool reads back that the person's text is still there and ours landed
where the field was empty; a rescan and a brand-new library read the same text again; and a
person's description survives any number of exports. The photos themselves are never written.

One exiftool process writes every file, one reads them back: the whole module runs in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from photoscribe.core.library.database import Library
from photoscribe.core.library.records import CaptionInfo
from photoscribe.core.library.scanner import add_folder, scan_folder
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library

BASE_PHOTO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "000000129648.jpg"  # a real photo

# field -> (exiftool tag to write, the key exiftool's JSON reads it back as, the imported caption's
# source in the photo ({} is "xmp" or "sidecar"), or None for a keyword field)
FIELDS = {
    "ImageDescription": ("EXIF:ImageDescription", "ImageDescription", "exif:ImageDescription"),
    "XPComment": ("EXIF:XPComment", "XPComment", "exif:XPComment"),
    "UserComment": ("EXIF:UserComment", "UserComment", "exif:UserComment"),
    "Caption-Abstract": ("IPTC:Caption-Abstract", "Caption-Abstract", "iptc:Caption-Abstract"),
    "Keywords": ("IPTC:Keywords", "Keywords", None),
    "dc:description": ("XMP-dc:Description", "Description", "{}:dc:description"),
    "dc:subject": ("XMP-dc:Subject", "Subject", None),
    "AltTextAccessibility": (
        "XMP-iptcCore:AltTextAccessibility",
        "AltTextAccessibility",
        "{}:Iptc4xmpCore:AltTextAccessibility",
    ),
    "ExtDescrAccessibility": (
        "XMP-iptcCore:ExtDescrAccessibility",
        "ExtDescrAccessibility",
        "{}:Iptc4xmpCore:ExtDescrAccessibility",
    ),
}
XMP_FIELDS = ("dc:description", "dc:subject", "AltTextAccessibility", "ExtDescrAccessibility")
# Where the person's text is, and the export's --sidecar-name setting (for a new sidecar).
PLACES = ("photo", "photo.jpg.xmp", "photo.xmp")
SETTINGS = {"ext": "photo.jpg.xmp", "stem": "photo.xmp"}


@dataclass(frozen=True)
class Case:
    field: str
    place: str
    setting: str  # "ext" or "stem"
    number: int

    @property
    def id(self) -> str:
        return f"{self.field}-in-{self.place}-export-{self.setting}"

    @property
    def stem(self) -> str:
        return f"case{self.number:02d}"

    @property
    def kind(self) -> str:
        return "keyword" if FIELDS[self.field][2] is None else "caption"

    @property
    def source(self) -> str:
        """The imported caption's source, as the library records it."""
        where = FIELDS[self.field][2]
        assert where is not None
        return "imported:" + where.format("xmp" if self.place == "photo" else "sidecar")

    @property
    def person(self) -> str:
        """The person's text (a keyword has no spaces); Latin-1, which every field can carry."""
        if self.kind == "keyword":
            return f"rosé{self.number}"
        return f"Grand-mère's 80th birthday at the café, number {self.number}"

    @property
    def edited(self) -> str:
        return f"Edited in photoscribe: the family on the terrace, number {self.number}"

    def sidecar(self, folder: Path) -> Path:
        """The sidecar the export merges into: the person's, else a new one named by the setting."""
        name = self.place if self.place != "photo" else SETTINGS[self.setting]
        return folder / self.setting / name.replace("photo", self.stem)

    def other_sidecar(self, folder: Path) -> Path:
        other = "photo.xmp" if self.sidecar(folder).name.endswith(".jpg.xmp") else "photo.jpg.xmp"
        return folder / self.setting / other.replace("photo", self.stem)

    def photo(self, folder: Path) -> Path:
        return folder / self.setting / f"{self.stem}.jpg"


def _cases() -> list[Case]:
    cases: list[Case] = []
    for place in PLACES:
        for name in FIELDS if place == "photo" else XMP_FIELDS:
            # A person's sidecar is merged into whatever the setting: the other setting is the test.
            settings = (
                ("ext", "stem") if place == "photo" else ("stem" if place == "photo.jpg.xmp" else "ext",)
            )
            for setting in settings:
                cases.append(Case(name, place, setting, len(cases) + 1))
    return cases


CASES = _cases()


def exiftool_path() -> str:
    tool = shutil.which("exiftool") or ("/usr/bin/exiftool" if Path("/usr/bin/exiftool").is_file() else None)
    if tool is None:
        pytest.fail("exiftool is not installed (Debian/Ubuntu: `apt-get install -y libimage-exiftool-perl`)")
    return tool


def exiftool_batch(argfile: Path, commands: list[list[str]]) -> None:
    """Run many exiftool commands in one process (``-@ ARGFILE`` with ``-execute`` between them)."""
    lines: list[str] = []
    for command in commands:
        lines += [*command, "-execute"]
    argfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(
        [
            exiftool_path(),
            "-@",
            str(argfile),
            "-common_args",
            "-q",
            "-q",
            "-charset",
            "UTF8",
            "-charset",
            "iptc=UTF8",
        ],
        check=True,
        timeout=120,
    )


def exiftool_read(paths: list[Path]) -> dict[str, dict[str, object]]:
    tags = [f"-{tag}" for tag, _, _ in FIELDS.values()]
    result = subprocess.run(
        [exiftool_path(), "-j", "-charset", "UTF8", "-charset", "iptc=UTF8", *tags, *map(str, paths)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return {item["SourceFile"]: item for item in json.loads(result.stdout.decode("utf-8"))}


def as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def best(library: Library, path: Path) -> tuple[str, str] | None:
    caption = library.best_caption(path)
    return None if caption is None else (caption.text, caption.source)


def words(library: Library, path: Path) -> set[str]:
    return {k.word for k in library.keywords(path)}


def write_persons_text(folder: Path, cases: list[Case]) -> None:
    """Copies of a real photo, each with one field written by exiftool (in the photo or a sidecar)."""
    commands: list[list[str]] = []
    for case in cases:
        photo = case.photo(folder)
        photo.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BASE_PHOTO, photo)
        tag = f"-{FIELDS[case.field][0]}={case.person}"
        if case.place == "photo":
            commands.append(["-overwrite_original", tag, str(photo)])
        else:  # a new XMP sidecar, as Lightroom, darktable or digiKam write them
            commands.append(["-o", str(case.sidecar(folder)), tag, str(photo)])
    exiftool_batch(folder.parent / "exiftool-args.txt", commands)


@dataclass
class Trip:
    """The shared state: folder, library, and what exiftool read after the export."""

    folder: Path
    library: Library
    photos_before: dict[Path, str]
    imported: dict[str, tuple[tuple[str, str] | None, set[str]]]  # case id -> (caption, keywords)
    read_back: dict[str, dict[str, object]]
    exports: dict[str, dict[str, Any]]  # --sidecar-name -> the export's --json summary
    rescan_updated: int
    reimported: dict[str, tuple[CaptionInfo | None, set[str]]]  # case id -> a new library's


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trip]:
    root = tmp_path_factory.mktemp("roundtrip")
    folder = root / "Pictures"
    write_persons_text(folder, CASES)
    photos_before = {case.photo(folder): sha256(case.photo(folder)) for case in CASES}
    db = root / "library.sqlite3"
    with new_library(db) as library:
        add_folder(library, folder)
        imported = {
            case.id: (best(library, case.photo(folder)), words(library, case.photo(folder))) for case in CASES
        }
        for case in CASES:
            library.set_user_caption(case.photo(folder), case.edited)
    exports: dict[str, dict[str, Any]] = {}
    for setting, name in SETTINGS.items():
        out = root / f"export-{setting}.json"
        with open(out, "w", encoding="utf-8") as fh, redirect_stdout(fh):
            code = run_cli(
                "library", "--db", str(db), "export", "--format", "xmp", "--json",
                "--folder", str(folder / setting), "--sidecar-name", setting,
            )  # fmt: skip
        assert code == 0, name
        exports[setting] = json.loads(out.read_text(encoding="utf-8"))
    sidecars = sorted(folder.rglob("*.xmp"))
    read_back = exiftool_read(sidecars + sorted(photos_before))
    with new_library(root / "another.sqlite3") as another:  # a new library (another computer)
        add_folder(another, folder)
        reimported = {
            case.id: (another.best_caption(case.photo(folder)), words(another, case.photo(folder)))
            for case in CASES
        }
    library = Library.open(db)
    try:
        rescan_updated = scan_folder(library, folder).updated
        yield Trip(folder, library, photos_before, imported, read_back, exports, rescan_updated, reimported)
    finally:
        library.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_import_edit_export_reimport(trip: Trip, case: Case) -> None:
    folder = trip.folder
    photo = case.photo(folder)

    # 1. Import: the library has the person's text, marked with where it came from.
    caption, keywords = trip.imported[case.id]
    if case.kind == "caption":
        assert caption == (case.person, case.source)
    else:
        assert caption is None and keywords == {case.person}

    # 2. Export (with --sidecar-name ext or stem): the sidecar the person had, else a new one so named.
    sidecar = case.sidecar(folder)
    assert str(sidecar) in trip.exports[case.setting]["files"]
    assert not case.other_sidecar(folder).exists()  # never a second sidecar beside the person's
    back = trip.read_back[str(sidecar)]
    person_here = case.place != "photo"
    tag_key = FIELDS[case.field][1]
    if person_here:
        assert as_list(back.get(tag_key))[:1] == [case.person]  # the person's text, kept
    for field, key in (("dc:description", "Description"), ("AltTextAccessibility", "AltTextAccessibility")):
        if not (person_here and case.field == field):
            assert back.get(key) == case.edited, field  # ours, where the field was empty
    if not (person_here and case.field == "ExtDescrAccessibility"):
        assert "ExtDescrAccessibility" not in back  # a short text has no extended description
    if case.kind == "keyword":
        assert case.person in as_list(back.get("Subject"))  # the person's keyword, in the sidecar
    kept = {entry["path"]: entry["fields"] for entry in trip.exports[case.setting]["kept"]}
    expected = {"dc:description": ["description"], "AltTextAccessibility": ["alt text"]}.get(case.field)
    assert kept.get(str(sidecar)) == (expected if person_here else None)  # the export said what it kept

    # The photo itself is byte for byte what exiftool wrote, and still says what the person wrote.
    assert sha256(photo) == trip.photos_before[photo]
    if case.place == "photo":
        assert case.person in as_list(trip.read_back[str(photo)].get(tag_key))

    # 3. Re-import: a rescan changes nothing, and a brand-new library reads the same text.
    assert trip.rescan_updated == 0
    assert best(trip.library, photo) == (case.edited, "user")
    again, again_words = trip.reimported[case.id]
    assert again is not None and again.text == case.edited and again.is_user  # a person's words
    assert again.source.startswith("imported:sidecar:")
    if case.kind == "keyword":
        assert case.person in again_words


@pytest.mark.parametrize("exports", [1, 2, 5])
@pytest.mark.parametrize("place", PLACES)
def test_a_persons_description_survives_any_number_of_exports(
    tmp_path: Path, place: str, exports: int
) -> None:
    folder = tmp_path / "Pictures"
    case = Case("dc:description", place, "ext", 1)
    write_persons_text(folder, [case])
    photo, sidecar = case.photo(folder), case.sidecar(folder)
    before = sha256(photo)
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        add_folder(library, folder)
        for number in range(exports):
            library.set_user_caption(photo, f"Edit number {number} of the terrace")
            with open(tmp_path / "out.json", "w", encoding="utf-8") as fh, redirect_stdout(fh):
                assert run_cli("library", "--db", str(db), "export", "--format", "xmp", "--json") == 0
            scan_folder(library, folder)  # reading our own sidecar back changes nothing
            assert best(library, photo) == (f"Edit number {number} of the terrace", "user")
    back = exiftool_read([sidecar, photo])
    last = f"Edit number {exports - 1} of the terrace"
    assert back[str(sidecar)]["AltTextAccessibility"] == last  # ours, replaced by each export
    if place == "photo":  # the new sidecar's description was empty: ours too; the photo keeps the person's
        assert back[str(sidecar)]["Description"] == last
        assert back[str(photo)]["Description"] == case.person
    else:
        assert back[str(sidecar)]["Description"] == case.person
    assert sha256(photo) == before
    assert not case.other_sidecar(folder).exists()


@pytest.mark.parametrize("setting", tuple(SETTINGS))
def test_a_models_caption_exported_is_not_a_persons_in_a_new_library(tmp_path: Path, setting: str) -> None:
    folder = tmp_path / "Pictures"
    case = Case("Keywords", "photo", setting, 1)
    write_persons_text(folder, [case])
    photo = case.photo(folder)
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        add_folder(library, folder)
        info = library.get_photo(photo)
        assert info is not None and library.add_model_caption(info.id, "sat-test-v1", "a dog on a sofa", -1.0)
        library.mark_reviewed(info.id)  # approved, and still a model's words
    with open(tmp_path / "out.json", "w", encoding="utf-8") as fh, redirect_stdout(fh):
        assert (
            run_cli("library", "--db", str(db), "export", "--format", "xmp", "--sidecar-name", setting) == 0
        )
    sidecar = case.sidecar(folder)
    back = exiftool_read([sidecar])[str(sidecar)]
    assert back["Description"] == "a dog on a sofa" and case.person in as_list(back["Subject"])
    with new_library(tmp_path / "another.sqlite3") as another:
        add_folder(another, folder)
        assert another.best_caption(photo) is None  # the model's text is not imported as a person's
        assert case.person in words(another, photo)  # the person's keyword is

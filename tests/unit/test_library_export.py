"""Alt-text export: CSV (formula-safe), JSON (IPTC names), HTML (escaped), XMP sidecars (merged, atomic)."""

from __future__ import annotations

import csv
import json
import os
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from photoscribe.core.errors import CancelledError, ExportError
from photoscribe.core.library.database import Library
from photoscribe.core.library.export import (
    ALT_TEXT_LIMIT,
    CSV_COLUMNS,
    export_csv,
    export_html,
    export_json,
    neutralize_formula,
    split_alt_text,
    write_xmp_sidecars,
)
from photoscribe.core.library.export_scope import ExportScope
from photoscribe.core.library.xmp import (
    NS_DC,
    NS_IPTC_CORE,
    NS_RDF,
    NS_XML,
    AccessibilityText,
    fingerprint,
    merge_sidecar,
)

MODEL = "sat-v1"
NS = {"rdf": NS_RDF, "dc": NS_DC, "Iptc4xmpCore": NS_IPTC_CORE}
LANG = f"{{{NS_XML}}}lang"
FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+2", "-3+4", "@SUM(A1)", "\tcmd", "\rcmd"]
LONG = (
    "A wide view of a crowded harbour at sunset, with dozens of small fishing boats moored along a stone "
    "quay, seagulls circling above the masts, a lighthouse on the far breakwater, and a group of tourists "
    "photographing the orange sky from the terrace of a seafood restaurant near the old customs house."
)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "My Photos"
    folder.mkdir()
    return folder


def _photo(library: Library, path: Path, caption: str, *, user: bool = False, reviewed: bool = False) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
    if user:
        library.set_user_caption(photo.id, caption)
    else:
        library.add_model_caption(photo.id, MODEL, caption, -1.25)
        if reviewed:
            library.mark_reviewed(photo.id)
    return photo.id


def _lang_alt(root: ET.Element, prop: str, lang: str = "x-default") -> str | None:
    for li in root.iterfind(f".//{prop}/rdf:Alt/rdf:li", NS):
        if li.get(LANG) == lang:
            return li.text
    return None


# --------------------------------------------------------------------------- alt text length


@pytest.mark.parametrize("cell", [*FORMULAS, "=1", "+", "-", "@", "\t", "\r"])
def test_neutralize_formula(cell: str) -> None:
    assert neutralize_formula(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "a dog", "'quoted", " =not first", "1-2", "/path/a.jpg", "é=mc2"])
def test_neutralize_formula_leaves_safe_cells(cell: str) -> None:
    assert neutralize_formula(cell) == cell


def test_split_alt_text_cuts_long_text_at_a_word_boundary() -> None:
    alt, extended = split_alt_text(LONG)
    assert len(LONG) > ALT_TEXT_LIMIT
    assert len(alt) < ALT_TEXT_LIMIT and alt.endswith("…")
    assert extended == LONG
    stem = alt[:-1]
    assert LONG.startswith(stem) and LONG[len(stem)] in " ,"  # whole words only
    assert stem.split() == LONG.split()[: len(stem.split())]

    assert split_alt_text("a dog on the grass") == ("a dog on the grass", None)
    assert split_alt_text("x" * 400)[0] == "x" * (ALT_TEXT_LIMIT - 2) + "…"  # no space at all
    assert split_alt_text("a" * 249) == ("a" * 249, None)
    assert len(split_alt_text("a " * 125)[0]) < ALT_TEXT_LIMIT


# --------------------------------------------------------------------------- CSV


def test_csv_neutralises_formulas_and_round_trips(library: Library, photos: Path, tmp_path: Path) -> None:
    for i, caption in enumerate(FORMULAS):
        _photo(library, photos / f"f{i}.jpg", caption, user=True)
    tricky = 'a "quoted", comma\nnew line; ünïcödé 🐶'
    _photo(library, photos / "tricky.jpg", tricky)
    _photo(library, photos / "long.jpg", LONG, reviewed=True)

    summary = export_csv(library, tmp_path / "out.csv", reviewed_only=False)
    assert (summary.written, summary.skipped, summary.failed) == (8, 0, ())
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    by_name = {Path(r["path"]).name: r for r in rows}
    for i, caption in enumerate(FORMULAS[:4]):
        row = by_name[f"f{i}.jpg"]
        assert row["alt_text"] == "'" + caption  # neutralised, and otherwise exactly the caption
        assert (row["source"], row["reviewed"], row["score"]) == ("user", "true", "")
    # Leading tab / CR are stripped from captions when stored, so they cannot start a cell.
    assert by_name["f4.jpg"]["alt_text"] == by_name["f5.jpg"]["alt_text"] == "cmd"
    for row in rows:
        for column in ("alt_text", "extended_description", "path", "source", "language"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert by_name["f0.jpg"]["alt_text"] == "'" + FORMULAS[0]
    assert by_name["tricky.jpg"]["alt_text"] == " ".join(tricky.split())
    assert (by_name["tricky.jpg"]["source"], by_name["tricky.jpg"]["score"]) == (MODEL, "-1.25")
    assert by_name["tricky.jpg"]["reviewed"] == "false"
    assert by_name["long.jpg"]["extended_description"] == LONG
    assert len(by_name["long.jpg"]["alt_text"]) < ALT_TEXT_LIMIT
    assert by_name["long.jpg"]["reviewed"] == "true"


def test_reviewed_only_and_skips(library: Library, photos: Path, tmp_path: Path) -> None:
    _photo(library, photos / "model.jpg", "a model caption")
    _photo(library, photos / "user.jpg", "a user caption", user=True)
    _photo(library, photos / "reviewed.jpg", "a reviewed caption", reviewed=True)
    library.upsert_photo(photos / "none.jpg", 1, 1.0)
    gone = _photo(library, photos / "gone.jpg", "a missing photo", user=True)
    library.mark_missing(gone)

    summary = export_json(library, tmp_path / "all.json", reviewed_only=False)
    assert (summary.written, summary.skipped) == (3, 1)
    summary = export_json(library, tmp_path / "reviewed.json", reviewed_only=True)
    assert (summary.written, summary.skipped) == (2, 2)
    data = json.loads((tmp_path / "reviewed.json").read_text(encoding="utf-8"))
    assert sorted(d["AltTextAccessibility"] for d in data) == ["a reviewed caption", "a user caption"]


# --------------------------------------------------------------------------- JSON


def test_json_uses_iptc_property_names(library: Library, photos: Path, tmp_path: Path) -> None:
    _photo(library, photos / "long.jpg", LONG)
    _photo(library, photos / "short.jpg", "Café in 日本 🐶", user=True)
    export_json(library, tmp_path / "out.json", reviewed_only=False)
    raw = (tmp_path / "out.json").read_text(encoding="utf-8")
    assert "日本" in raw  # not \u-escaped
    data = {Path(d["path"]).name: d for d in json.loads(raw)}
    expected_keys = {
        "path",
        "AltTextAccessibility",
        "ExtDescrAccessibility",
        "language",
        "source",
        "score",
        "reviewed",
        "keywords",
        "confidence",
        "machine_generated",
    }
    assert all(set(d) == expected_keys for d in data.values())
    assert data["long.jpg"]["ExtDescrAccessibility"] == LONG
    assert len(data["long.jpg"]["AltTextAccessibility"]) < ALT_TEXT_LIMIT
    assert (data["long.jpg"]["source"], data["long.jpg"]["score"], data["long.jpg"]["reviewed"]) == (
        MODEL,
        -1.25,
        False,
    )
    assert data["short.jpg"] == {
        "path": str(photos / "short.jpg"),
        "AltTextAccessibility": "Café in 日本 🐶",
        "ExtDescrAccessibility": None,
        "language": "en",
        "source": "user",
        "score": None,
        "reviewed": True,
        "keywords": [],
        "confidence": None,
        "machine_generated": False,
    }
    assert data["long.jpg"]["machine_generated"] is True


# --------------------------------------------------------------------------- HTML


class _Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.captions: list[str] = []
        self.tags: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "figcaption":
            self._in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.captions[-1] += data


def test_html_escapes_everything(library: Library, photos: Path, tmp_path: Path) -> None:
    evil = '<script>alert("x")</script> & \'quotes\' "double" <img src=x onerror=alert(1)>'
    name = 'odd name #1 ?&"<é>.jpg'
    _photo(library, photos / "sub dir" / name, evil, user=True)
    out = tmp_path / "site" / "index.html"
    summary = export_html(library, out, reviewed_only=False)
    assert summary.written == 1
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert "Content-Security-Policy" in page

    parser = _Figures()
    parser.feed(page)
    assert parser.tags.count("img") == 1 and "script" not in parser.tags
    [image] = parser.images
    assert image["alt"] == evil
    assert parser.captions == [evil]
    src = image["src"]
    assert src is not None and " " not in src and "#" not in src and "?" not in src and '"' not in src
    assert "%C3%A9" in src  # é, UTF-8 percent-encoded
    assert (out.parent / urllib.parse.unquote(src)).resolve() == (photos / "sub dir" / name).resolve()


class _Accessibility(HTMLParser):
    """What a screen reader gets from the page: landmarks, headings, and each figure's alt text and
    the caption text it reads (``aria-hidden`` subtrees left out)."""

    VOID = frozenset({"img", "br", "meta", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.html_lang: str | None = None
        self.title = ""
        self.h1 = ""
        self.figures: list[dict[str, str]] = []  # alt, read (exposed caption), shown (all caption text)
        self._stack: list[tuple[str, bool]] = []  # (tag, aria-hidden)

    def _open(self, tag: str) -> bool:
        return any(t == tag for t, _ in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag == "figure":
            self.figures.append({"alt": "", "read": "", "shown": "", "in_main": str(self._open("main"))})
        if tag == "img":
            assert self._open("figure") and "alt" in values
            self.figures[-1]["alt"] = values["alt"] or ""
        if tag not in self.VOID:
            self._stack.append((tag, values.get("aria-hidden") == "true"))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open("title"):
            self.title += data
        if self._open("h1"):
            self.h1 += data
        if self._open("figcaption"):
            self.figures[-1]["shown"] += data
            if not any(hidden for _, hidden in self._stack):
                self.figures[-1]["read"] += data


def test_html_is_accessible_and_reads_each_description_once(
    library: Library, photos: Path, tmp_path: Path
) -> None:
    """The structure an accessibility checker (axe's landmark, heading, image-alt, redundant-alt
    rules) looks at: one h1 in one main, a lang and a title, every img with a non-empty alt, and
    no caption a screen reader would read that repeats its alt."""
    _photo(library, photos / "a.jpg", "a dog on the beach", user=True)
    _photo(library, photos / "b.jpg", "two  cats\n on a sofa")  # spacing differs from its alt text
    _photo(library, photos / "long.jpg", LONG)
    out = tmp_path / "index.html"
    assert export_html(library, out, reviewed_only=False).written == 3

    page = _Accessibility()
    page.feed(out.read_text(encoding="utf-8"))
    assert page.counts.get("h1") == 1 and page.counts.get("main") == 1
    assert page.html_lang == "en" and page.title.strip() and page.h1.strip()
    assert len(page.figures) == 3
    for figure in page.figures:
        assert figure["alt"].strip(), figure
        assert figure["in_main"] == "True"
        assert " ".join(figure["read"].split()) != " ".join(figure["alt"].split()), figure
    by_alt = {f["alt"]: f for f in page.figures}
    # Short captions: shown to everyone, read once (as the alt).
    assert by_alt["a dog on the beach"]["shown"] == "a dog on the beach"
    assert by_alt["a dog on the beach"]["read"] == ""
    # A model's caption: only the note that a model wrote it is read after the alt.
    assert by_alt["two cats on a sofa"]["read"] == "machine-generated"
    # A shortened alt: the full text is read after it, as the extended description.
    alt, _ = split_alt_text(LONG)
    read = by_alt[alt]["read"]
    assert read.startswith(LONG) and read[len(LONG) :].strip() == "machine-generated"


# --------------------------------------------------------------------------- XMP


def test_xmp_sidecar_structure(library: Library, photos: Path) -> None:
    _photo(library, photos / "a.jpg", "a dog & a <cat>", user=True)
    _photo(library, photos / "long.jpg", LONG)
    summary = write_xmp_sidecars(library)
    assert (summary.written, summary.skipped, summary.failed) == (2, 0, ())

    short = ET.parse(photos / "a.jpg.xmp").getroot()
    assert short.tag == "{adobe:ns:meta/}xmpmeta"
    assert _lang_alt(short, "Iptc4xmpCore:AltTextAccessibility") == "a dog & a <cat>"
    assert _lang_alt(short, "dc:description") == "a dog & a <cat>"
    assert short.find(".//Iptc4xmpCore:ExtDescrAccessibility", NS) is None
    raw = (photos / "a.jpg.xmp").read_text(encoding="utf-8")
    assert 'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"' in raw
    assert raw.startswith("<?xpacket begin=") and raw.rstrip().endswith('<?xpacket end="w"?>')

    long = ET.parse(photos / "long.jpg.xmp").getroot()
    alt = _lang_alt(long, "Iptc4xmpCore:AltTextAccessibility")
    assert alt is not None and len(alt) < ALT_TEXT_LIMIT and alt.endswith("…")
    assert _lang_alt(long, "Iptc4xmpCore:ExtDescrAccessibility") == LONG
    assert _lang_alt(long, "dc:description") == LONG


EXISTING = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <!-- keep me -->
 <rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmp:Rating='4'
  xmlns:lr='http://ns.adobe.com/lightroom/1.0/'>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Brighton</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'
  xmlns:Iptc4xmpCore='http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/'>
  <dc:creator><rdf:Seq><rdf:li>Alice</rdf:li></rdf:Seq></dc:creator>
  <dc:description><rdf:Alt>
   <rdf:li xml:lang='x-default'>old description</rdf:li>
   <rdf:li xml:lang='de'>Ein Hund am Strand</rdf:li>
  </rdf:Alt></dc:description>
  <Iptc4xmpCore:ExtDescrAccessibility><rdf:Alt>
   <rdf:li xml:lang='x-default'>stale long text</rdf:li>
  </rdf:Alt></Iptc4xmpCore:ExtDescrAccessibility>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""


def test_xmp_merge_keeps_other_properties_and_languages(library: Library, photos: Path) -> None:
    _photo(library, photos / "a.jpg", "a dog on the beach", user=True)
    (photos / "a.jpg.xmp").write_text(EXISTING, encoding="utf-8")
    summary = write_xmp_sidecars(library)
    assert summary.written == 1
    # The description is a person's (no photoscribe fingerprint): kept, in every language.
    assert summary.kept == ((str(photos / "a.jpg.xmp"), ("description",)),)
    assert summary.kept_note() == "kept your description in 1 sidecar"

    raw = (photos / "a.jpg.xmp").read_text(encoding="utf-8")
    root = ET.fromstring(raw.encode("utf-8"))
    ns = {**NS, "xmp": "http://ns.adobe.com/xap/1.0/", "lr": "http://ns.adobe.com/lightroom/1.0/"}
    descriptions = root.findall(".//rdf:Description", ns)
    assert descriptions[0].get("{http://ns.adobe.com/xap/1.0/}Rating") == "4"
    assert root.find(".//lr:hierarchicalSubject/rdf:Bag/rdf:li", ns).text == "Places|Brighton"
    assert root.find(".//dc:creator/rdf:Seq/rdf:li", ns).text == "Alice"
    assert _lang_alt(root, "dc:description") == "old description"
    assert _lang_alt(root, "dc:description", "de") == "Ein Hund am Strand"
    assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == "a dog on the beach"  # was empty
    # Not ours either: a person's extended description stays even though ours would be empty.
    assert _lang_alt(root, "Iptc4xmpCore:ExtDescrAccessibility") == "stale long text"
    assert len(root.findall(".//dc:description", ns)) == 1
    assert "keep me" in raw and "xmlns:lr=" in raw and "xmlns:xmp=" in raw and "ns0:" not in raw
    # Merging again changes nothing.
    write_xmp_sidecars(library)
    assert (photos / "a.jpg.xmp").read_text(encoding="utf-8") == raw


def _edit_description(sidecar: Path, text: str) -> None:
    """What a person does in another program: change the x-default dc:description."""
    raw = sidecar.read_text(encoding="utf-8")
    root = ET.fromstring(raw.split("?>", 1)[1].rsplit("<?", 1)[0])
    [li] = [li for li in root.iterfind(".//dc:description/rdf:Alt/rdf:li", NS) if li.get(LANG) == "x-default"]
    sidecar.write_text(raw.replace(f">{li.text}<", f">{text}<", 1), encoding="utf-8")


def test_xmp_updates_what_photoscribe_wrote_and_never_a_persons_text(library: Library, photos: Path) -> None:
    photo_id = _photo(library, photos / "a.jpg", "a dog on a sofa")
    sidecar = photos / "a.jpg.xmp"
    assert write_xmp_sidecars(library).kept == ()
    raw = sidecar.read_text(encoding="utf-8")
    assert 'xmlns:photoscribe="https://photoscribe.app/ns/1.0/"' in raw
    assert fingerprint("a dog on a sofa") in raw

    # Ours: updated when the caption changes.
    library.set_user_caption(photo_id, "a brown dog asleep on a sofa")
    assert write_xmp_sidecars(library).kept == ()
    root = ET.parse(sidecar).getroot()
    assert _lang_alt(root, "dc:description") == "a brown dog asleep on a sofa"
    assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == "a brown dog asleep on a sofa"

    # A person's: survives any number of exports and caption changes.
    _edit_description(sidecar, "Our dog Rex on his first day home")
    for caption in ("a dog on a sofa", "a dog", "a dog"):
        library.set_user_caption(photo_id, caption)
        summary = write_xmp_sidecars(library)
        assert summary.kept == ((str(sidecar), ("description",)),)
        root = ET.parse(sidecar).getroot()
        assert _lang_alt(root, "dc:description") == "Our dog Rex on his first day home"
        assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == caption  # still ours
    assert len(root.findall(".//dc:description", NS)) == 1


def test_merge_sidecar_shorthand_and_empty_values() -> None:
    person = (
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        b"<rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/' dc:description='Rex'"
        b" xmlns:Iptc4xmpCore='http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/'>"
        b"<Iptc4xmpCore:AltTextAccessibility><rdf:Alt><rdf:li xml:lang='x-default'> </rdf:li></rdf:Alt>"
        b"</Iptc4xmpCore:AltTextAccessibility></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    result = merge_sidecar(person, AccessibilityText("a dog", None, "a dog"))
    assert result.kept == ("description",)
    root = ET.fromstring(result.data.decode("utf-8").split("?>", 1)[1].rsplit("<?", 1)[0])
    assert root.find(".//rdf:Description", NS).get(f"{{{NS_DC}}}description") == "Rex"
    assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == "a dog"  # blank counts as empty


def test_xmp_merges_into_the_sidecar_that_exists(library: Library, photos: Path) -> None:
    _photo(library, photos / "lr.jpg", "a red bus")
    _photo(library, photos / "both.jpg", "a cat")
    _photo(library, photos / "new.jpg", "a tree")
    _photo(library, photos / "pair.jpg", "a boat")
    (photos / "pair.cr2").write_bytes(b"raw")  # pair.xmp would belong to the raw as much as to the jpg
    (photos / "pair.xmp").write_text(EXISTING, encoding="utf-8")
    (photos / "lr.xmp").write_text(EXISTING, encoding="utf-8")  # Lightroom style
    (photos / "both.jpg.xmp").write_bytes(merge_sidecar(None, AccessibilityText("", None, "")).data)
    (photos / "both.xmp").write_text(EXISTING, encoding="utf-8")  # holds the description: chosen

    summary = write_xmp_sidecars(library, xmp_sidecar_name="photo.xmp")
    assert summary.written == 4
    assert not (photos / "lr.jpg.xmp").exists()  # merged, not duplicated
    root = ET.parse(photos / "lr.xmp").getroot()
    assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == "a red bus"
    assert _lang_alt(root, "dc:description") == "old description"
    assert "a cat" in (photos / "both.xmp").read_text(encoding="utf-8")
    assert "a cat" not in (photos / "both.jpg.xmp").read_text(encoding="utf-8")
    assert (photos / "new.xmp").is_file() and not (photos / "new.jpg.xmp").exists()
    assert (photos / "pair.xmp").read_text(encoding="utf-8") == EXISTING
    assert "a boat" in (photos / "pair.jpg.xmp").read_text(encoding="utf-8")
    assert sorted(Path(p).name for p, _ in summary.kept) == ["both.xmp", "lr.xmp"]

    assert write_xmp_sidecars(library).written == 4  # default name: the existing ones are still used
    assert not (photos / "new.jpg.xmp").exists()
    with pytest.raises(ExportError, match=r"photo\.jpg\.xmp, photo\.xmp"):
        write_xmp_sidecars(library, xmp_sidecar_name="IMG.xmp")


def test_xmp_merge_rejects_bad_sidecars_without_touching_them(library: Library, photos: Path) -> None:
    _photo(library, photos / "a.jpg", "caption a", user=True)
    _photo(library, photos / "b.jpg", "caption b", user=True)
    _photo(library, photos / "c.jpg", "caption c", user=True)
    broken = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>"
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    (photos / "a.jpg.xmp").write_bytes(broken)
    (photos / "b.jpg.xmp").write_bytes(bomb)
    summary = write_xmp_sidecars(library)
    assert summary.written == 1
    assert sorted(Path(p).name for p, _ in summary.failed) == ["a.jpg", "b.jpg"]
    assert (photos / "a.jpg.xmp").read_bytes() == broken
    assert (photos / "b.jpg.xmp").read_bytes() == bomb


def test_xmp_write_is_atomic(library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _photo(library, photos / "a.jpg", "a new caption", user=True)
    sidecar = photos / "a.jpg.xmp"
    sidecar.write_text(EXISTING, encoding="utf-8")
    os.chmod(sidecar, 0o640)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    summary = write_xmp_sidecars(library)
    assert summary.written == 0 and "disk full" in summary.failed[0][1]
    assert sidecar.read_text(encoding="utf-8") == EXISTING
    assert sorted(p.name for p in photos.iterdir()) == ["a.jpg", "a.jpg.xmp"]  # no temp file left

    monkeypatch.undo()
    assert write_xmp_sidecars(library).written == 1
    assert sorted(p.name for p in photos.iterdir()) == ["a.jpg", "a.jpg.xmp"]
    assert sidecar.stat().st_mode & 0o777 == 0o640  # permissions of the replaced file kept
    assert _lang_alt(ET.parse(sidecar).getroot(), "Iptc4xmpCore:AltTextAccessibility") == "a new caption"


def test_xmp_into_an_out_folder_mirrors_the_tree(library: Library, photos: Path, tmp_path: Path) -> None:
    _photo(library, photos / "2019" / "a.jpg", "first", user=True)
    _photo(library, photos / "2020" / "trip" / "a.jpg", "second", user=True)
    out = tmp_path / "sidecars"
    assert write_xmp_sidecars(library, out).written == 2
    assert (out / "2019" / "a.jpg.xmp").is_file()
    assert (out / "2020" / "trip" / "a.jpg.xmp").is_file()
    assert not (photos / "2019" / "a.jpg.xmp").exists()


def test_originals_are_never_written(library: Library, photos: Path, tmp_path: Path) -> None:
    _photo(library, photos / "a.jpg", "a caption", user=True)
    before = ((photos / "a.jpg").read_bytes(), (photos / "a.jpg").stat().st_mtime_ns)
    write_xmp_sidecars(library)
    export_csv(library, tmp_path / "x.csv", reviewed_only=False)
    assert ((photos / "a.jpg").read_bytes(), (photos / "a.jpg").stat().st_mtime_ns) == before


def test_xml_invalid_characters_are_dropped() -> None:
    data = merge_sidecar(None, AccessibilityText("bell\x07 and nul\x00", None, "form\x0cfeed")).data
    root = ET.fromstring(data)
    assert _lang_alt(root, "Iptc4xmpCore:AltTextAccessibility") == "bell and nul"
    assert _lang_alt(root, "dc:description") == "formfeed"


# --------------------------------------------------------------------------- progress and cancel


@pytest.mark.parametrize("exporter", [export_csv, export_json, export_html])
def test_progress_and_cancel(library: Library, photos: Path, tmp_path: Path, exporter) -> None:
    for i in range(120):
        _photo(library, photos / f"{i:03d}.jpg", f"photo number {i}")
    seen = []
    exporter(library, tmp_path / "out", on_progress=seen.append, reviewed_only=False)
    assert seen[-1].done == seen[-1].total == 120 and seen[-1].stage == "export"
    assert [p.done for p in seen] == sorted(p.done for p in seen)

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        exporter(library, tmp_path / "cancelled", cancel=cancel, reviewed_only=False)
    assert not (tmp_path / "cancelled").exists()


def test_keywords_confidence_and_low_confidence_left_out(
    library: Library, photos: Path, tmp_path: Path
) -> None:
    def model_photo(name: str, text: str, confidence: float | None, keywords: list[tuple[str, float]]) -> int:
        path = photos / name
        path.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
        photo = library.upsert_photo(path, path.stat().st_size, path.stat().st_mtime)
        library.add_model_caption(photo.id, MODEL, text, -1.0, confidence=confidence, keywords=keywords)
        return photo.id

    model_photo("a.jpg", "a bus on a street", 0.9, [("bus", 0.8), ("=cmd", 0.1)])
    low = model_photo("b.jpg", "a man riding a horse", 0.2, [("bus", 0.7)])
    model_photo("c.jpg", "a dog", None, [])
    model_photo("d.jpg", "a cat on a bus", 0.1, [])

    summary = export_json(library, tmp_path / "out.json", reviewed_only=False)
    assert (summary.written, summary.skipped, summary.low_confidence) == (2, 0, 2)
    assert (
        summary.low_confidence_note()
        == "2 low-confidence captions left out; --include-low-confidence exports them"
    )
    records = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [(Path(r["path"]).name, r["keywords"], r["confidence"]) for r in records] == [
        ("a.jpg", ["bus", "=cmd"], 0.9),
        ("c.jpg", [], None),
    ]

    library.mark_reviewed(low)  # a person checked it: exported
    summary = export_csv(library, tmp_path / "out.csv", reviewed_only=False)
    assert (summary.written, summary.low_confidence) == (3, 1)
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["keywords"], r["confidence"]) for r in rows] == [
        ("bus; =cmd", "0.9"),
        ("bus", "0.2"),
        ("", ""),
    ]

    summary = export_html(library, tmp_path / "out.html", include_low_confidence=True, reviewed_only=False)
    assert (summary.written, summary.low_confidence, summary.low_confidence_note()) == (4, 0, "")
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "Keywords: bus, =cmd; confidence 0.90" in page and "confidence 0.10" in page

    summary = write_xmp_sidecars(library)
    assert (summary.written, summary.low_confidence) == (3, 1)
    assert not (photos / "d.jpg.xmp").exists()
    root = ET.fromstring(
        (photos / "a.jpg.xmp").read_bytes().decode("utf-8").split("?>", 1)[1].rsplit("<?", 1)[0]
    )
    assert [li.text for li in root.iterfind(".//dc:subject/rdf:Bag/rdf:li", NS)] == ["bus", "=cmd"]


def test_merge_sidecar_keeps_existing_subjects_without_duplicates() -> None:
    existing = merge_sidecar(None, AccessibilityText("x", None, "x", keywords=("Mia", "mia", " Beach "))).data
    merged = merge_sidecar(existing, AccessibilityText("y", None, "y", keywords=("beach", "dog"))).data
    body = merged.decode("utf-8").split("?>", 1)[1].rsplit("<?", 1)[0]
    root = ET.fromstring(body)
    assert [li.text for li in root.iterfind(".//dc:subject/rdf:Bag/rdf:li", NS)] == ["Mia", "Beach", "dog"]
    assert len(root.findall(".//dc:subject", NS)) == 1


# --------------------------------------------------------------------------- scope, reviewed-only, machine_generated


def _scoped_library(library: Library, photos: Path) -> dict[str, int]:
    ids = {
        "dog": _photo(library, photos / "trip" / "dog.jpg", "a dog on the beach", reviewed=True),
        "cat": _photo(library, photos / "trip" / "cat.jpg", "a cat on a sofa"),
        "bus": _photo(library, photos / "town" / "bus.jpg", "a red bus in the street", user=True),
        "dogs": _photo(library, photos / "town" / "dogs.jpg", "two dogs and a bus", reviewed=True),
    }
    return ids


def _names(path: Path) -> list[str]:
    return sorted(Path(d["path"]).name for d in json.loads(path.read_text(encoding="utf-8")))


def test_reviewed_only_is_the_default_and_says_what_was_left_out(
    library: Library, photos: Path, tmp_path: Path
) -> None:
    _scoped_library(library, photos)
    summary = export_json(library, tmp_path / "default.json")
    assert _names(tmp_path / "default.json") == ["bus.jpg", "dog.jpg", "dogs.jpg"]
    assert (summary.written, summary.skipped, summary.unreviewed) == (3, 1, 1)
    assert summary.as_dict()["skipped"] == {
        "total": 1,
        "no_caption": 0,
        "not_reviewed": 1,
        "low_confidence": 0,
    }
    assert summary.as_dict()["files"] == [str(tmp_path / "default.json")]
    summary = export_json(library, tmp_path / "all.json", reviewed_only=False)
    assert _names(tmp_path / "all.json") == ["bus.jpg", "cat.jpg", "dog.jpg", "dogs.jpg"]
    assert (summary.written, summary.unreviewed) == (4, 0)


def test_scope_selection_query_and_folder(library: Library, photos: Path, tmp_path: Path) -> None:
    ids = _scoped_library(library, photos)
    selection = ExportScope(photo_ids=(ids["dog"], ids["cat"]))
    summary = export_json(library, tmp_path / "sel.json", scope=selection, reviewed_only=False)
    assert _names(tmp_path / "sel.json") == ["cat.jpg", "dog.jpg"] and summary.skipped == 0
    assert selection.count(library) == 2
    # Search-box semantics: stemming ("dogs" finds "dog"), exclusion, prefix of the last word.
    summary = export_json(library, tmp_path / "q.json", scope=ExportScope(query="dog -bus"))
    assert _names(tmp_path / "q.json") == ["dog.jpg"]
    export_json(library, tmp_path / "p.json", scope=ExportScope(query="stre"), reviewed_only=False)
    assert _names(tmp_path / "p.json") == ["bus.jpg"]
    export_csv(library, tmp_path / "f.csv", scope=ExportScope(folder=photos / "town"))
    with open(tmp_path / "f.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(Path(r["path"]).name for r in rows) == ["bus.jpg", "dogs.jpg"]
    # Folder and query together; a reviewed-only export of an unreviewed photo skips it, saying why.
    both = ExportScope(query="cat", folder=photos / "trip")
    summary = export_json(library, tmp_path / "b.json", scope=both)
    assert (summary.written, summary.unreviewed, both.count(library)) == (0, 1, 1)
    assert export_json(library, tmp_path / "n.json", scope=ExportScope(query="zebra")).skipped == 0


def test_machine_generated_marks_a_models_text(library: Library, photos: Path, tmp_path: Path) -> None:
    _scoped_library(library, photos)
    export_json(library, tmp_path / "out.json", reviewed_only=False)
    data = {Path(d["path"]).name: d for d in json.loads((tmp_path / "out.json").read_text("utf-8"))}
    # A person's caption is not machine-made; a model's is, even once a person approved it.
    assert {name: d["machine_generated"] for name, d in data.items()} == {
        "bus.jpg": False,
        "cat.jpg": True,
        "dog.jpg": True,
        "dogs.jpg": True,
    }
    export_csv(library, tmp_path / "out.csv", reviewed_only=False)
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as handle:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert rows["bus.jpg"]["machine_generated"] == "false" and rows["cat.jpg"]["machine_generated"] == "true"
    export_html(library, tmp_path / "out.html", reviewed_only=False)
    assert (tmp_path / "out.html").read_text("utf-8").count("machine-generated") == 3

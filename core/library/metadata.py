"""Read the descriptions and keywords a photo already carries (EXIF, IPTC, XMP and XMP sidecars).

What a person (or another program of theirs) wrote into a photo is theirs: the scanner stores it
as the photo's preferred caption and as imported keywords (:func:`photoscribe.core.library.captions.
set_imported_caption`, :func:`photoscribe.core.library.keywords.add_imported_keywords`), so it is
searchable at once and no model replaces it.

Fields read, and the caption's precedence (first non-boilerplate value wins):

1. the sidecars, ``photo.jpg.xmp`` then ``photo.xmp`` (what a person edited in Lightroom,
   darktable or digiKam is newer than what the camera wrote), in the XMP order below;
2. the photo itself:
   ``Iptc4xmpCore:AltTextAccessibility`` > ``dc:description`` > ``Iptc4xmpCore:ExtDescrAccessibility``
   > IPTC ``Caption-Abstract`` > EXIF ``ImageDescription`` > ``XPComment`` > ``UserComment``.

Texts photoscribe wrote itself (their fingerprints are in the ``photoscribe`` namespace, see
:mod:`.xmp`) are a model's and are skipped, unless the file marks them as a person's words
(``photoscribe:MachineGenerated`` is ``False``: a caption typed in photoscribe, or imported
there, and exported): those come first in their file, as a caption typed in photoscribe wins
there, so another library reads back the text this one had.

Keywords are the union of ``dc:subject`` (sidecars, then the photo) and IPTC ``Keywords``, first
spelling kept. Language alternatives give ``x-default`` first, then the first language listed.
Text that is not UTF-8 (old IPTC and EXIF ASCII fields) is read as Windows-1252. Camera
boilerplate (:data:`BOILERPLATE`, :data:`BOILERPLATE_PATTERNS`, and text equal to the camera's
make or model) is skipped.

The files are read with python-exiv2 (the ``exiv2`` package): the library digiKam and darktable
use, maintained, shipped inside its wheel (no system package), and it reads EXIF, IPTC and XMP
of every image format and XMP sidecars through one API. Nothing is ever written: the image is
opened, its metadata read, and closed. A file exiv2 cannot read is logged and yields nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import exiv2

from photoscribe.core.errors import LibraryError, UnsupportedImageError
from photoscribe.core.files.safe_files import MAX_PHOTO_BYTES, MAX_SIDECAR_BYTES, check_photo_file
from photoscribe.core.library.keywords import clean_word
from photoscribe.core.library.xmp import fingerprint

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2_000  # an imported caption longer than this is cut at a word boundary
MAX_KEYWORDS = 100  # imported keywords per photo

# Descriptions cameras and phones write by themselves (compared case-insensitively, trimmed).
BOILERPLATE = frozenset(
    text.casefold()
    for text in (
        "OLYMPUS DIGITAL CAMERA",
        "SONY DSC",
        "SAMSUNG",
        "SAMSUNG CAMERA PICTURES",
        "KONICA MINOLTA DIGITAL CAMERA",
        "MINOLTA DIGITAL CAMERA",
        "KODAK DIGITAL STILL CAMERA",
        "NIKON DIGITAL CAMERA",
        "DIGITAL CAMERA",
        "CAMERA",
        "EXIF_JPEG_PICTURE",
        "LG Electronics",
        "Default",
        "Picture",
        "Image",
        "Photo",
        "Description",
        "No description",
        "Unknown",
        "Untitled",
    )
)
# Folder and file names written as descriptions: "DCIM\100OLYMP", "IMG_1234", "DSC01234.JPG".
BOILERPLATE_PATTERNS = (
    re.compile(r"dcim\b.*", re.IGNORECASE | re.DOTALL),
    re.compile(r"(img|dsc|dscn|dscf|dji|imag|pict|pxl|p|sam|gopr)[\s_-]*\d+([._-]\w+)*", re.IGNORECASE),
    re.compile(r"[\W_]*"),  # nothing but spaces and punctuation (also the empty string)
)

# (exiv2 key, field name in the caption source), in precedence order.
XMP_CAPTION_KEYS = (
    ("Xmp.iptc.AltTextAccessibility", "Iptc4xmpCore:AltTextAccessibility"),
    ("Xmp.dc.description", "dc:description"),
    ("Xmp.iptc.ExtDescrAccessibility", "Iptc4xmpCore:ExtDescrAccessibility"),
)
IPTC_CAPTION = "Iptc.Application2.Caption"
IPTC_KEYWORDS = "Iptc.Application2.Keywords"
XMP_SUBJECT = "Xmp.dc.subject"
EXIF_DESCRIPTION = "Exif.Image.ImageDescription"
EXIF_XP_COMMENT = "Exif.Image.XPComment"
EXIF_USER_COMMENT = "Exif.Photo.UserComment"
EXIF_CAMERA = ("Exif.Image.Make", "Exif.Image.Model")

# The XMP toolkit's one-time set-up is not thread-safe, and the scanner reads on several threads.
_XMP_READY = threading.Event()
_XMP_LOCK = threading.Lock()

# Failures of one file: exiv2's own, a path it cannot open, text it cannot decode.
_READ_ERRORS = (exiv2.Exiv2Error, OSError, UnicodeError, ValueError)


@dataclass(frozen=True)
class ImportedText:
    """What a photo says about itself.

    Attributes:
        caption: the description by precedence (see the module docstring), or ``None``.
        source: where ``caption`` came from, e.g. ``"xmp:dc:description"``,
            ``"sidecar:Iptc4xmpCore:AltTextAccessibility"``, ``"iptc:Caption-Abstract"``,
            ``"exif:ImageDescription"``; ``None`` without a caption.
        keywords: the keywords, in file order, without case-insensitive repeats.
    """

    caption: str | None = None
    source: str | None = None
    keywords: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.caption is None and not self.keywords


NOTHING = ImportedText()


def sidecar_candidates(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The two sidecar names of a photo, in precedence order: ``photo.jpg.xmp``, ``photo.xmp``."""
    text = os.fspath(path)
    return text + ".xmp", os.path.splitext(text)[0] + ".xmp"


def is_boilerplate(text: str, camera: Iterable[str] = ()) -> bool:
    """Whether a description is what a camera writes by itself (or nothing at all)."""
    folded = text.strip().casefold()
    if folded in BOILERPLATE or any(p.fullmatch(folded) for p in BOILERPLATE_PATTERNS):
        return True
    return any(folded == c.strip().casefold() for c in camera if c.strip())


def clean_text(text: str) -> str:
    """NFC, no control characters but line breaks and tabs, trimmed, at most :data:`MAX_TEXT_CHARS`."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if len(text) > MAX_TEXT_CHARS:
        cut = text[:MAX_TEXT_CHARS]
        space = cut.rfind(" ")
        text = (cut[:space] if space > MAX_TEXT_CHARS // 2 else cut).rstrip()
    return text


def decode_bytes(raw: bytes) -> str:
    """Legacy text: UTF-8 when it is valid UTF-8, else Windows-1252; trailing NULs dropped."""
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------- reading one file


def _init_xmp() -> None:
    if not _XMP_READY.is_set():
        with _XMP_LOCK:
            if not _XMP_READY.is_set():
                exiv2.XmpParser.initialize()
                _XMP_READY.set()


def _open(path: str) -> Any | None:
    """The exiv2 image with its metadata read, or ``None`` (logged) when exiv2 cannot read it."""
    _init_xmp()
    try:
        image = exiv2.ImageFactory.open(path)
        image.readMetadata()
    except _READ_ERRORS as exc:
        log.info("cannot read the metadata of %s (%s); it is indexed without it", path, exc)
        return None
    return image


def _raw(datum: Any) -> bytes:
    return bytes(datum.value().data())


def _xmp_text(datum: Any) -> str:
    """A lang-alt value's x-default (else first) alternative; any other value as text."""
    value = datum.value()
    if isinstance(value, exiv2.LangAltValue):
        alternatives = dict(value)
        if not alternatives:
            return ""
        return alternatives.get("x-default", next(iter(alternatives.values())))
    return str(datum.toString())


def _xmp_items(datum: Any) -> list[str]:
    value = datum.value()
    if isinstance(value, exiv2.XmpArrayValue):
        return [str(value.toString(i)) for i in range(value.count())]
    return [str(datum.toString())]


def _xmp(image: Any, origin: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Caption candidates ``(source, text)`` in precedence order, and keywords, from XMP."""
    found: dict[str, Any] = {}
    for datum in image.xmpData():
        found.setdefault(datum.key(), datum)
    persons = _persons_words(found.values())
    ours: list[tuple[str, str]] = []  # a person's words that photoscribe wrote: their latest edit
    newer: list[tuple[str, str]] = []  # a person's text edited elsewhere after our export
    theirs: list[tuple[str, str]] = []
    for key, name in XMP_CAPTION_KEYS:
        if key not in found:
            continue
        text = _xmp_text(found[key])
        if not _written_by_photoscribe(found, key, text):
            (newer if _edited_since_export(found, key, text) else theirs).append((f"{origin}:{name}", text))
        elif persons:
            ours.append((f"{origin}:{name}", text))
    # A caption typed in photoscribe wins over the file's older texts there, so it does here too:
    # importing the export elsewhere gives the text the library had. A text changed in another
    # program since (Lightroom rewrote dc:description) is newer still, and wins over ours.
    captions = newer + ours + theirs
    keywords = _xmp_items(found[XMP_SUBJECT]) if XMP_SUBJECT in found else []
    return captions, keywords


# photoscribe's own exports record a fingerprint of each text they wrote (core/library/xmp.py): such
# a text is a model's (or an earlier export's), not a person's, and is not imported as theirs,
# unless the file says photoscribe wrote a person's words (photoscribe:MachineGenerated = False).
_PROVENANCE = {
    "Xmp.iptc.AltTextAccessibility": "AltTextWritten",
    "Xmp.dc.description": "DescriptionWritten",
    "Xmp.iptc.ExtDescrAccessibility": "ExtDescrWritten",
}


# photoscribe:MachineGenerated = "False": the texts photoscribe wrote are a person's (typed in
# photoscribe, or imported there), so they are read back like any person's text.
_MACHINE_MARK = ".MachineGenerated"


def _persons_words(data: Iterable[Any]) -> bool:
    return any(
        datum.key().startswith("Xmp.")
        and datum.key().endswith(_MACHINE_MARK)
        and str(datum.toString()).strip().casefold() == "false"
        for datum in data
    )


def _written_by_photoscribe(found: dict[str, Any], key: str, text: str) -> bool:
    """Whether ``text`` is what photoscribe wrote into this property (its fingerprint is recorded)."""
    mark = _PROVENANCE.get(key)
    if mark is None:
        return False
    for datum_key, datum in found.items():
        if datum_key.endswith(f".{mark}") and datum_key.startswith("Xmp."):
            return str(datum.toString()) == fingerprint(text)
    return False


def _edited_since_export(found: dict[str, Any], key: str, text: str) -> bool:
    """Whether a person's ``text`` differs from what this property held (``*Seen``) or what we
    wrote into it (``*Written``) at photoscribe's last export: then it was edited afterwards."""
    written = _PROVENANCE.get(key)
    if written is None:
        return False
    marks = tuple(f".{mark}" for mark in (written, written.removesuffix("Written") + "Seen"))
    return any(
        key.startswith("Xmp.") and key.endswith(marks) and str(datum.toString()) != fingerprint(text)
        for key, datum in found.items()
    )


def _iptc(image: Any) -> tuple[list[tuple[str, str]], list[str]]:
    captions: list[tuple[str, str]] = []
    keywords: list[str] = []
    for datum in image.iptcData():
        key = datum.key()
        if key == IPTC_CAPTION and not captions:
            captions.append(("iptc:Caption-Abstract", decode_bytes(_raw(datum))))
        elif key == IPTC_KEYWORDS:
            keywords.append(decode_bytes(_raw(datum)))
    return captions, keywords


def _user_comment(datum: Any) -> str:
    value = datum.value()
    try:
        return str(value.comment())
    except UnicodeError:  # a broken UNICODE comment: read the bytes after the 8-byte charset header
        return decode_bytes(_raw(datum)[8:])


def _exif(image: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """Caption candidates from EXIF, and the camera make and model (boilerplate)."""
    exif = image.exifData()
    captions: list[tuple[str, str]] = []
    if EXIF_DESCRIPTION in exif:
        captions.append(("exif:ImageDescription", decode_bytes(_raw(exif[EXIF_DESCRIPTION]))))
    if EXIF_XP_COMMENT in exif:  # Windows: UTF-16LE bytes
        text = _raw(exif[EXIF_XP_COMMENT]).decode("utf-16-le", errors="replace")
        captions.append(("exif:XPComment", text.split("\x00", 1)[0]))
    if EXIF_USER_COMMENT in exif:
        captions.append(("exif:UserComment", _user_comment(exif[EXIF_USER_COMMENT])))
    camera = [decode_bytes(_raw(exif[key])) for key in EXIF_CAMERA if key in exif]
    return captions, camera


def _read_one(path: str, *, sidecar: bool) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    try:  # exiv2 opens by path: only a regular file of a sane size gets that far (never a FIFO)
        check_photo_file(path, max_bytes=MAX_SIDECAR_BYTES if sidecar else MAX_PHOTO_BYTES)
    except (OSError, UnsupportedImageError) as exc:
        log.info("not reading the metadata of %s (%s)", path, exc)
        return [], [], []
    image = _open(path)
    if image is None:
        return [], [], []
    try:
        captions, keywords = _xmp(image, "sidecar" if sidecar else "xmp")
        if sidecar:
            return captions, keywords, []
        iptc_captions, iptc_keywords = _iptc(image)
        exif_captions, camera = _exif(image)
        marks = _photoscribe_marks(image)
    except _READ_ERRORS as exc:
        log.info("cannot read the metadata of %s (%s); it is indexed without it", path, exc)
        return [], [], []
    # IPTC and EXIF texts that photoscribe wrote into the file itself (`library write-metadata`)
    # carry no mark of their own: the fingerprints in the file's XMP tell them apart.
    ours = [(where, text) for where, text in iptc_captions + exif_captions if fingerprint(text) not in marks]
    return captions + ours, keywords + iptc_keywords, camera


def _photoscribe_marks(image: Any) -> set[str]:
    """The fingerprints of a model's texts photoscribe wrote, from the photoscribe namespace of the XMP."""
    if _persons_words(image.xmpData()):
        return set()
    return {
        str(datum.toString())
        for datum in image.xmpData()
        if datum.key().startswith("Xmp.") and datum.key().endswith(tuple(_PROVENANCE.values()))
    }


def _unique_words(words: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for word in words:
        try:
            cleaned = clean_word(word)
        except LibraryError:
            continue
        if cleaned.lower() not in seen:
            seen.add(cleaned.lower())
            yield cleaned


def read_descriptions(path: str | os.PathLike[str]) -> ImportedText:
    """The caption and keywords that a photo and its sidecars carry (see the module docstring).

    Never raises for a file that cannot be read (it is logged and yields :data:`NOTHING`) and
    never writes to the photo or its sidecars.
    """
    photo = os.fspath(path)
    captions: list[tuple[str, str]] = []
    keywords: list[str] = []
    for sidecar in dict.fromkeys(sidecar_candidates(photo)):  # "photo.xmp" itself has one name
        if sidecar != photo and os.path.isfile(sidecar):
            found, words, _ = _read_one(sidecar, sidecar=True)
            captions += found
            keywords += words
    found, words, camera = _read_one(photo, sidecar=False)
    captions += found
    keywords += words
    caption = source = None
    for where, text in captions:
        cleaned = clean_text(text)
        if cleaned and not is_boilerplate(cleaned, camera):
            caption, source = cleaned, where
            break
    words_kept = tuple(_unique_words(keywords))[:MAX_KEYWORDS]
    return ImportedText(caption, source, words_kept)

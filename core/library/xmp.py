"""XMP sidecars carrying IPTC accessibility text (IPTC Photo Metadata 2021.1).

A sidecar ``IMG_0001.jpg.xmp`` (or ``IMG_0001.xmp``, see :func:`choose_sidecar`) gets three language-alternative properties:

* ``Iptc4xmpCore:AltTextAccessibility``: short alt text (under 250 characters),
* ``Iptc4xmpCore:ExtDescrAccessibility``: the full text, only when it had to be shortened,
* ``dc:description``: the full text.

and the photo's keywords as ``dc:subject`` (an ``rdf:Bag``, which Lightroom, darktable and
digiKam read as keywords).

An existing sidecar is merged, not replaced: every other property, namespace
and comment is kept, and other languages of a property we write are kept too.

A person's words win. The three text properties are written only where they are empty or
hold what photoscribe wrote last: each time we write one, its fingerprint (``sha256:`` of the
x-default value, whitespace collapsed) goes into ``photoscribe:DescriptionWritten``,
``photoscribe:AltTextWritten`` or ``photoscribe:ExtDescrWritten`` (namespace
:data:`NS_PHOTOSCRIBE`). A value with another fingerprint, or none, was written by a person
(or another program) and stays as it is, in every language; :func:`merge_sidecar` says which
it kept. A value that already equals the text we would write is adopted (its fingerprint
recorded), which also covers sidecars written before fingerprints existed.
Beside the fingerprints, ``photoscribe:MachineGenerated`` says whose words ours are: ``True``
for a model's caption (even one a person approved), ``False`` for a caption a person typed in
photoscribe or that photoscribe imported from the photo. Reading the sidecar back
(:mod:`.metadata`) skips a model's text but imports a person's, so a new library (or another
computer) gets the same text back; a sidecar without the mark counts as a model's. For each
person's text left in place, ``photoscribe:DescriptionSeen`` (``AltTextSeen``, ``ExtDescrSeen``)
records its fingerprint at the time: a person's text that no longer matches it (or that replaced
what we wrote) was edited after our export, and reading back prefers it to ours.
Keywords are a union: every keyword already in the sidecar stays, in its order and
spelling, and ours are added after it unless already there (compared case-insensitively),
so a person's keyword is never removed.
Files are written atomically (temporary file in the same folder, then
``os.replace``). Photos themselves are never opened.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.errors import LibraryError, UnsupportedImageError
from photoscribe.core.files.safe_files import open_photo
from photoscribe.core.files.tempfiles import create_exclusive, temp_path_beside

log = logging.getLogger(__name__)

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_PHOTOSCRIBE = "https://photoscribe.app/ns/1.0/"
# Preferred prefixes; prefixes found in an existing sidecar are kept for other namespaces.
PREFIXES = {
    NS_X: "x",
    NS_RDF: "rdf",
    NS_DC: "dc",
    NS_IPTC_CORE: "Iptc4xmpCore",
    NS_PHOTOSCRIBE: "photoscribe",
}

ALT_TEXT = f"{{{NS_IPTC_CORE}}}AltTextAccessibility"
EXT_DESCR = f"{{{NS_IPTC_CORE}}}ExtDescrAccessibility"
DESCRIPTION = f"{{{NS_DC}}}description"
SUBJECT = f"{{{NS_DC}}}subject"
_RDF_BAG = f"{{{NS_RDF}}}Bag"
_RDF_DESCRIPTION = f"{{{NS_RDF}}}Description"
_RDF_RDF = f"{{{NS_RDF}}}RDF"
_RDF_ALT = f"{{{NS_RDF}}}Alt"
_RDF_LI = f"{{{NS_RDF}}}li"
_X_XMPMETA = f"{{{NS_X}}}xmpmeta"
_XML_LANG = f"{{{NS_XML}}}lang"
X_DEFAULT = "x-default"
# Where we record what we wrote into each text property, and how a report names the property.
WRITTEN = {
    DESCRIPTION: f"{{{NS_PHOTOSCRIBE}}}DescriptionWritten",
    ALT_TEXT: f"{{{NS_PHOTOSCRIBE}}}AltTextWritten",
    EXT_DESCR: f"{{{NS_PHOTOSCRIBE}}}ExtDescrWritten",
}
# Where we record, for a person's text we left in place, the fingerprint of what it said then: a
# later edit in another program (Lightroom rewrites dc:description) is then newer than our export.
SEEN = {
    DESCRIPTION: f"{{{NS_PHOTOSCRIBE}}}DescriptionSeen",
    ALT_TEXT: f"{{{NS_PHOTOSCRIBE}}}AltTextSeen",
    EXT_DESCR: f"{{{NS_PHOTOSCRIBE}}}ExtDescrSeen",
}
FIELD_NAMES = {DESCRIPTION: "description", ALT_TEXT: "alt text", EXT_DESCR: "extended description"}
# Whether the texts we wrote (those with a fingerprint) are a model's ("True") or a person's ("False").
MACHINE_GENERATED = f"{{{NS_PHOTOSCRIBE}}}MachineGenerated"

# Sidecar naming: digiKam and darktable add ".xmp" to the whole name; Lightroom and Capture One
# replace the extension.
SIDECAR_EXT = "photo.jpg.xmp"
SIDECAR_STEM = "photo.xmp"
SIDECAR_NAMES = (SIDECAR_EXT, SIDECAR_STEM)

_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'
_MAX_SIDECAR_BYTES = 16 * 1024 * 1024
# Characters XML 1.0 cannot carry at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XmpError(LibraryError):
    """A sidecar exists but is not XMP we can safely merge into; it was left untouched."""


@dataclass(frozen=True)
class AccessibilityText:
    """What goes into a sidecar. ``extended`` is ``None`` when ``alt_text`` is the whole text."""

    alt_text: str
    extended: str | None
    description: str
    language: str = "en"
    keywords: tuple[str, ...] = ()  # merged into dc:subject
    machine_generated: bool = True  # a model's text (approved or not); False: a person's words


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot represent."""
    return _XML_INVALID.sub("", text)


def sidecar_path(
    photo_path: str | os.PathLike[str], out_dir: Path | None = None, root: Path | None = None
) -> Path:
    """``IMG.jpg`` -> ``IMG.jpg.xmp`` beside it, or under ``out_dir`` mirroring its path below ``root``."""
    photo = Path(photo_path)
    if out_dir is None:
        return photo.with_name(photo.name + ".xmp")
    relative = Path(os.path.relpath(photo, root)) if root is not None else Path(photo.name)
    if relative.is_absolute() or ".." in relative.parts:
        relative = Path(photo.name)
    return out_dir / relative.parent / (relative.name + ".xmp")


def choose_sidecar(
    photo_path: str | os.PathLike[str],
    out_dir: Path | None = None,
    root: Path | None = None,
    *,
    create_as: str = SIDECAR_EXT,
    stem_shared: bool = False,
) -> Path:
    """The sidecar to merge into: the one that exists, else a new one named as ``create_as``.

    ``IMG.jpg`` may have ``IMG.jpg.xmp`` (digiKam, darktable) or ``IMG.xmp`` (Lightroom). If only
    one exists, that one. If both do, the first of ``IMG.jpg.xmp``, ``IMG.xmp`` that holds a
    ``dc:description``, else ``IMG.jpg.xmp``; the other is never written. ``stem_shared`` (another
    photo, such as ``IMG.CR2`` beside ``IMG.jpg``, has the same stem) rules ``IMG.xmp`` out: it is
    not this photo's alone.
    """
    if create_as not in SIDECAR_NAMES:
        raise ValueError(f"create_as must be one of {', '.join(SIDECAR_NAMES)}, not {create_as!r}")
    ext = sidecar_path(photo_path, out_dir, root)
    stem = ext.with_name(Path(Path(photo_path).name).stem + ".xmp")
    if stem_shared or stem == ext:
        return ext
    existing = [path for path in (ext, stem) if path.is_file()]
    if len(existing) == 1:
        return existing[0]
    if existing:
        return next((path for path in existing if _has_description(path)), ext)
    return ext if create_as == SIDECAR_EXT else stem


def _has_description(path: Path) -> bool:
    """Whether the sidecar at ``path`` holds a non-empty ``dc:description`` (False if unreadable)."""
    try:
        data = read_sidecar(path)
        if data is None:
            return False
        root, _ = _parse(data)
    except (XmpError, OSError):
        return False
    for description in root.iter(_RDF_DESCRIPTION):
        if description.get(DESCRIPTION, "").strip():
            return True
    return any(_value(element).strip() for element in root.iter(DESCRIPTION))


# --------------------------------------------------------------------------- building and merging


def _lang_alt(parent: ET.Element, tag: str, value: str, language: str, old: ET.Element | None) -> None:
    """Append ``tag`` as an rdf:Alt with ``value`` as x-default (and keep ``old``'s other languages)."""
    prop = ET.SubElement(parent, tag)
    alt = ET.SubElement(prop, _RDF_ALT)
    ET.SubElement(alt, _RDF_LI, {_XML_LANG: X_DEFAULT}).text = xml_safe(value)
    if old is None:
        return
    for li in old.iter(_RDF_LI):
        lang = li.get(_XML_LANG, "")
        if lang and lang.lower() not in (X_DEFAULT, language.lower()):
            alt.append(li)


def merge_keywords(existing: list[str], ours: tuple[str, ...] | list[str]) -> list[str]:
    """``existing`` keywords (order and spelling kept, duplicates dropped), then ours not among them."""
    merged: list[str] = []
    seen: set[str] = set()
    for word in [*existing, *ours]:
        key = word.strip().casefold()
        if key and key not in seen:
            seen.add(key)
            merged.append(word.strip())
    return merged


def fingerprint(value: str) -> str:
    """``sha256:<hex>`` of ``value`` with its whitespace collapsed: what a provenance property holds."""
    flat = " ".join(value.split())
    return "sha256:" + hashlib.sha256(flat.encode("utf-8")).hexdigest()


def _value(prop: ET.Element) -> str:
    """A property's x-default value (else its first language's, else its simple text)."""
    items = list(prop.iter(_RDF_LI))
    for li in items:
        if li.get(_XML_LANG, "").lower() == X_DEFAULT:
            return li.text or ""
    if items:
        return items[0].text or ""
    return prop.text or ""


@dataclass(frozen=True)
class MergeResult:
    """The merged sidecar, and the properties (:data:`FIELD_NAMES`) whose person's text it kept."""

    data: bytes
    kept: tuple[str, ...] = ()


def merge_sidecar(existing: bytes | None, text: AccessibilityText) -> MergeResult:
    """Our properties set where they are ours to set, our keywords added, merged into ``existing``.

    Raises:
        XmpError: ``existing`` is not well-formed XMP (or declares a DTD, which XMP never does).
    """
    root, rdf, namespaces = _open_rdf(existing)
    wanted = {DESCRIPTION: text.description, ALT_TEXT: text.alt_text, EXT_DESCR: text.extended}
    provenance = set(WRITTEN.values()) | set(SEEN.values()) | {MACHINE_GENERATED}
    current: dict[str, str] = {}  # the value a property has now (its first occurrence)
    recorded: dict[str, str] = {}  # the fingerprint of what we wrote last
    subjects: list[str] = []
    descriptions = rdf.findall(_RDF_DESCRIPTION)
    for description in descriptions:
        for child in list(description):
            if child.tag in wanted:
                current.setdefault(child.tag, _value(child))
            elif child.tag in provenance:
                recorded.setdefault(child.tag, (child.text or "").strip())
                description.remove(child)
            elif child.tag == SUBJECT:
                subjects += [li.text.strip() for li in child.iter(_RDF_LI) if li.text and li.text.strip()]
                description.remove(child)
        for attribute in set(description.attrib):
            if attribute in wanted:  # simple-valued shorthand form
                current.setdefault(attribute, description.attrib[attribute])
            elif attribute in provenance:
                recorded.setdefault(attribute, description.attrib.pop(attribute).strip())
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, _RDF_DESCRIPTION, {f"{{{NS_RDF}}}about": ""})

    kept: list[str] = []
    written: dict[str, str] = {}
    seen: dict[str, str] = {}
    for tag, value in wanted.items():
        now = current.get(tag, "")
        ours = (
            not now.strip()
            or recorded.get(WRITTEN[tag]) == fingerprint(now)
            or (value is not None and fingerprint(now) == fingerprint(xml_safe(value)))
        )
        if not ours:  # a person's text: left where and as it is
            seen[tag] = fingerprint(now)
            if value is not None:
                kept.append(FIELD_NAMES[tag])
            continue
        old: ET.Element | None = None
        for description in descriptions:
            for child in description.findall(tag):
                old = child if old is None else old
                description.remove(child)
            description.attrib.pop(tag, None)
        if value is not None:
            _lang_alt(target, tag, value, text.language, old)
            written[tag] = fingerprint(xml_safe(value))
    for tag, mark in written.items():
        ET.SubElement(target, WRITTEN[tag]).text = mark
    for tag, mark in seen.items():
        ET.SubElement(target, SEEN[tag]).text = mark
    if written:
        ET.SubElement(target, MACHINE_GENERATED).text = "True" if text.machine_generated else "False"
    subjects = merge_keywords(subjects, text.keywords)
    if subjects:
        bag = ET.SubElement(ET.SubElement(target, SUBJECT), _RDF_BAG)
        for word in subjects:
            ET.SubElement(bag, _RDF_LI).text = xml_safe(word)

    for element in root.iter():  # drop the old layout; ET.indent re-creates it
        if len(element):
            element.text = None
        element.tail = None
    ET.indent(root, space=" ")
    body = _serialize(root, namespaces)
    return MergeResult((_PACKET_BEGIN + body + _PACKET_END).encode("utf-8"), tuple(kept))


def _open_rdf(existing: bytes | None) -> tuple[ET.Element, ET.Element, list[tuple[str, str]]]:
    """The sidecar's root, its ``rdf:RDF`` element and its namespaces; a new packet when there is none."""
    if not existing:
        root = ET.Element(_X_XMPMETA, {f"{{{NS_X}}}xmptk": "photoscribe"})
        return root, ET.SubElement(root, _RDF_RDF), []
    root, namespaces = _parse(existing)
    if root.tag == _RDF_RDF:
        return root, root, namespaces
    if root.tag != _X_XMPMETA:
        raise XmpError(f"the sidecar's root element is {root.tag}, not x:xmpmeta or rdf:RDF")
    rdf = root.find(_RDF_RDF)
    return root, (rdf if rdf is not None else ET.SubElement(root, _RDF_RDF)), namespaces


def _parse(data: bytes) -> tuple[ET.Element, list[tuple[str, str]]]:
    if len(data) > _MAX_SIDECAR_BYTES:
        raise XmpError(f"the sidecar is larger than {_MAX_SIDECAR_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmpError("the sidecar declares a DTD or entities, which XMP never does")
    try:
        namespaces = [ns for _event, ns in ET.iterparse(io.BytesIO(data), events=("start-ns",))]
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        raise XmpError(f"the sidecar is not well-formed XML ({exc})") from exc
    return root, namespaces


# --------------------------------------------------------------------------- serialising


def _serialize(root: ET.Element, source_namespaces: list[tuple[str, str]]) -> str:
    """Serialise with our prefixes (ElementTree's only prefix map is process-global)."""
    prefixes = dict(PREFIXES)
    taken = set(prefixes.values()) | {"xml", "xmlns"}
    for prefix, uri in source_namespaces:
        if uri not in prefixes and prefix and prefix not in taken:
            prefixes[uri] = prefix
            taken.add(prefix)

    used: dict[str, str] = {}

    def qname(name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        if uri == NS_XML:
            return f"xml:{local}"
        if uri not in prefixes:
            n = len(prefixes)
            while f"ns{n}" in taken:
                n += 1
            prefixes[uri] = f"ns{n}"
            taken.add(f"ns{n}")
        used[uri] = prefixes[uri]
        return f"{prefixes[uri]}:{local}"

    parts: list[str] = []

    def write(element: ET.Element) -> None:
        if element.tag is ET.Comment:
            parts.append(f"<!--{element.text or ''}-->")
        elif element.tag is ET.ProcessingInstruction:
            parts.append(f"<?{element.text or ''}?>")
        else:
            tag = qname(element.tag)
            parts.append(f"<{tag}")
            parts.append("".join(f" {qname(k)}={_attr(v)}" for k, v in element.attrib.items()))
            if element.text or len(element):
                parts.append(">" + _text(element.text or ""))
                for child in element:
                    write(child)
                parts.append(f"</{tag}>")
            else:
                parts.append("/>")
        parts.append(_text(element.tail or ""))

    write(root)
    # Declare every namespace used anywhere on the root element (parts[0] is "<root-tag").
    declarations = "".join(
        f" xmlns:{prefix}={_attr(uri)}" for uri, prefix in sorted(used.items(), key=lambda u: u[1])
    )
    parts[0] += declarations
    return "".join(parts)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _attr(value: str) -> str:
    escaped = _text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    return f'"{escaped}"'


# --------------------------------------------------------------------------- writing


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all-or-nothing: a temp file in the same folder, fsync, ``os.replace``.

    The temporary file is removed on any error, Ctrl-C or (in the CLI) SIGTERM included.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)  # a short name: the sidecar's own may be near the 255-byte limit
    try:
        with os.fdopen(create_exclusive(tmp), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_sidecar(path: Path) -> bytes | None:
    """The bytes of the sidecar at ``path``, or ``None`` if there is none.

    Only a regular file of at most :data:`_MAX_SIDECAR_BYTES` is read (never a FIFO, a device or
    a link into ``/proc``, which would block or never end).

    Raises:
        XmpError: something that is not a sidecar is there (it is left as it is).
        OSError: it could not be read.
    """
    if not os.path.exists(path):  # none, or a dangling link (replaced by the new sidecar as before)
        return None
    try:
        with open_photo(path, max_bytes=_MAX_SIDECAR_BYTES) as handle:
            return handle.read(_MAX_SIDECAR_BYTES + 1)
    except UnsupportedImageError as exc:
        raise XmpError(f"{path.name} is not a sidecar we can merge into: {exc.reason}") from exc


def write_sidecar(path: Path, text: AccessibilityText) -> tuple[str, ...]:
    """Create or merge-update the sidecar ``path``; the properties whose person's text it kept.

    Raises:
        XmpError: an existing sidecar could not be parsed (it is left as it was).
        OSError: the folder is not writable.
    """
    existing = read_sidecar(path)
    result = merge_sidecar(existing, text)
    if result.data != existing:
        atomic_write(path, result.data)
        log.debug("wrote %s", path)
    return result.kept

"""XMP sidecars carrying IPTC accessibility text (IPTC Photo Metadata 2021.1).

A sidecar ``IMG_0001.jpg.xmp`` gets three language-alternative properties:

* ``Iptc4xmpCore:AltTextAccessibility``: short alt text (under 250 characters),
* ``Iptc4xmpCore:ExtDescrAccessibility``: the full text, only when it had to be shortened,
* ``dc:description``: the full text.

and the photo's keywords as ``dc:subject`` (an ``rdf:Bag``, which Lightroom, darktable and
digiKam read as keywords).

An existing sidecar is merged, not replaced: every other property, namespace
and comment is kept, and other languages of a property we write are kept too.
Keywords are a union: every keyword already in the sidecar stays, in its order and
spelling, and ours are added after it unless already there (compared case-insensitively),
so a person's keyword is never removed.
Files are written atomically (temporary file in the same folder, then
``os.replace``). Photos themselves are never opened.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.errors import LibraryError

log = logging.getLogger(__name__)

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
NS_XML = "http://www.w3.org/XML/1998/namespace"
# Preferred prefixes; prefixes found in an existing sidecar are kept for other namespaces.
PREFIXES = {NS_X: "x", NS_RDF: "rdf", NS_DC: "dc", NS_IPTC_CORE: "Iptc4xmpCore"}

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


def merge_xmp(existing: bytes | None, text: AccessibilityText) -> bytes:
    """The sidecar bytes with our three properties set and our keywords added, merged into ``existing``.

    Raises:
        XmpError: ``existing`` is not well-formed XMP (or declares a DTD, which XMP never does).
    """
    namespaces: list[tuple[str, str]] = []
    if existing:
        root, namespaces = _parse(existing)
        if root.tag == _X_XMPMETA:
            rdf = root.find(_RDF_RDF)
            if rdf is None:
                rdf = ET.SubElement(root, _RDF_RDF)
        elif root.tag == _RDF_RDF:
            rdf = root
        else:
            raise XmpError(f"the sidecar's root element is {root.tag}, not x:xmpmeta or rdf:RDF")
    else:
        root = ET.Element(_X_XMPMETA, {f"{{{NS_X}}}xmptk": "photoscribe"})
        rdf = ET.SubElement(root, _RDF_RDF)

    managed = {ALT_TEXT, EXT_DESCR, DESCRIPTION}
    old: dict[str, ET.Element] = {}
    subjects: list[str] = []
    descriptions = rdf.findall(_RDF_DESCRIPTION)
    for description in descriptions:
        for child in list(description):
            if child.tag in managed:
                old.setdefault(child.tag, child)
                description.remove(child)
            elif child.tag == SUBJECT:
                subjects += [li.text.strip() for li in child.iter(_RDF_LI) if li.text and li.text.strip()]
                description.remove(child)
        for attribute in managed & set(description.attrib):
            del description.attrib[attribute]  # simple-valued shorthand form
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, _RDF_DESCRIPTION, {f"{{{NS_RDF}}}about": ""})

    _lang_alt(target, DESCRIPTION, text.description, text.language, old.get(DESCRIPTION))
    _lang_alt(target, ALT_TEXT, text.alt_text, text.language, old.get(ALT_TEXT))
    if text.extended is not None:
        _lang_alt(target, EXT_DESCR, text.extended, text.language, old.get(EXT_DESCR))
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
    return (_PACKET_BEGIN + body + _PACKET_END).encode("utf-8")


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
    """Write ``data`` to ``path`` all-or-nothing: a temp file in the same folder, fsync, ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_sidecar(path: Path, text: AccessibilityText) -> None:
    """Create or merge-update the sidecar ``path``.

    Raises:
        XmpError: an existing sidecar could not be parsed (it is left as it was).
        OSError: the folder is not writable.
    """
    existing = path.read_bytes() if path.is_file() else None
    atomic_write(path, merge_xmp(existing, text))
    log.debug("wrote %s", path)

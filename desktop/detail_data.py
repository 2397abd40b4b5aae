"""What the detail pane shows of one photo (read on a worker thread), and the words it shows about it."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image
from PySide6.QtGui import QImage

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.files.imaging import ExifSummary, load_image, read_exif_summary
from photoscribe.core.library import CaptionInfo, Library, PhotoInfo
from photoscribe.core.library.records import KeywordInfo
from photoscribe.core.library.schema import IMPORTED_PREFIX
from photoscribe.core.progress import check_cancel
from photoscribe.desktop.attention_view import flat_words, render_overlays, stored_attention
from photoscribe.desktop.thumbnail_loader import pil_to_qimage

log = logging.getLogger(__name__)

DISPLAY_SIDE = 1024  # decode the photo at most this large for the pane


@dataclass(frozen=True)
class DetailData:
    """Everything the pane shows about one photo (built on a worker thread)."""

    photo: PhotoInfo
    captions: tuple[CaptionInfo, ...]
    exif: ExifSummary | None = None
    image: QImage | None = None
    image_error: str = ""
    attention_text: str = ""
    words: tuple[str, ...] = ()
    overlays: tuple[QImage, ...] = field(default_factory=tuple)
    flat: tuple[bool, ...] = ()  # per word: attention spread evenly (core.heatmap.attention_is_flat)
    keywords: tuple[KeywordInfo, ...] = ()

    @property
    def best(self) -> CaptionInfo | None:
        return self.captions[0] if self.captions else None

    @property
    def model_caption(self) -> CaptionInfo | None:
        return next((c for c in self.captions if not c.is_user), None)


def load_detail(
    library: Library,
    photo_id: int,
    *,
    max_side: int = DISPLAY_SIDE,
    on_progress: Any = None,
    cancel: threading.Event | None = None,
) -> DetailData | None:
    """Read a photo, its captions, EXIF and attention overlays; ``None`` if the photo is gone."""
    photo = library.get_photo(photo_id)
    if photo is None:
        return None
    captions = tuple(library.captions(photo_id))
    keywords = tuple(library.keywords(photo_id))
    try:
        exif: ExifSummary | None = read_exif_summary(photo.path)
    except PhotoscribeError:
        exif = None
    check_cancel(cancel)
    try:
        pil = load_image(photo.path, target_size=max_side)
    except PhotoscribeError as exc:
        return DetailData(photo, captions, exif, image_error=str(exc), keywords=keywords)
    pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    image = pil_to_qimage(pil)
    try:
        attention = stored_attention(library, captions)
    except PhotoscribeError as exc:
        log.warning("attention of photo %s cannot be shown: %s", photo_id, exc)
        attention = None
    if attention is None:
        return DetailData(photo, captions, exif, image, keywords=keywords)
    text, grids = attention
    words = tuple(text.split())[: len(grids)]
    overlays = tuple(render_overlays(pil, grids, len(words), cancel))
    flat = flat_words(grids, len(words))
    return DetailData(photo, captions, exif, image, "", text, words, overlays, flat, keywords)


def attention_note(data: DetailData) -> str:
    """Which caption the attention words belong to, when it is not the caption shown above them."""
    best = data.best
    if not data.words or best is None or best.text == data.attention_text:
        return ""
    who = "written by you" if best.is_user else f"by another model ({best.source})"
    return f"The caption above is {who}; these are the words of the model's caption “{data.attention_text}”."


def exif_rows(photo: PhotoInfo, exif: ExifSummary | None) -> list[tuple[str, str]]:
    rows = [("File", photo.name), ("Folder", os.path.dirname(photo.path))]
    taken = (exif.taken_at if exif else None) or photo.taken_at
    if taken is not None:
        rows.append(("Taken", taken.strftime("%Y-%m-%d %H:%M")))
    elif photo.mtime:
        stamp = datetime.fromtimestamp(photo.mtime).strftime("%Y-%m-%d %H:%M")
        rows.append(("Taken", f"{stamp} (file date; no EXIF date)"))
    rows.append(("File size", file_size(photo.size)))
    if exif is None or not exif.camera:
        if photo.camera:
            rows.append(("Camera", photo.camera))
        elif exif is None or not (exif.exposure or exif.f_number or exif.iso):
            rows.append(("Camera", "not recorded in this file (no EXIF)"))
    if exif is not None:
        rows.append(("Size", f"{exif.width} × {exif.height}"))
        if exif.camera:
            rows.append(("Camera", exif.camera))
        if exif.lens:
            rows.append(("Lens", exif.lens))
        settings = []
        if exif.exposure:
            settings.append(
                f"1/{round(1 / exif.exposure)} s" if exif.exposure < 1 else f"{exif.exposure:g} s"
            )
        if exif.f_number:
            settings.append(f"f/{exif.f_number:g}")
        if exif.iso:
            settings.append(f"ISO {exif.iso}")
        if exif.focal_length:
            settings.append(f"{exif.focal_length:g} mm")
        if settings:
            rows.append(("Exposure", " · ".join(settings)))
    return rows


def file_size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{max(1, round(size / 1000))} kB"


def caption_state(caption: CaptionInfo | None) -> str:
    if caption is None:
        return "No caption yet"
    if caption.is_user and caption.source.startswith(IMPORTED_PREFIX):
        # A description the photo already carried ("imported:iptc:Caption-Abstract"): a person's words.
        return f"From the photo's metadata · {caption.source.removeprefix(IMPORTED_PREFIX)}"
    if caption.is_user:
        return "Written by you"
    if caption.reviewed:
        return f"Reviewed · by {caption.source}"
    return f"Needs review · by {caption.source}"

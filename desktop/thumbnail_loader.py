"""Thumbnails for the grid, made off the main thread (vimiv-qt's ThumbnailManager, in our terms).

:class:`ThumbnailLoader` owns a small ``QThreadPool``. The grid asks it for a
photo's pixmap; a miss queues a request and returns ``None`` (the caller
paints a placeholder). Workers decode through ``core``'s on-disk
``ThumbnailCache`` into a ``QImage`` (safe off the GUI thread); the main thread
turns it into a ``QPixmap``, keeps it in an LRU cache and emits
``thumbnailReady(photo_id)``. Requests are served newest first and old ones
are dropped, so scrolling fast through 100,000 photos only decodes what is
on screen.

The loader's own disk cache keeps to a size budget: it prunes once in the background when the
loader is made (the app's start-up) and again every few hundred new thumbnails.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from photoscribe.core.library.thumbnails import DEFAULT_BUDGET_BYTES, ThumbnailCache

log = logging.getLogger(__name__)

DEFAULT_SIZE = 256
DEFAULT_CAPACITY = 600  # pixmaps kept in memory (~256 KiB each at 256 px)
MAX_PENDING = 256  # requests older than this many newer ones are dropped


class ThumbnailSource(Protocol):
    """What the loader needs of ``core``'s ``ThumbnailCache``."""

    def get_or_create(self, photo_path: str | Path) -> Path: ...


def pil_to_qimage(image: Image.Image) -> QImage:
    """A deep-copied ``QImage`` of an RGB/RGBA PIL image (safe to create on any thread)."""
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    fmt = QImage.Format.Format_RGB888 if image.mode == "RGB" else QImage.Format.Format_RGBA8888
    data = image.tobytes()
    channels = 3 if image.mode == "RGB" else 4
    qimage = QImage(data, image.width, image.height, image.width * channels, fmt)
    return qimage.copy()  # detach from `data`, which Python frees


def render_thumbnail(source: ThumbnailSource, path: str, size: int) -> QImage:
    """Decode one thumbnail through the disk cache, at most ``size`` px on its long side (worker thread).

    Raises:
        PhotoscribeError, OSError: the file cannot be read.
    """
    image = QImage(str(source.get_or_create(path)))
    if image.isNull():
        raise OSError(f"the cached thumbnail of {path} could not be read")
    if max(image.width(), image.height()) > size:
        image = image.scaled(
            size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return image


class _LoaderSignals(QObject):
    # Emitted on worker threads; delivered queued to the loader on the main thread.
    done = Signal(int, QImage, str)  # photo id, image (null on failure), error message


class _ThumbnailJob(QRunnable):
    def __init__(
        self, render: Callable[[str], QImage], photo_id: int, path: str, signals: _LoaderSignals
    ) -> None:
        super().__init__()
        self.render, self.photo_id, self.path, self.signals = render, photo_id, path, signals

    def run(self) -> None:
        try:
            image = self.render(self.path)
        except Exception as exc:  # any unreadable file becomes a "broken" tile, reported in its tooltip
            log.debug("no thumbnail for %s: %s", self.path, exc)
            self.signals.done.emit(self.photo_id, QImage(), str(exc) or type(exc).__name__)
        else:
            self.signals.done.emit(self.photo_id, image, "")


class ThumbnailLoader(QObject):
    """Loads thumbnails on a thread pool and keeps the recent ones as pixmaps.

    Args:
        source: the disk cache (default: ``core``'s :class:`ThumbnailCache` at ``size``).
        size: long side of a thumbnail, in pixels.
        capacity: pixmaps kept in memory (least recently used are evicted).
        pool: a ``QThreadPool`` (default: a private one with two threads).
        cache_budget: bytes the default disk cache may hold; pruned in the background at once
            and as thumbnails are added (ignored when ``source`` is given).
    """

    thumbnailReady = Signal(int)

    def __init__(
        self,
        source: ThumbnailSource | None = None,
        *,
        size: int = DEFAULT_SIZE,
        capacity: int = DEFAULT_CAPACITY,
        pool: QThreadPool | None = None,
        parent: QObject | None = None,
        cache_budget: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        if source is None:
            cache = ThumbnailCache(size=size, budget_bytes=cache_budget)
            cache.prune_in_background()  # a budget lowered since the last run applies at once
            source = cache
        self._source = source
        if pool is None:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(2)
        self._pool = pool
        self._signals = _LoaderSignals(self)
        self._signals.done.connect(self._on_done)
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._pending: OrderedDict[int, str] = OrderedDict()  # newest last
        self._in_flight: set[int] = set()
        self._pump_scheduled = False
        self._closed = False

    def pixmap(self, photo_id: int, path: str) -> QPixmap | None:
        """The cached pixmap, or ``None`` after queueing a request (watch :attr:`thumbnailReady`)."""
        pixmap = self._pixmaps.get(photo_id)
        if pixmap is not None:
            self._pixmaps.move_to_end(photo_id)
            return pixmap
        if photo_id not in self._errors:
            self.request(photo_id, path)
        return None

    def cached(self, photo_id: int) -> bool:
        """Whether the photo's pixmap is in memory (no request is made)."""
        return photo_id in self._pixmaps

    def error(self, photo_id: int) -> str | None:
        """Why a photo has no thumbnail, once its load failed."""
        return self._errors.get(photo_id)

    def request(self, photo_id: int, path: str) -> None:
        if self._closed or photo_id in self._in_flight:
            return
        self._pending[photo_id] = path
        self._pending.move_to_end(photo_id)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        if not self._pump_scheduled:
            self._pump_scheduled = True
            QTimer.singleShot(0, self._pump)  # never start work from inside a model's data()

    def invalidate(self, photo_id: int) -> None:
        self._pixmaps.pop(photo_id, None)
        self._errors.pop(photo_id, None)

    def clear(self) -> None:
        self._pixmaps.clear()
        self._errors.clear()
        self._pending.clear()

    def shutdown(self, msecs: int = 5000) -> None:
        """Drop queued requests and wait for running ones (call before the app quits)."""
        self._closed = True
        self._pending.clear()
        self._pool.waitForDone(msecs)

    def _render(self, path: str) -> QImage:
        return render_thumbnail(self._source, path, self.size)

    def _pump(self) -> None:
        self._pump_scheduled = False
        limit = max(1, self._pool.maxThreadCount()) * 2
        while self._pending and len(self._in_flight) < limit and not self._closed:
            photo_id, path = self._pending.popitem(last=True)  # newest first: what is on screen now
            self._in_flight.add(photo_id)
            self._pool.start(_ThumbnailJob(self._render, photo_id, path, self._signals))

    def _on_done(self, photo_id: int, image: QImage, error: str) -> None:
        self._in_flight.discard(photo_id)
        if error or image.isNull():
            self._errors[photo_id] = error or "unreadable image"
        else:
            self._pixmaps[photo_id] = QPixmap.fromImage(image)
            self._pixmaps.move_to_end(photo_id)
            while len(self._pixmaps) > self.capacity:
                self._pixmaps.popitem(last=False)
        self.thumbnailReady.emit(photo_id)
        if self._pending:
            self._pump()

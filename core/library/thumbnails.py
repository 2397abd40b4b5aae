"""An on-disk cache of small JPEG thumbnails, safe to use from many threads.

A thumbnail lives at ``<root>/<ab>/<path key>-<stamp key>.jpg``: the path
key is the SHA-1 of the photo's absolute path (``ab`` its first two hex
digits, to keep folders small) and the stamp key the SHA-1 of the path,
thumbnail size, ``st_mtime_ns`` and file size. A photo that changes on disk
therefore gets a new name, and the stale file of the same photo is deleted
when the new one is written (or by :meth:`ThumbnailCache.invalidate`).

JPEGs are decoded at a reduced scale (draft mode, through
:func:`~photoscribe.core.files.imaging.load_image`), turned upright by their EXIF
orientation and shrunk keeping the aspect ratio. Files are written to a
temporary name and renamed into place, so a reader never sees half a
thumbnail, and two threads asking for the same one at once decode it once.

The cache keeps to a size budget (:data:`DEFAULT_BUDGET_BYTES` unless told otherwise): every
:data:`PRUNE_EVERY` new thumbnails, and when :meth:`ThumbnailCache.prune_in_background` is
called (the app does at start-up), a thread of its own deletes the least recently used
thumbnails until the cache fits. A thumbnail's modification time is its last use: a cached one
that is used again is touched (at most once an hour). A thumbnail still being written (its
temporary file) is never deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.files.imaging import load_image
from photoscribe.core.paths import cache_dir

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
_LOCK_STRIPES = 64
DEFAULT_BUDGET_BYTES = 1024**3  # 1 GiB: about 100,000 thumbnails of 256 px
PRUNE_EVERY = 500  # new thumbnails between two automatic prunes
_TOUCH_AFTER_S = 3600.0  # a thumbnail used again is marked used when its mark is older than this
_TMP_PREFIX, _TMP_SUFFIX = ".thumb-", ".tmp"
_WRITING_S = 3600.0  # a temporary file younger than this is a thumbnail being written


class ThumbnailCache:
    """Disk cache of thumbnails at most ``size`` px on their long side.

    Args:
        cache_root: folder for the cache (default: ``cache_dir()/thumbnails``).
        size: the longest side of a thumbnail, in pixels.
        budget_bytes: the most the cache keeps on disk (pruned in the background); None: no limit.
        prune_every: new thumbnails between two automatic prunes.
    """

    def __init__(
        self,
        cache_root: Path | None = None,
        size: int = 256,
        *,
        budget_bytes: int | None = DEFAULT_BUDGET_BYTES,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        if size < 1:
            raise ValueError(f"thumbnail size must be positive, got {size}")
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError(f"the thumbnail cache budget must not be negative, got {budget_bytes}")
        self.root = Path(cache_root) if cache_root is not None else cache_dir() / "thumbnails"
        self.size = int(size)
        self.budget_bytes = budget_bytes
        self.prune_every = max(1, int(prune_every))
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._writes = 0
        self._pruning_lock = threading.Lock()
        self._pruner: threading.Thread | None = None
        self._prune_again = False

    # ------------------------------------------------------------------ naming

    @staticmethod
    def _path_key(photo_path: str) -> str:
        return hashlib.sha1(os.fsencode(photo_path), usedforsecurity=False).hexdigest()

    def _abspath(self, photo_path: str | os.PathLike[str]) -> str:
        return os.path.normpath(os.path.abspath(os.fspath(photo_path)))

    def path_for(self, photo_path: str | os.PathLike[str]) -> Path:
        """Where the thumbnail of the photo as it is on disk now lives (it may not exist yet).

        Raises:
            UnsupportedImageError: the photo cannot be found.
        """
        path = self._abspath(photo_path)
        try:
            st = os.stat(path)
        except OSError as exc:
            raise UnsupportedImageError(path, f"cannot read the file ({exc.strerror})") from exc
        path_key = self._path_key(path)
        stamp = f"{path}\0{self.size}\0{st.st_mtime_ns}\0{st.st_size}"
        stamp_key = hashlib.sha1(os.fsencode(stamp), usedforsecurity=False).hexdigest()[:16]
        return self.root / path_key[:2] / f"{path_key}-{stamp_key}.jpg"

    def _versions(self, path_key: str) -> list[Path]:
        folder = self.root / path_key[:2]
        try:
            return [folder / name for name in os.listdir(folder) if name.startswith(path_key + "-")]
        except OSError:
            return []

    # ------------------------------------------------------------------ use

    def get_or_create(self, photo_path: str | os.PathLike[str]) -> Path:
        """The thumbnail's path, decoding the photo only when it is not cached yet.

        Raises:
            UnsupportedImageError: the photo is missing, not an image, or corrupt.
        """
        target = self.path_for(photo_path)
        if self._use(target):
            return target
        path = self._abspath(photo_path)
        with self._locks[hash(target.name) % _LOCK_STRIPES]:
            if target.exists():  # another thread made it while we waited
                return target
            image = load_image(path, target_size=self.size)
            image.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
            self._write(image, target)
            for stale in self._versions(self._path_key(path)):
                if stale != target:
                    stale.unlink(missing_ok=True)
        self._written()
        return target

    @staticmethod
    def _use(target: Path) -> bool:
        """Whether ``target`` is cached; marks it used (its mtime) when its mark is an hour old."""
        try:
            mtime = target.stat().st_mtime
        except OSError:
            return False
        if time.time() - mtime > _TOUCH_AFTER_S:
            with contextlib.suppress(OSError):  # a read-only cache still serves; only the order suffers
                os.utime(target)
        return True

    def _written(self) -> None:
        with self._pruning_lock:
            self._writes += 1
            due = self._writes % self.prune_every == 0
        if due:
            self.prune_in_background()

    def _write(self, image: Image.Image, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                image.save(fh, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def invalidate(self, photo_path: str | os.PathLike[str]) -> int:
        """Delete every cached thumbnail of a photo (whatever its version); returns how many."""
        removed = 0
        for stale in self._versions(self._path_key(self._abspath(photo_path))):
            try:
                stale.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def prune_in_background(self) -> threading.Thread | None:
        """Prune to the budget on a thread of its own, so no caller waits for it.

        Returns the new thread; None when there is no budget, or when a prune is running already
        (it then prunes once more when it is done, to count what was added meanwhile).
        """
        if self.budget_bytes is None:
            return None
        with self._pruning_lock:
            if self._pruner is not None:
                self._prune_again = True
                return None
            thread = threading.Thread(target=self._prune_quietly, name="thumbnail-prune")
            thread.daemon = True  # deleting cache files may stop anywhere at exit
            self._pruner = thread
        thread.start()
        return thread

    def _prune_quietly(self) -> None:
        while True:
            budget = self.budget_bytes
            try:
                if budget is not None:
                    self.prune(budget)
            except OSError as exc:  # the cache stays usable, only bigger than asked
                log.warning("could not prune the thumbnail cache %s: %s", self.root, exc)
            with self._pruning_lock:
                if not self._prune_again:
                    self._pruner = None
                    return
                self._prune_again = False

    def prune(self, max_bytes: int) -> int:
        """Delete the least recently used thumbnails until the cache holds at most ``max_bytes``.

        A thumbnail being written (its temporary file) is kept and counted. Returns how many
        files were deleted.
        """
        entries: list[tuple[float, int, Path]] = []
        total = 0
        now = time.time()
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(folder) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                total += st.st_size
                writing = name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX)
                if not (writing and now - st.st_mtime < _WRITING_S):
                    entries.append((st.st_mtime, st.st_size, path))
        removed = 0
        for _mtime, size, path in sorted(entries):
            if total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        if removed:
            log.info("pruned %d thumbnails from %s", removed, self.root)
        return removed

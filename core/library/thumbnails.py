"""An on-disk cache of small JPEG thumbnails, safe to use from many threads.

A thumbnail lives at ``<root>/<ab>/<path key>-<stamp key>.jpg``: the path
key is the SHA-1 of the photo's absolute path (``ab`` its first two hex
digits, to keep folders small) and the stamp key the SHA-1 of the path,
thumbnail size, ``st_mtime_ns`` and file size. A photo that changes on disk
therefore gets a new name, and the stale file of the same photo is deleted
when the new one is written (or by :meth:`ThumbnailCache.invalidate`).

JPEGs are decoded at a reduced scale (draft mode, through
:func:`~photoscribe.core.imaging.load_image`), turned upright by their EXIF
orientation and shrunk keeping the aspect ratio. Files are written to a
temporary name and renamed into place, so a reader never sees half a
thumbnail, and two threads asking for the same one at once decode it once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

from PIL import Image

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.imaging import load_image
from photoscribe.core.paths import cache_dir

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
_LOCK_STRIPES = 64


class ThumbnailCache:
    """Disk cache of thumbnails at most ``size`` px on their long side.

    Args:
        cache_root: folder for the cache (default: ``cache_dir()/thumbnails``).
        size: the longest side of a thumbnail, in pixels.
    """

    def __init__(self, cache_root: Path | None = None, size: int = 256) -> None:
        if size < 1:
            raise ValueError(f"thumbnail size must be positive, got {size}")
        self.root = Path(cache_root) if cache_root is not None else cache_dir() / "thumbnails"
        self.size = int(size)
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

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
        if target.exists():
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
        return target

    def _write(self, image: Image.Image, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".tmp", dir=target.parent)
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

    def prune(self, max_bytes: int) -> int:
        """Delete the oldest thumbnails until the cache holds at most ``max_bytes``; returns how many."""
        entries: list[tuple[float, int, Path]] = []
        total = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(folder) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                entries.append((st.st_mtime, st.st_size, path))
                total += st.st_size
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

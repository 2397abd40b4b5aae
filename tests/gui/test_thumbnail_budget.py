"""The thumbnail cache keeps to the budget of its setting, pruned in the background from the start."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from photoscribe.core.library import Library
from photoscribe.core.paths import cache_dir
from photoscribe.desktop import settings as options
from photoscribe.desktop.main_window import MainWindow

MB = 1024 * 1024


def fill_cache(count: int, size: int) -> list[Path]:
    """``count`` thumbnail-sized files in the app's cache, each a day older than the next."""
    files = []
    now = time.time()
    for i in range(count):
        path = cache_dir() / "thumbnails" / f"{i:02x}" / f"{i:040x}-{i:016x}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff" * size)
        os.utime(path, (now - (count - i) * 86400, now - (count - i) * 86400))
        files.append(path)
    return files


def cache_bytes() -> int:
    total = 0
    for path in (cache_dir() / "thumbnails").rglob("*.jpg"):
        with contextlib.suppress(FileNotFoundError):  # deleted by the prune running now
            total += path.stat().st_size
    return total


def test_the_budget_defaults_to_a_gigabyte_and_a_nonsense_value_reads_as_that(tmp_path: Path) -> None:
    store = QSettings(str(tmp_path / "photoscribe.ini"), QSettings.Format.IniFormat)
    assert options.THUMBNAIL_CACHE_MB.read(store) * MB == 1024**3
    store.setValue(options.THUMBNAIL_CACHE_MB.key, "0")
    assert options.THUMBNAIL_CACHE_MB.read(store) == 1024


def test_the_app_shrinks_an_over_budget_cache_at_start_keeping_the_newest(
    qtbot: Any, library: Library, settings: QSettings, make_window: Callable[..., MainWindow]
) -> None:
    files = fill_cache(6, MB // 2)  # 3 MB of thumbnails
    options.THUMBNAIL_CACHE_MB.write(settings, 1)
    started = time.monotonic()
    make_window(library, thumbnails=None)  # the window makes its own loader, with the setting's budget
    qtbot.waitUntil(lambda: cache_bytes() <= MB, timeout=10000)
    assert time.monotonic() - started < 10
    assert [f.exists() for f in files] == [False, False, False, False, True, True]

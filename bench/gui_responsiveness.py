"""Desktop responsiveness: the longest main-thread stalls of the real window on a big library.

Usage: python bench/gui_responsiveness.py [--n 100000] [--scroll-rows 20000] [--db LIBRARY] [--dir DIR]
                                          [--out results.json] [--profile main.prof]

Builds a library of N photos (or reuses ``--db``): the files are hard links
of a few small JPEGs, ``--per-dir`` per folder, under 20 library folders;
the rows are bulk-inserted in one transaction on the library's write
connection (as ``bench/search.py`` does), so the FTS5 triggers index every
caption. 95% of the photos have a model caption from the ``bench/search.py``
grammar with a 3-best list and attention maps, a tenth of those are reviewed;
"added" dates spread over 400 days, so "Recently added" holds about 7%.

Then it starts the app as ``photoscribe`` does (``create_window``: the real
window, background services with the folder watcher, the global thread pool;
no captioning model, so no caption queue competes for the CPU), offscreen
on a 1920x1080 virtual screen unless ``QT_QPA_PLATFORM`` says otherwise,
and drives it from its own event loop: open the library, scroll the grid
through ``--scroll-rows`` photos a page per frame (the model fetches pages
of 500 as the view reaches its end), type a search query a key at a time,
select photos by clicking rows and with the arrow keys (the detail pane
loads each), and switch between the sidebar's collections and folders.

A ``QTimer`` heartbeat every 10 ms records the time between its ticks; a
tick that comes late means the main thread was busy: stall = gap - 10 ms.
Prints a Markdown table (max and p99 stall per phase) for docs/benchmarks.md.
``--profile`` writes a cProfile of the main thread (it inflates the stalls).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import optimize_bulk_load
from search import caption_stream  # bench/search.py: the caption grammar

HEARTBEAT_MS = 10
FOLDERS = 20
SEARCH_TEXT = "red bicycle"


# ====================================================================== building the library


def build_tree(root: Path, n: int, per_dir: int, templates: int = 8) -> list[Path]:
    """N hard links of a few small JPEGs under ``root/photos/Folder-XX/dir-YYYY``; returns the folders."""
    sources = []
    for i in range(templates):
        path = root / f"template{i}.jpg"
        pixels = np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=85)
        sources.append(path)
    per_folder = -(-n // FOLDERS)
    folders = [root / "photos" / f"Folder-{f:02d}" for f in range(FOLDERS)]
    for i in range(n):
        directory = folders[i // per_folder] / f"dir-{i // per_dir:04d}"
        if i % per_dir == 0 or i % per_folder == 0:
            directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"IMG_{i:07d}.jpg"
        try:
            os.link(sources[i % templates], target)
        except OSError:
            shutil.copyfile(sources[i % templates], target)
    return folders


def build_library(library: Any, root: Path, n: int, per_dir: int, chunk: int = 20_000) -> float:
    """The tree and N photo rows (95% captioned, with 3-best lists and attention) in one transaction."""
    from photoscribe.core.library.blobs import encode_attention

    start = time.perf_counter()
    folders = build_tree(root, n, per_dir)
    print(f"  {n:,} files in {time.perf_counter() - start:.0f} s", flush=True)
    stat = (root / "template0.jpg").stat()  # every file is a hard link of a template: same size, mtime
    sizes = {i: (root / f"template{i}.jpg").stat().st_size for i in range(8)}
    per_folder = -(-n // FOLDERS)
    now = datetime.utcnow()  # naive UTC, as the library stores it
    first_taken = datetime(2016, 1, 1, 8, 0)
    blobs: dict[int, bytes] = {}
    rng = np.random.default_rng(0)
    captions = caption_stream(n)
    with library.transaction() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "INSERT INTO folders (id, path, added_at, recursive) VALUES (?, ?, ?, 1)",
            [(f + 1, str(folder), now.isoformat(" ")) for f, folder in enumerate(folders)],
        )
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            photos, rows = [], []
            for i in range(lo, hi):
                folder = i // per_folder
                path = folders[folder] / f"dir-{i // per_dir:04d}" / f"IMG_{i:07d}.jpg"
                added = now - timedelta(days=400 * (n - i) / n)
                taken = first_taken + timedelta(minutes=50 * i)
                captioned = i % 20 != 7
                photos.append(
                    (
                        i + 1,
                        folder + 1,
                        str(path),
                        path.name,
                        sizes[i % 8],
                        stat.st_mtime,
                        64,
                        48,
                        taken.isoformat(" ", "microseconds"),
                        added.isoformat(" ", "microseconds"),
                        "captioned" if captioned else "new",
                    )
                )
                text = next(captions)
                if not captioned:
                    continue
                words = len(text.split())
                if words not in blobs:
                    maps = rng.random((words, 7, 7)).astype(np.float32)
                    blobs[words] = encode_attention(maps / maps.sum(axis=(1, 2), keepdims=True))
                score = -1.0 - (i % 97) / 10
                alternatives = json.dumps(
                    [
                        {"text": text, "score": score},
                        {"text": text.replace(" the ", " a ", 1), "score": score - 0.7},
                        {"text": "a photo of " + text.split(" ", 2)[-1], "score": score - 1.3},
                    ]
                )
                rows.append(
                    (i + 1, text, score, alternatives, blobs[words], added.isoformat(" "), int(i % 10 == 3))
                )
            conn.exec_driver_sql(
                "INSERT INTO photos (id, folder_id, path, name, size, mtime, width, height, taken_at, "
                "added_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                photos,
            )
            conn.exec_driver_sql(
                "INSERT INTO captions (photo_id, text, source, is_user, score, alternatives, attention, "
                "created_at, reviewed, language) VALUES (?, ?, 'bench-model', 0, ?, ?, ?, ?, ?, 'en')",
                rows,
            )
            print(f"  {hi:,} photos, {time.perf_counter() - start:.0f} s", flush=True)
    optimize_bulk_load(library)
    return time.perf_counter() - start


# ====================================================================== measuring


@dataclass
class Heartbeat:
    """A 10 ms ``QTimer``; every tick records how late it came, under the current phase."""

    phase: str = "idle"
    stalls: dict[str, list[float]] = field(default_factory=dict)
    worst: list[tuple[float, str, float]] = field(default_factory=list)  # (stall ms, phase, at s)
    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    _last: float = 0.0
    _t0: float = 0.0

    def start(self) -> Any:
        from PySide6.QtCore import Qt, QTimer

        self._t0 = self._last = time.perf_counter()
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(HEARTBEAT_MS)
        timer.timeout.connect(self.tick)
        timer.start()
        return timer

    def tick(self) -> None:
        now = time.perf_counter()
        stall = max(0.0, (now - self._last) * 1000 - HEARTBEAT_MS)
        self._last = now
        self.stalls.setdefault(self.phase, []).append(stall)
        if stall > 50:
            self.worst.append((stall, self.phase, now - self._t0))

    def set_phase(self, phase: str) -> None:
        now = time.perf_counter()
        # The gap in progress belongs to the phase that caused it: close it before switching.
        self.tick()
        if self.phase in self.started:
            self.ended[self.phase] = now
        self.phase = phase
        self.started[phase] = now
        print(f"  {now - self._t0:6.1f} s  {phase}", flush=True)


Step = int | Callable[[], bool]  # milliseconds to wait, or a condition to wait for


def drive(
    script: Iterator[Step], on_done: Callable[[BaseException | None], None], timeout_s: float = 120
) -> None:
    """Run a generator on the event loop: each ``yield`` waits (ms) or polls a condition every 5 ms."""
    from PySide6.QtCore import QTimer

    def step(condition: Callable[[], bool] | None = None, since: float = 0.0) -> None:
        try:
            if condition is not None and not condition():
                if time.perf_counter() - since > timeout_s:
                    where = getattr(condition, "__code__", None)
                    line = f" (line {where.co_firstlineno})" if where is not None else ""
                    raise TimeoutError(f"gave up waiting for a condition{line} after {timeout_s:.0f} s")
                QTimer.singleShot(5, lambda: step(condition, since))
                return
            wait = next(script)
        except StopIteration:
            on_done(None)
            return
        except BaseException as exc:  # reported by main()
            on_done(exc)
            return
        if callable(wait):
            QTimer.singleShot(0, lambda: step(wait, time.perf_counter()))
        else:
            QTimer.singleShot(int(wait), step)

    QTimer.singleShot(0, step)


def scenario(beat: Heartbeat, db: Path, work: Path, scroll_rows: int, box: dict[str, Any]) -> Iterator[Step]:
    """The user's session; ``box`` receives the window and library so that main() can close them."""
    from PySide6.QtCore import QPoint, QSettings, Qt, QThreadPool
    from PySide6.QtTest import QTest

    from photoscribe.core.library import Library
    from photoscribe.desktop.app import create_window
    from photoscribe.desktop.workers import JobRunner

    yield 200  # a few quiet heartbeats first

    # ---- open: the library, the window (as run_app does), its first page, the sidebar counts
    beat.set_phase("open library and window")
    library = box["library"] = Library.open(db)
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = box["window"] = create_window(
        library, runner=JobRunner(QThreadPool.globalInstance()), settings=settings
    )
    gc.freeze()  # as run_app does, after the window is built
    window.show()
    photos, folders, grid = window.photos, window.folders, window.grid
    yield lambda: photos.rowCount() > 0 and not photos.loading
    yield lambda: folders.folder_count() == FOLDERS and folders.entries[0].count is not None
    yield lambda: not window.runner.busy  # watcher registration, stats
    yield 500

    # ---- scroll: a page per frame, the model fetching 500 rows at a time as the end comes near
    beat.set_phase(f"scroll {scroll_rows:,} rows")
    bar = grid.verticalScrollBar()
    columns = max(1, grid.viewport().width() // max(1, grid.gridSize().width()))
    box["layout"] = f"window {window.width()}x{window.height()}, grid {columns} columns"
    while True:
        bottom = grid.indexAt(QPoint(8, grid.viewport().height() - 8))
        last_visible = bottom.row() if bottom.isValid() else photos.rowCount() - 1
        if last_visible >= scroll_rows - 1:
            break
        if bar.value() >= bar.maximum():
            rows = photos.rowCount()
            # QAbstractItemView asks the model for more when its scroll bar reaches the end.
            yield (
                lambda rows=rows: (
                    photos.rowCount() > rows or not (photos.loading or photos.canFetchMore(grid.rootIndex()))
                )
            )
            if photos.rowCount() == rows:
                break  # the library has fewer photos
        bar.setValue(bar.value() + bar.pageStep())
        yield 16
    box["scrolled_rows"] = last_visible + 1
    yield 500

    # ---- search: type a query a key at a time (about 8 keys per second), then clear it
    beat.set_phase("type a search query")
    window.search.setFocus()
    for char in SEARCH_TEXT:
        QTest.keyClick(window.search, char)
        yield 120
    yield lambda: photos.query.text == SEARCH_TEXT and not photos.loading
    box["search_hits"] = photos.rowCount()
    yield 300
    window.search.clear()
    yield lambda: photos.query.text == "" and not photos.loading
    yield 300

    # ---- select: click rows here and there, then walk with the arrow keys (the detail pane follows)
    beat.set_phase("select photos")
    grid.setFocus()
    for i in range(25):
        grid.select_row((i * 37) % 400)
        yield 150
    for _ in range(25):
        QTest.keyClick(grid, Qt.Key.Key_Right)
        yield 80
    grid.selectAll()
    yield 200
    yield lambda: not window.runner.busy
    yield 300

    # ---- sidebar: every smart collection and some folders, twice
    beat.set_phase("switch sidebar filters")
    rows = [0, 1, 2, 3, 4, 9, 14, 23]
    for _ in range(2):
        for row in rows:
            window.sidebar.setCurrentIndex(folders.index(row, 0))
            yield 30
            yield lambda: not photos.loading
            yield 250
    beat.set_phase("done")


def summarise(beat: Heartbeat) -> list[dict[str, Any]]:
    results = []
    for phase, stalls in beat.stalls.items():
        if phase in ("idle", "done"):
            continue
        values = np.asarray(stalls)
        results.append(
            {
                "phase": phase,
                "seconds": round(beat.ended.get(phase, beat.started[phase]) - beat.started[phase], 1),
                "ticks": len(stalls),
                "max_ms": round(float(values.max()), 1),
                "p99_ms": round(float(np.percentile(values, 99)), 1),
                "over_100ms": int((values > 100).sum()),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="photos (default 100,000)")
    parser.add_argument("--per-dir", type=int, default=1000, help="files per directory")
    parser.add_argument("--scroll-rows", type=int, default=20_000, help="grid rows to scroll through")
    parser.add_argument(
        "--db", type=Path, help="reuse this library (built by an earlier run; files beside it)"
    )
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the main thread here")
    args = parser.parse_args()

    if args.db is not None:
        work = args.db.resolve().parent
    else:
        work = args.dir or Path(tempfile.mkdtemp(prefix="photoscribe-bench-gui-"))
    db = args.db or work / "library.sqlite3"
    home = work / "home"
    os.environ["PHOTOSCRIBE_HOME"] = str(home)  # settings, thumbnail cache and logs stay in here
    shutil.rmtree(home / "cache", ignore_errors=True)  # cold thumbnail cache on every run
    if "QT_QPA_PLATFORM" not in os.environ:  # offscreen, on a 1920x1080 screen (its default is 800x800)
        home.mkdir(parents=True, exist_ok=True)
        screens = home / "screens.json"
        screens.write_text(json.dumps({"screens": [{"name": "bench", "width": 1920, "height": 1080}]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    keep = args.db is not None or args.dir is not None
    try:
        work.mkdir(parents=True, exist_ok=True)
        from photoscribe.core.library import Library

        with Library.open(db) as library, library.session() as session:
            from sqlalchemy import text

            existing = session.scalar(text("SELECT count(*) FROM photos")) or 0
        build_s = float("nan")
        if existing != args.n:
            if existing:
                raise SystemExit(f"{db} holds {existing} photos, not {args.n}; use another --dir or --n")
            print(f"building {args.n:,} photos in {work}")
            with Library.open(db) as library:
                build_s = build_library(library, work, args.n, args.per_dir)
            print(f"built in {build_s:.0f} s")
        results, extra = run_gui(db, work, args.scroll_rows, args.profile)
        db_mb = db.stat().st_size / 2**20
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)

    import PySide6

    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, PySide6 {PySide6.__version__}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    print(f"machine: {machine}; {args.n:,} photos, library file {db_mb:.0f} MiB")
    print(
        f"{extra['layout']}; scrolled {extra['scrolled_rows']:,} rows; the search found {extra['search_hits']:,}"
    )
    print("| phase | seconds | heartbeats | max stall ms | p99 stall ms | stalls > 100 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['phase']} | {r['seconds']} | {r['ticks']:,} | {r['max_ms']} | {r['p99_ms']} | {r['over_100ms']} |"
        )
    print("worst stalls (ms, phase, seconds since start):")
    for stall, phase, at in sorted(extra["worst"], reverse=True)[:10]:
        print(f"  {stall:7.1f}  {phase}  {at:.2f}")
    if args.out:
        args.out.write_text(
            json.dumps(
                {"n": args.n, "machine": machine, "build_s": build_s, "phases": results, **extra}, indent=2
            )
        )


def run_gui(
    db: Path, work: Path, scroll_rows: int, profile: Path | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from photoscribe.desktop.app import ensure_application

    app = ensure_application(["photoscribe-bench"])
    beat = Heartbeat()
    timer = beat.start()
    box: dict[str, Any] = {}
    errors: list[BaseException] = []
    profiler = cProfile.Profile() if profile else None

    def finished(exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(exc)
        app.quit()

    drive(scenario(beat, db, work, scroll_rows, box), finished)
    if profiler is not None:
        profiler.enable()
    app.exec()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    timer.stop()
    window, library = box.get("window"), box.get("library")
    if window is not None:
        window.close()
    if library is not None:
        library.close()
    if errors:
        raise errors[0]
    extra = {
        "scrolled_rows": box.get("scrolled_rows", 0),
        "search_hits": box.get("search_hits", 0),
        "layout": box.get("layout", ""),
        "worst": sorted(beat.worst, reverse=True)[:20],
    }
    return summarise(beat), extra


if __name__ == "__main__":
    main()

"""The captioning queue with a real (tiny, random) model on a real library: exactly-once, pause,
cancel, bounded retries, surviving SIGKILL, and sharing the database with the watcher and readers."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.library.database import Library
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.library.search import search
from photoscribe.core.library.similar import similar
from photoscribe.core.library.watcher import FolderWatcher
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.progress import Progress
from photoscribe.desktop.cli.library import register
from tests.helpers import new_library, wait_until

TIMEOUT = 60.0


def make_photos(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        rng = np.random.default_rng(i)
        path = folder / f"photo{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def checkpoint(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab, {"training_data": "queue tests"})


@pytest.fixture
def captioner(checkpoint: Path) -> Captioner:
    return Captioner.load(checkpoint, device="cpu", batch_size=8, n_best=2, workers=1)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


def model_caption_counts(db: Path) -> dict[int, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT photo_id, count(*) FROM captions WHERE source != 'user' GROUP BY photo_id"
        ).fetchall()
    return dict(rows)


def test_queue_captions_every_photo_exactly_once(
    library: Library, captioner: Captioner, tmp_path: Path
) -> None:
    make_photos(tmp_path / "photos", 20)
    add_folder(library, tmp_path / "photos")
    seen: list[Progress] = []
    batches: list[list[int]] = []
    queue = CaptionQueue(library, captioner, batch_size=8, on_captioned=batches.append)

    report = queue.run_once(on_progress=seen.append)

    assert (report.captioned, report.failed, report.skipped, report.cancelled) == (20, 0, 0, False)
    ids = sorted(p.id for p in library.list_photos())
    assert sorted(i for batch in batches for i in batch) == ids and [len(b) for b in batches] == [8, 8, 4]
    assert model_caption_counts(tmp_path / "library.sqlite3") == dict.fromkeys(ids, 1)
    caption = library.best_caption(ids[0])
    assert caption.source == captioner.model_id and caption.score is not None and caption.score < 0
    assert len(caption.alternatives) == 2 and caption.alternatives[0].text == caption.text
    photo = library.get_photo(ids[0])
    assert photo.feature_model == captioner.model_id and photo.status == "captioned"
    assert len(similar(library, ids[0], k=5)) == 5
    assert {p.stage for p in seen} == {"caption"}
    assert (seen[-1].done, seen[-1].total) == (20, 20) and seen[-1].rate > 0
    again = queue.run_once()
    assert (again.captioned, again.failed, again.skipped) == (0, 0, 0)
    assert library.count_pending(captioner.model_id) == 0


def test_queue_decodes_ahead_through_one_stream(
    library: Library, captioner: Captioner, tmp_path: Path
) -> None:
    make_photos(tmp_path / "photos", 40)
    add_folder(library, tmp_path / "photos")
    streams: list[int] = []
    read_ahead: list[int] = []  # paths taken from the queue when each batch comes back
    real = captioner.iter_batches

    def counting(paths, cancel=None):  # type: ignore[no-untyped-def]
        taken = 0

        def source():  # type: ignore[no-untyped-def]
            nonlocal taken
            for path in paths:
                taken += 1
                yield path

        streams.append(1)
        for batch in real(source(), cancel):
            read_ahead.append(taken)
            yield batch

    captioner.iter_batches = counting  # type: ignore[method-assign]
    report = CaptionQueue(library, captioner, batch_size=8).run_once()
    assert report.captioned == 40 and library.count_pending(captioner.model_id) == 0
    # One pipeline for the whole run, and while batch 1 is captioned the next ones are already decoding.
    assert streams == [1]
    assert read_ahead[0] > 8


def test_pause_and_resume_between_batches(library: Library, captioner: Captioner, tmp_path: Path) -> None:
    make_photos(tmp_path / "photos", 24)
    add_folder(library, tmp_path / "photos")
    calls: list[tuple[int, bool]] = []
    queue: CaptionQueue

    def on_captioned(ids: list[int]) -> None:
        if not calls:
            queue.pause()  # checked before the next batch is taken
        calls.append((len(ids), queue.paused))

    queue = CaptionQueue(library, captioner, batch_size=8, on_captioned=on_captioned)
    queue.start()
    try:
        assert wait_until(lambda: calls, TIMEOUT)
        assert queue.running and queue.paused and queue.busy
        # No batch may finish while paused (a window long enough for several batches).
        assert not wait_until(lambda: len(calls) > 1, timeout=1.0)
        assert library.stats().captioned == 8
        queue.resume()
        assert wait_until(lambda: library.stats().captioned == 24, TIMEOUT)
        assert wait_until(lambda: not queue.busy, TIMEOUT)
    finally:
        queue.stop()
    assert not queue.running
    assert calls == [(8, True), (8, False), (8, False)]

    more = make_photos(tmp_path / "photos", 3, start=100)
    queue.start()
    try:
        add_folder(library, tmp_path / "photos")
        queue.wake()
        assert wait_until(lambda: library.stats().captioned == 27, TIMEOUT)
    finally:
        queue.stop()
    assert all(library.best_caption(p) is not None for p in more)
    assert not [t for t in threading.enumerate() if t.name == "photoscribe-caption-queue"]


def test_cancel_stops_after_the_batch_in_hand(library: Library, captioner: Captioner, tmp_path: Path) -> None:
    make_photos(tmp_path / "photos", 24)
    add_folder(library, tmp_path / "photos")
    cancel = threading.Event()

    def cancel_after_first_batch(progress: Progress) -> None:
        if progress.done >= 8:
            cancel.set()

    queue = CaptionQueue(library, captioner, batch_size=8)
    report = queue.run_once(on_progress=cancel_after_first_batch, cancel=cancel)
    assert report.cancelled and report.captioned == 8
    assert library.count_pending(captioner.model_id) == 16
    report = queue.run_once()
    assert (report.captioned, report.cancelled) == (16, False)


def test_failures_are_retried_up_to_max_attempts_then_skipped(
    library: Library, captioner: Captioner, tmp_path: Path
) -> None:
    good = make_photos(tmp_path / "photos", 3)
    add_folder(library, tmp_path / "photos")
    corrupt = tmp_path / "photos" / "corrupt.jpg"
    corrupt.write_bytes(good[0].read_bytes()[:300])  # a real JPEG header, truncated data
    broken = library.upsert_photo(corrupt, 300, corrupt.stat().st_mtime)
    vanished = library.upsert_photo(tmp_path / "photos" / "vanished.jpg", 10, 1.0)
    queue = CaptionQueue(library, captioner, batch_size=8, max_attempts=3)

    first = queue.run_once()
    assert (first.captioned, first.failed, first.skipped) == (3, 1, 1)
    assert library.get_photo(vanished.id).status == "missing"
    [failure] = library.list_failures()
    assert (failure.photo_id, failure.attempts) == (broken.id, 1) and "truncated" in failure.error.lower()
    assert library.get_photo(broken.id).status == "failed"
    for attempt in (2, 3):
        report = queue.run_once()
        assert (report.captioned, report.failed) == (0, 1)
        assert library.list_failures()[0].attempts == attempt
    report = queue.run_once()
    assert (report.captioned, report.failed, report.skipped) == (0, 0, 0)
    assert library.count_pending(captioner.model_id, max_attempts=3, failure_model=captioner.failure_id) == 0
    assert library.list_failures()[0].attempts == 3


def test_caption_pending_command_reports_failures(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog="photoscribe")
        register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(list(argv))
        return args.func(args)

    db = str(tmp_path / "cli.sqlite3")
    photos = make_photos(tmp_path / "photos", 3)
    assert run("library", "--db", db, "add", str(tmp_path / "photos")) == 0
    common = ("--model", str(checkpoint), "--device", "cpu", "--batch-size", "2")
    assert run("library", "--db", db, "caption-pending", *common) == 0
    assert "3 captioned, 0 failed" in capsys.readouterr().out
    with Library.open(db) as library:
        library.upsert_photo(photos[0].with_name("bad.jpg"), 1, 1.0)
    photos[0].with_name("bad.jpg").write_text("not a jpeg")
    assert run("library", "--db", db, "caption-pending", *common) == 1
    captured = capsys.readouterr()
    assert "0 captioned, 1 failed" in captured.out and "bad.jpg" in captured.err


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_mid_run_then_restart_captions_each_photo_once(checkpoint: Path, tmp_path: Path) -> None:
    n = 150
    make_photos(tmp_path / "photos", n)
    db = tmp_path / "killed.sqlite3"
    script = Path(sys.executable).with_name("photoscribe")
    base = [str(script), "library", "--db", str(db)]
    command = (
        subprocess.list2cmdline([*base, "add", str(tmp_path / "photos")])
        + " && "
        + subprocess.list2cmdline(
            [*base, "caption-pending", "--model", str(checkpoint), "--device", "cpu", "--batch-size", "4"]
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def captions() -> int:
        if not db.exists():
            return 0
        try:
            return sum(model_caption_counts(db).values())
        except sqlite3.OperationalError:  # tables not created yet
            return 0

    process = subprocess.Popen(command, shell=True, env=env, start_new_session=True)
    try:
        assert wait_until(lambda: captions() > 0, timeout=120), "captioning never started"
        assert captions() < n, "finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    partial = captions()
    assert 0 < partial < n

    rerun = subprocess.run(command, shell=True, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n - partial} captioned, 0 failed" in rerun.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO captions_fts(captions_fts) VALUES ('integrity-check')")
        photos = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
        features = conn.execute("SELECT count(*) FROM photos WHERE feature IS NOT NULL").fetchone()[0]
    counts = model_caption_counts(db)
    assert photos == n == len(counts) == features
    assert set(counts.values()) == {1}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.slow  # a stress run: 15 s of concurrent writers and readers
@pytest.mark.timeout(180)
def test_watcher_queue_and_readers_share_the_database_without_lock_errors(
    library: Library, captioner: Captioner, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    library.add_folder_record(folder)
    source = make_photos(tmp_path / "source", 60)
    errors: list[BaseException] = []
    thread_errors: list[threading.ExceptHookArgs] = []
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    previous_hook = threading.excepthook
    threading.excepthook = thread_errors.append
    queue = CaptionQueue(library, captioner, batch_size=4)
    watcher = FolderWatcher(
        library, debounce_s=0.2, on_change=lambda s: queue.wake() if s.added or s.updated else None
    )
    stop = threading.Event()
    searches = [0]

    def reader(words: list[str]) -> None:
        try:
            while not stop.is_set():
                for word in words:
                    search(library, word, limit=50)
                    library.stats()
                    searches[0] += 1
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(w,)) for w in (["red", "on"], ["blue to"], ["photo0"])]
    try:
        watcher.start()
        watcher.watch(folder)
        queue.start()
        for thread in readers:
            thread.start()
        deadline = time.monotonic() + 15  # a sustained run with files arriving all the time
        copied = 0
        while time.monotonic() < deadline:
            index = copied % len(source)
            target = folder / f"batch{copied // len(source)}" / source[index].name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(source[index].read_bytes())
            copied += 1
            stop.wait(0.15)
        assert wait_until(lambda: library.stats().photos == copied, timeout=60)
        assert wait_until(lambda: library.stats().captioned == copied, timeout=90)
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
        watcher.stop()
        queue.stop()
        threading.excepthook = previous_hook
        logging.getLogger().removeHandler(handler)

    messages = [r.getMessage() for r in handler.records] + [str(e) for e in errors]
    messages += [str(args.exc_value) for args in thread_errors]
    assert not [m for m in messages if "locked" in m.lower()], messages
    assert errors == [] and thread_errors == [] and handler.records == []
    assert searches[0] > 100
    counts = model_caption_counts(tmp_path / "library.sqlite3")
    assert len(counts) == copied and set(counts.values()) == {1}

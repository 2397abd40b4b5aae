"""What arrives in a watched folder cannot hang or exhaust `library watch` (issue 20, items 1, 2, 12).

From the outside: a real `photoscribe library watch` process, a real FIFO, a real symlink to
``/dev/zero``, a real folder symlink to ``/proc``, a real SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.library.database import Library
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import new_library, wait_until

pytestmark = [
    pytest.mark.slow,  # runs the photoscribe command in subprocesses
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc"),
]

RSS_GROWTH_LIMIT_KB = 300 * 1024  # the /dev/zero link used to take 0.5 GB a second
STOP_LIMIT_S = 2.0  # `watch` ends within a second of SIGTERM; twice that for a busy test machine


def make_jpeg(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    tmp = path.with_name(".tmp-" + path.name)  # appears whole, as a copy does when it is renamed
    Image.fromarray(pixels).save(tmp, format="JPEG")
    tmp.rename(path)
    return path


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Watch:
    """A running `photoscribe library watch` and what it printed."""

    process: subprocess.Popen[str]
    db: Path
    folder: Path
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    peak_rss_kb: int = 0

    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def indexed(self, path: Path) -> bool:
        with Library.open(self.db) as library:
            return library.get_photo(path) is not None

    def wait_indexed(self, path: Path, timeout: float, rss_limit_kb: int) -> bool:
        """Wait for ``path`` to be in the library, killing the process if its memory runs away."""

        def done() -> bool:
            rss = rss_kb(self.process.pid)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            if rss > rss_limit_kb:
                self.process.kill()  # never let it take the machine's memory
                pytest.fail(f"memory grew to {rss // 1024} MB while watching: {self.output()}")
            return self.indexed(path)

        return wait_until(done, timeout, interval=0.2)

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took to end."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"watch ignored SIGTERM for 30 s: {self.output()}")
        return code, time.monotonic() - start


@pytest.fixture
def watch(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Iterator[Watch]:
    model = save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)
    db, folder = tmp_path / "library.sqlite3", tmp_path / "W"
    folder.mkdir()
    with new_library(db) as library:
        library.add_folder_record(folder)
    exe = Path(sys.executable).with_name("photoscribe")
    process = subprocess.Popen(
        [str(exe), "library", "--db", str(db), "watch", "--no-scan", "--model", str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a hang shows every thread's stack (SIGABRT)
        text=True,
    )
    running = Watch(process, db, folder)
    readers = [
        threading.Thread(target=lambda: running.out.extend(iter(process.stdout.readline, ""))),  # type: ignore[union-attr]
        threading.Thread(target=lambda: running.err.extend(iter(process.stderr.readline, ""))),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    try:
        assert wait_until(lambda: any(line.startswith("watching") for line in running.out), 120), (
            running.output()
        )
        yield running
    finally:
        if process.poll() is None:  # hung: faulthandler prints where each thread was, then it ends
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in readers:
            reader.join(timeout=10)
        if process.returncode == -signal.SIGABRT:
            print("the watch hung; its threads:\n" + running.output())


def _assert_stopped_cleanly(watch: Watch, code: int, seconds: float) -> None:
    assert code == 0, watch.output()
    assert seconds < STOP_LIMIT_S, f"took {seconds:.1f} s to stop: {watch.output()}"
    assert watch.out and watch.out[-1].strip() == "stopped", watch.output()
    assert "Traceback" not in watch.output()


def test_a_fifo_a_dev_zero_link_and_a_proc_link_do_not_stop_later_photos(watch: Watch) -> None:
    """Items 1, 2, 12: the watcher blocked in open() on the FIFO, read /dev/zero until memory ran
    out and walked /proc; the photo that arrives after them was never indexed, SIGTERM ignored."""
    baseline = rss_kb(watch.process.pid)
    os.mkfifo(watch.folder / "late.jpg")
    os.symlink("/dev/zero", watch.folder / "zero.jpg")
    os.symlink("/proc", watch.folder / "proc")
    time.sleep(1.0)  # let the watcher meet them first (debounce 0.5 s)
    photo = make_jpeg(watch.folder / "real.jpg", 1)

    assert watch.wait_indexed(photo, timeout=30, rss_limit_kb=baseline + RSS_GROWTH_LIMIT_KB), watch.output()
    with Library.open(watch.db) as library:
        assert [p.path for p in library.list_photos()] == [str(photo)]  # nothing from /proc or /dev
        assert library.list_failures() == []  # special files are not photos, not failures
    assert watch.peak_rss_kb - baseline < RSS_GROWTH_LIMIT_KB
    _assert_stopped_cleanly(watch, *watch.terminate())


HOLD_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
"""


def test_sigterm_stops_the_watch_within_a_second_while_a_worker_is_stuck(watch: Watch) -> None:
    """The SIGTERM part: the watcher's worker waits on a library another program holds locked (up
    to SQLite's 30 s busy timeout); `watch` used to wait 10 s for it, then for the interpreter."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(watch.db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        make_jpeg(watch.folder / "waiting.jpg", 2)
        time.sleep(2.0)  # debounce and stable polls: the worker is now waiting for the lock
        code, seconds = watch.terminate()
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    _assert_stopped_cleanly(watch, code, seconds)
    with sqlite3.connect(watch.db) as db:  # the library is intact: the stuck write was rolled back
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM photos").fetchone() == (0,)


def test_sigint_stops_the_watch_the_same_way(watch: Watch) -> None:
    start = time.monotonic()
    watch.process.send_signal(signal.SIGINT)
    code = watch.process.wait(timeout=30)
    _assert_stopped_cleanly(watch, code, time.monotonic() - start)


# --------------------------------------------------------------------------- photoscribe caption


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


def caption(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("photoscribe")
    try:
        return subprocess.run([str(exe), "caption", *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`photoscribe caption {' '.join(args)}` hung: {exc.stderr!r}")


def test_caption_of_a_named_fifo_or_device_fails_that_file_and_captions_the_rest(
    tmp_path: Path, model_file: Path
) -> None:
    """Item 2: `photoscribe caption fifo.jpg` blocked forever in open()."""
    os.mkfifo(tmp_path / "fifo.jpg")
    os.symlink("/dev/zero", tmp_path / "zero.jpg")
    photo = make_jpeg(tmp_path / "real.jpg", 3)
    out = caption(
        str(tmp_path / "fifo.jpg"), str(tmp_path / "zero.jpg"), str(photo), "--model", str(model_file)
    )
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith(f"{photo}\t")  # the real photo is captioned
    assert f"{tmp_path / 'fifo.jpg'}: not a regular file but a named pipe (FIFO)" in out.stderr
    assert f"{tmp_path / 'zero.jpg'}: not a regular file but a character device (a link to /dev/zero)" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr


def test_caption_of_a_folder_with_links_to_proc_and_to_root_finishes(
    tmp_path: Path, model_file: Path
) -> None:
    """Item 12: `caption DIR` never finished when DIR held a folder link to /proc."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = make_jpeg(folder / "real.jpg", 4)
    os.symlink("/proc", folder / "proc")
    os.symlink("/", folder / "everything")
    os.mkfifo(folder / "late.jpg")
    out = caption(str(folder), "--model", str(model_file), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [r["path"] for r in result["results"]] == [str(photo)] and result["failures"] == []

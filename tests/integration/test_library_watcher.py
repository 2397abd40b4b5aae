"""The folder watcher against the real watchdog observer, real folders and a real SQLite library."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscribe.core.errors import LibraryError
from photoscribe.core.library.database import Library
from photoscribe.core.library.records import PhotoInfo
from photoscribe.core.library.search import search
from photoscribe.core.library.watcher import ChangeSummary, FolderWatcher, WatchState, WatchStatus
from tests.helpers import new_library, wait_until

MODEL = "sat-test-v1"
TIMEOUT = 30.0


def make_jpeg(path: Path, seed: int, size: tuple[int, int] = (32, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    return path


class Harness:
    """A library, two watched folders and a running watcher collecting its change summaries."""

    def __init__(self, tmp_path: Path) -> None:
        self.library = new_library(tmp_path / "library.sqlite3")
        self.root = tmp_path / "Pictures"
        self.other = tmp_path / "Camera"
        self.outside = tmp_path / "not-watched"
        for folder in (self.root, self.other, self.outside):
            folder.mkdir()
            if folder is not self.outside:
                self.library.add_folder_record(folder)
        self.summaries: list[ChangeSummary] = []
        self.statuses: list[WatchStatus] = []
        self.watcher = FolderWatcher(
            self.library,
            debounce_s=0.2,
            stable_checks=2,
            on_change=self.summaries.append,
            on_status=self.statuses.append,
            health_s=0.25,
            rescan_every_s=0.5,
        )
        self.watcher.start()
        self.watcher.watch(self.root)
        self.watcher.watch(self.other)

    def photo(self, path: Path | int) -> PhotoInfo | None:
        return self.library.get_photo(path)

    def present(self, path: Path) -> PhotoInfo | None:
        photo = self.photo(path)
        return photo if photo is not None and photo.status != "missing" else None

    def states_of(self, folder: Path) -> list[WatchState]:
        return [s.state for s in list(self.statuses) if s.folder == str(folder)]

    def settle(self) -> None:
        assert self.watcher.wait_idle(TIMEOUT)

    def close(self) -> None:
        self.watcher.stop()
        self.library.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()
    assert not [t for t in threading.enumerate() if t.name == "photoscribe-watcher"]


def test_create_modify_delete(h: Harness) -> None:
    path = make_jpeg(h.root / "new.jpg", 1)
    assert wait_until(lambda: h.present(path))
    photo = h.photo(path)
    assert (photo.size, photo.width) == (path.stat().st_size, 32)
    h.library.add_model_caption(photo.id, MODEL, "a blue boat on a lake", -1.0)

    make_jpeg(path, 2, (64, 48))
    assert wait_until(lambda: h.photo(path).width == 64)
    changed = h.photo(path)
    assert changed.id == photo.id and changed.size == path.stat().st_size
    assert h.library.captions(photo.id) == []  # new pixels: the old model caption is dropped

    h.library.add_model_caption(photo.id, MODEL, "a blue boat on a lake", -1.0)
    path.unlink()
    assert wait_until(lambda: h.photo(photo.id).status == "missing")
    assert search(h.library, "boat") == []
    h.settle()
    assert photo.id in {i for s in h.summaries for i in s.added}
    assert photo.id in {i for s in h.summaries for i in s.updated}
    assert photo.id in {i for s in h.summaries for i in s.removed}


def test_rename_keeps_id_and_caption(h: Harness) -> None:
    path = make_jpeg(h.root / "IMG_0001.jpg", 1)
    assert wait_until(lambda: h.present(path))
    photo = h.photo(path)
    h.library.set_user_caption(photo.id, "Our dog Rex")
    h.settle()

    renamed = h.root / "rex.jpg"
    os.rename(path, renamed)
    assert wait_until(lambda: h.present(renamed))
    h.settle()
    assert h.photo(renamed).id == photo.id and h.photo(path) is None
    assert h.library.best_caption(photo.id).text == "Our dog Rex"
    assert [hit.path for hit in search(h.library, "rex")] == [str(renamed)]
    assert len(h.library.list_photos()) == 1


def test_move_across_two_watched_folders(h: Harness) -> None:
    path = make_jpeg(h.root / "trip.jpg", 1)
    assert wait_until(lambda: h.present(path))
    photo = h.photo(path)
    h.library.add_model_caption(photo.id, MODEL, "a mountain with snow", -1.0)
    h.settle()

    target = h.other / "2024" / "trip.jpg"
    target.parent.mkdir()
    shutil.move(path, target)  # separate watches: arrives as a delete and a create
    assert wait_until(lambda: h.present(target))
    h.settle()
    moved = h.photo(target)
    camera_folder = next(f for f in h.library.list_folders() if f.path == str(h.other))
    assert moved.id == photo.id and moved.folder_id == camera_folder.id
    assert [c.text for c in h.library.captions(photo.id)] == ["a mountain with snow"]
    assert len(h.library.list_photos()) == 1


def test_directory_rename_and_move_out(h: Harness) -> None:
    album = h.root / "album"
    paths = [make_jpeg(album / f"p{i}.jpg", i) for i in range(3)] + [make_jpeg(album / "deep" / "x.jpg", 9)]
    assert wait_until(lambda: all(h.present(p) for p in paths))
    ids = [h.photo(p).id for p in paths]
    for photo_id in ids:
        h.library.add_model_caption(photo_id, MODEL, "a family picnic", -1.0)
    h.settle()

    renamed = h.root / "Picnic 2024"
    os.rename(album, renamed)
    new_paths = [renamed / p.relative_to(album) for p in paths]
    assert wait_until(lambda: all(h.present(p) for p in new_paths))
    h.settle()
    assert [h.photo(p).id for p in new_paths] == ids
    assert len(h.library.list_photos()) == 4
    assert len(search(h.library, "picnic")) == 4

    shutil.move(renamed, h.outside / "archived")  # out of every watched folder
    assert wait_until(lambda: all(h.photo(i).status == "missing" for i in ids))
    assert search(h.library, "picnic") == []


def test_a_file_written_slowly_is_indexed_once_complete(h: Harness) -> None:
    source = make_jpeg(h.outside / "big.jpg", 5, (600, 400))
    data = source.read_bytes()
    target = h.root / "slow.jpg"
    sizes_seen: list[int] = []

    def watch_db() -> None:
        while not done.is_set():
            photo = h.photo(target)
            if photo is not None:
                sizes_seen.append(photo.size)
            done.wait(0.01)

    done = threading.Event()
    observer = threading.Thread(target=watch_db)
    observer.start()
    chunk = len(data) // 24 + 1
    with open(target, "wb") as fh:  # a slow copy (say from a network drive) that stalls half-way
        for index, start in enumerate(range(0, len(data), chunk)):
            fh.write(data[start : start + chunk])
            fh.flush()
            time.sleep(0.8 if index == 12 else 0.03)  # the stall outlasts debounce + stable polls
    try:
        assert wait_until(lambda: h.present(target))
        assert wait_until(lambda: sizes_seen)  # the observer thread has looked since
        h.settle()
    finally:
        done.set()
        observer.join()
    photo = h.photo(target)
    assert photo.size == len(data) and (photo.width, photo.height) == (600, 400)
    assert set(sizes_seen) == {len(data)}  # never seen half-written
    assert [s.added for s in h.summaries if s.added] == [(photo.id,)]
    assert not any(photo.id in s.updated for s in h.summaries)


@pytest.mark.timeout(120)
def test_a_burst_of_2000_files_is_indexed_exactly_once(h: Harness) -> None:
    template = make_jpeg(h.outside / "template.jpg", 0, (8, 8))
    burst = h.root / "burst"
    burst.mkdir()
    for i in range(2000):
        shutil.copyfile(template, burst / f"IMG_{i:04d}.jpg")
    assert wait_until(lambda: len(h.library.list_photos()) >= 2000, timeout=90)
    h.settle()

    photos = h.library.list_photos()
    assert len(photos) == 2000 and len({p.path for p in photos}) == 2000
    assert {p.size for p in photos} == {template.stat().st_size}
    added = [i for s in h.summaries for i in s.added]
    assert sorted(added) == sorted(p.id for p in photos)  # each reported once
    assert len(h.summaries) < 100  # coalesced into batches, not one round per file
    assert h.library.stats().photos == 2000


@pytest.mark.slow
@pytest.mark.bundled_model
def test_watch_command_runs_until_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    folder = tmp_path / "photos"
    folder.mkdir()
    with new_library(db) as library:
        library.add_folder_record(folder)
    script = Path(sys.executable).with_name("photoscribe")
    process = subprocess.Popen(
        [str(script), "library", "--db", str(db), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a hang shows every thread's stack (SIGABRT)
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        assert wait_until(lambda: any(line.startswith("watching") for line in lines), timeout=60), lines
        make_jpeg(folder / "new.jpg", 1)
        with Library.open(db) as library:
            assert wait_until(lambda: library.get_photo(folder / "new.jpg") is not None)
        assert wait_until(lambda: any("1 added" in line for line in lines)), lines
        # no --model: the default model that ships with photoscribe captions the new photo
        assert wait_until(lambda: any("captioned 1 photos" in line for line in lines), timeout=180), lines
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:  # hung: faulthandler prints where each thread was, then it ends
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        reader.join(timeout=10)
        if process.returncode == -signal.SIGABRT:
            print("the watch hung; its threads:\n" + "".join(lines))
    assert "captioning new photos with default.pt" in "".join(lines)
    assert lines[-1].strip() == "stopped"


def test_a_symlink_loop_moved_into_a_watched_folder_is_followed_as_a_scan_follows_it(h: Harness) -> None:
    """Issue 12 item 5: a folder holding ``up -> ..`` (and links into the library) moved in while
    watching adds each real photo once; a rescan afterwards finds nothing to add or mark missing."""
    make_jpeg(h.root / "old" / "a.jpg", 1)
    make_jpeg(h.other / "cam.jpg", 2)
    assert wait_until(lambda: h.present(h.root / "old" / "a.jpg") and h.present(h.other / "cam.jpg"))
    h.settle()

    outside = tmp = h.outside / "trip"
    made = [make_jpeg(tmp / f"t{i}.jpg", 10 + i) for i in range(3)] + [make_jpeg(tmp / "day2" / "d.jpg", 20)]
    make_jpeg(tmp / "@eaDir" / "thumb.jpg", 21)  # a NAS's thumbnails: skipped by scans
    os.symlink("..", tmp / "up")  # after the move: the watched folder itself
    os.symlink("../..", tmp / "day2" / "upup")
    os.symlink(h.other, tmp / "camera-link")  # into another library folder
    shutil.move(outside, h.root / "trip")
    expected = {str(h.root / "trip" / p.relative_to(tmp)) for p in made}
    assert wait_until(lambda: all(h.present(Path(p)) for p in expected))
    h.settle()
    time.sleep(1.0)  # late events, if any, would add rows now
    h.settle()

    present = {p.path for p in h.library.list_photos() if p.status != "missing"}
    assert present == expected | {str(h.root / "old" / "a.jpg"), str(h.other / "cam.jpg")}
    assert len(h.library.list_photos()) == len(present)  # no duplicate row, present or missing
    h.watcher.stop()
    from photoscribe.core.library.scanner import rescan_all

    report = rescan_all(h.library)
    assert (report.added, report.missing, report.moved, report.duplicates) == (0, 0, 0, 0)
    assert report.unchanged == len(present)


def _photo_arrives_after(h: Harness, folder: Path, seed: int) -> Path:
    """Once the watch of ``folder`` is re-armed, a photo dropped in is indexed."""
    assert wait_until(lambda: WatchState.REARMED in h.states_of(folder)), h.statuses
    path = make_jpeg(folder / f"after-{seed}.jpg", seed)
    assert wait_until(lambda: h.present(path)), (h.statuses, h.watcher.states())
    return path


def test_a_watched_folder_deleted_and_made_again_is_reported_and_watched_again(h: Harness) -> None:
    """Issue 12 item 6: the watch of a folder that vanished is dead; it is re-armed when the folder
    is back (a new inode), the folder is rescanned, and new photos are indexed again."""
    before = make_jpeg(h.root / "before.jpg", 1)
    assert wait_until(lambda: h.present(before))
    h.settle()
    shutil.rmtree(h.root)
    assert wait_until(lambda: WatchState.LOST in h.states_of(h.root)), h.statuses
    assert h.watcher.states()[str(h.root)] is WatchState.LOST
    h.root.mkdir()
    make_jpeg(h.root / "while-away.jpg", 2)  # written before the watch is back: found by the rescan
    _photo_arrives_after(h, h.root, 3)
    assert wait_until(lambda: h.present(h.root / "while-away.jpg"))
    assert h.watcher.states()[str(h.root)] is WatchState.WATCHING
    rearmed = next(s for s in h.statuses if s.state is WatchState.REARMED)
    assert rearmed.report is not None and "rescanned" in rearmed.describe()
    other = make_jpeg(h.other / "still.jpg", 4)  # the other folder was never disturbed
    assert wait_until(lambda: h.present(other))


def test_a_watched_folder_renamed_away_and_back_is_watched_again(h: Harness) -> None:
    away = h.outside / "unplugged"
    os.rename(h.root, away)
    assert wait_until(lambda: WatchState.LOST in h.states_of(h.root)), h.statuses
    make_jpeg(away / "taken-while-away.jpg", 5)
    os.rename(away, h.root)
    _photo_arrives_after(h, h.root, 6)
    assert wait_until(lambda: h.present(h.root / "taken-while-away.jpg"))


def test_a_drive_unmounted_and_mounted_again_is_watched_again(h: Harness) -> None:
    """The real thing: a tmpfs mounted on the watched folder, unmounted and mounted again."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(h.root)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"this machine refuses to mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}"
        )
    try:
        assert wait_until(lambda: WatchState.REARMED in h.states_of(h.root)), h.statuses  # a new inode
        first = make_jpeg(h.root / "on-the-drive.jpg", 7)
        assert wait_until(lambda: h.present(first))
        h.settle()
        subprocess.run(["umount", str(h.root)], check=True)
        assert wait_until(lambda: h.states_of(h.root).count(WatchState.REARMED) >= 2), h.statuses
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(h.root)], check=True)
        assert wait_until(lambda: h.states_of(h.root).count(WatchState.REARMED) >= 3), h.statuses
        later = make_jpeg(h.root / "after-replug.jpg", 8)
        assert wait_until(lambda: h.present(later)), (h.statuses, h.watcher.states())
    finally:
        h.watcher.stop()
        subprocess.run(["umount", str(h.root)], capture_output=True)


def test_a_folder_whose_watch_cannot_be_armed_is_rescanned_until_it_can(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS refuses the watch (as inotify does at its limit): the folder is rescanned periodically."""
    refused = h.outside / "refused"
    refused.mkdir()
    h.library.add_folder_record(refused)
    observer = h.watcher.folders.observer
    assert observer is not None
    real_schedule = observer.schedule

    def schedule(handler, path, **kwargs):  # type: ignore[no-untyped-def]
        if os.fspath(path) == str(refused):
            raise OSError(28, "inotify watch limit reached")
        return real_schedule(handler, path, **kwargs)

    monkeypatch.setattr(observer, "schedule", schedule)
    h.watcher.watch(refused)
    assert h.states_of(refused) == [WatchState.POLLING]
    assert "max_user_watches" in h.statuses[-1].message
    photo = make_jpeg(refused / "polled.jpg", 9)
    assert wait_until(lambda: h.present(photo)), h.statuses
    monkeypatch.setattr(observer, "schedule", real_schedule)  # the limit was raised
    assert wait_until(lambda: h.watcher.states()[str(refused)] is WatchState.WATCHING), h.statuses
    assert wait_until(lambda: WatchState.REARMED in h.states_of(refused))
    live = make_jpeg(refused / "live.jpg", 10)
    assert wait_until(lambda: h.present(live))


@pytest.mark.slow
@pytest.mark.bundled_model
def test_watch_command_reports_a_lost_folder_and_stops_when_the_library_file_is_deleted(
    tmp_path: Path,
) -> None:
    """Issue 12 items 6 and 10: `library watch` logs a lost and a re-armed watch, and stops with a
    message and exit code 1 when its library file is deleted (it used to write on into the void)."""
    db = tmp_path / "cli.sqlite3"
    folder = tmp_path / "drive"
    folder.mkdir()
    with new_library(db) as library:
        library.add_folder_record(folder)
    script = Path(sys.executable).with_name("photoscribe")
    process = subprocess.Popen(
        [str(script), "library", "--db", str(db), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    errors: list[str] = []
    readers = [
        threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, ""))),  # type: ignore[union-attr]
        threading.Thread(target=lambda: errors.extend(iter(process.stderr.readline, ""))),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    try:
        assert wait_until(lambda: any(line.startswith("watching") for line in lines), timeout=120), (
            lines,
            errors,
        )
        folder.rmdir()
        assert wait_until(lambda: any(line.startswith(f"lost: {folder}") for line in lines)), (lines, errors)
        folder.mkdir()
        assert wait_until(lambda: any(line.startswith(f"re-armed: {folder}") for line in lines)), (
            lines,
            errors,
        )
        photo = make_jpeg(folder / "after.jpg", 1)
        with Library.open(db) as library:
            assert wait_until(lambda: library.get_photo(photo) is not None)
        db.unlink()
        assert process.wait(timeout=60) == 1
    finally:
        if process.poll() is None:
            process.kill()
        for reader in readers:
            reader.join(timeout=10)
    message = "".join(errors)
    assert "the library file was deleted or replaced while watching" in message, message
    assert "Traceback" not in message
    assert not db.exists()  # nothing wrote a new, empty library in its place


def test_a_folder_not_there_when_watching_starts_is_watched_when_it_appears(h: Harness) -> None:
    drive = h.outside / "drive-not-plugged-in"
    h.library.add_folder_record(h.outside)  # the library folder holding the drive's mount point
    h.watcher.watch(drive, absent_ok=True)
    assert h.states_of(drive) == [WatchState.LOST]
    with pytest.raises(LibraryError, match="not a folder"):
        h.watcher.watch(h.outside / "typo")  # without absent_ok, a missing folder is an error
    drive.mkdir()
    _photo_arrives_after(h, drive, 11)


def test_a_watch_whose_emitter_thread_died_is_armed_again(h: Harness) -> None:
    """The folder is still there (same inode) but watchdog's emitter thread for it stopped."""
    observer = h.watcher.folders.observer
    assert observer is not None
    [emitter] = [e for e in observer.emitters if e.watch.path == str(h.root)]
    emitter.stop()
    emitter.join(TIMEOUT)
    assert not emitter.is_alive()
    _photo_arrives_after(h, h.root, 12)
    assert WatchState.LOST not in h.states_of(h.root)

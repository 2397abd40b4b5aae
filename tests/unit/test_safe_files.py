"""core/files/safe_files.py: only regular files are opened, reads are bounded, /proc is never walked.

Real FIFOs, real symlinks to /dev/zero and /proc (issue 20, items 1, 2 and 12). Every test that
would hang on a blocking open has a timeout.
"""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.errors import LibraryError, UnsupportedImageError
from photoscribe.core.files import safe_files
from photoscribe.core.files.imaging import load_image, read_exif_summary, sniff_image
from photoscribe.core.files.safe_files import (
    FileTooLargeError,
    NotRegularFileError,
    check_photo_file,
    folder_refusal,
    open_photo,
    read_chunks,
    read_head_and_tail,
)
from photoscribe.core.library.embed import EmbedError, embed_in_file
from photoscribe.core.library.metadata import NOTHING, read_descriptions
from photoscribe.core.library.scanner import add_folder, covered_folders, file_hash, list_files
from photoscribe.core.library.watcher import FolderWatcher, _looks_complete
from photoscribe.core.library.xmp import AccessibilityText, XmpError, write_sidecar
from tests.helpers import new_library

linux = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc and /dev")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "late.jpg"
    os.mkfifo(path)
    return path


@pytest.fixture
def zero(tmp_path: Path) -> Path:
    path = tmp_path / "zero.jpg"
    os.symlink("/dev/zero", path)
    return path


def jpeg(path: Path, size: tuple[int, int] = (16, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path, format="JPEG")
    return path


# --------------------------------------------------------------------------- the module


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(fifo: Path) -> None:
    with pytest.raises(NotRegularFileError, match=r"not a regular file but a named pipe \(FIFO\)"):
        open_photo(fifo)


@pytest.mark.timeout(20)
def test_a_fifo_swapped_in_after_the_check_is_caught_by_fstat(
    fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat before the open is skipped: O_NONBLOCK keeps the open from blocking, fstat refuses."""
    monkeypatch.setattr(safe_files, "check_photo_file", lambda path, max_bytes: None)
    with pytest.raises(NotRegularFileError, match="named pipe"):
        open_photo(fifo)


@linux
def test_a_link_to_dev_zero_is_refused_and_says_where_it_leads(zero: Path) -> None:
    with pytest.raises(NotRegularFileError) as caught:
        check_photo_file(zero)
    assert caught.value.path == str(zero)
    assert "character device (a link to /dev/zero)" in caught.value.reason
    assert isinstance(caught.value, UnsupportedImageError)  # a per-file failure wherever photos fail


@linux
def test_a_regular_file_of_proc_is_refused() -> None:
    with pytest.raises(NotRegularFileError, match="belongs to the system"):
        open_photo("/proc/self/status")


def test_a_regular_file_opens_blocking_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"0123456789")
    with open_photo(path) as fh:
        assert os.get_blocking(fh.fileno())  # O_NONBLOCK cleared: ordinary reads
        assert fh.read() == b"0123456789"
    via_link = tmp_path / "link.bin"
    os.symlink(path, via_link)  # a link to a photo is a photo
    assert read_head_and_tail(via_link, 3, 2) == (b"012", b"89")


def test_reads_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"x" * 100)
    with pytest.raises(FileTooLargeError, match="larger than any photo"):
        open_photo(path, max_bytes=99)
    growing = io.BytesIO(b"y" * 100)  # a file that grew after its size was checked
    with pytest.raises(FileTooLargeError, match="grew past"):
        b"".join(read_chunks(growing, 16, max_bytes=50, name="grown.jpg"))  # type: ignore[arg-type]
    assert b"".join(read_chunks(io.BytesIO(b"z" * 50), 16, max_bytes=50)) == b"z" * 50  # type: ignore[arg-type]


def test_pseudo_file_systems_are_read_from_mountinfo() -> None:
    text = (
        "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        "23 1 0:22 / /sys rw - sysfs sysfs rw\n"
        "24 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "25 24 0:5 / /dev rw - devtmpfs udev rw\n"
        "26 24 0:47 / /media/nas rw - autofs systemd-1 rw\n"  # a NAS mounted on demand: walked
    )
    assert safe_files._mountinfo_devices(text) == {os.makedev(0, 21), os.makedev(0, 22), os.makedev(0, 5)}


@linux
def test_proc_sys_and_dev_are_never_walked_and_links_to_them_neither(tmp_path: Path) -> None:
    for root in ("/proc", "/sys", "/dev"):
        if os.path.isdir(root):
            assert folder_refusal(root, os.stat(root)) is not None, root
    link = tmp_path / "proc"
    os.symlink("/proc", link)
    assert "system folder" in (folder_refusal(str(link), os.stat(link), via_link=True) or "")
    (tmp_path / "photos").mkdir()
    assert folder_refusal(str(tmp_path / "photos"), os.stat(tmp_path / "photos")) is None


def test_a_link_to_a_folder_that_holds_the_walk_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "home" / "Pictures"
    (root / "trips").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for name, target in (("everything", "/"), ("home", tmp_path / "home"), ("other", tmp_path / "elsewhere")):
        os.symlink(target, root / name)
    real_root = os.path.realpath(root)

    def refusal(name: str) -> str | None:
        path = root / name
        return folder_refusal(str(path), os.stat(path), via_link=path.is_symlink(), walk_root=real_root)

    assert "holds the folder being walked" in (refusal("everything") or "")
    assert "holds the folder being walked" in (refusal("home") or "")
    assert refusal("other") is None and refusal("trips") is None


# --------------------------------------------------------------------------- the callers


@pytest.mark.timeout(20)
@linux
def test_image_reading_refuses_special_files_promptly(fifo: Path, zero: Path) -> None:
    for path in (fifo, zero):
        assert sniff_image(path) is False
        with pytest.raises(NotRegularFileError):
            load_image(path)
        with pytest.raises(NotRegularFileError):
            read_exif_summary(path)
        with pytest.raises(NotRegularFileError):
            file_hash(path)
        assert read_descriptions(path) == NOTHING  # exiv2 opens by path: it never gets it
        assert _looks_complete(str(path)) is False


@pytest.mark.timeout(20)
@linux
def test_write_metadata_never_copies_a_device(zero: Path) -> None:
    """shutil.copy2 refuses a FIFO, but copies /dev/zero until the disk is full."""
    with pytest.raises(EmbedError, match="not a regular file but a character device"):
        embed_in_file(
            zero, AccessibilityText(alt_text="a red square", extended=None, description="a red square")
        )
    assert list(zero.parent.glob(".zero.jpg.*")) == []


def test_images_still_load_through_the_safe_open(tmp_path: Path) -> None:
    path = jpeg(tmp_path / "a.jpg", (64, 48))
    assert sniff_image(path)
    assert load_image(path, target_size=None).size == (64, 48)
    assert (read_exif_summary(path).width, read_exif_summary(path).height) == (64, 48)


@pytest.mark.timeout(60)
@linux
def test_a_scan_skips_special_files_and_system_folders(tmp_path: Path, fifo: Path, zero: Path) -> None:
    """Item 12: a folder link to /proc made a scan walk the whole machine (75,754 files, 78 s)."""
    photo = jpeg(tmp_path / "real.jpg")
    os.symlink("/proc", tmp_path / "proc")
    os.symlink("/", tmp_path / "everything")
    os.symlink("/proc/self/status", tmp_path / "status.jpg")
    start = time.monotonic()
    with new_library(tmp_path.parent / f"{tmp_path.name}.sqlite3") as library:
        _, report = add_folder(library, tmp_path)
        assert [p.path for p in library.list_photos()] == [str(photo)]
        assert library.list_failures() == []
    assert (report.added, report.failed, report.skipped) == (1, 0, 0)
    assert time.monotonic() - start < 30
    files, _ = list_files(tmp_path / "proc", covered=())  # a link that appears while watching
    assert files == []


@linux
def test_proc_cannot_be_added_as_a_library_folder(tmp_path: Path) -> None:
    with new_library(tmp_path / "library.sqlite3") as library:
        with pytest.raises(LibraryError, match="/proc cannot be a library folder: it is a system folder"):
            add_folder(library, "/proc")
        assert library.list_folders() == []


@pytest.mark.timeout(60)
@linux
def test_the_watcher_ignores_a_fifo_and_dev_zero_and_indexes_the_next_photo(tmp_path: Path) -> None:
    folder = tmp_path / "W"
    folder.mkdir()
    with new_library(tmp_path / "library.sqlite3") as library:
        library.add_folder_record(folder)
        watcher = FolderWatcher(library, debounce_s=0.1)
        watcher.start()
        try:
            watcher.watch(folder)
            os.mkfifo(folder / "late.jpg")
            os.symlink("/dev/zero", folder / "zero.jpg")
            os.symlink("/proc", folder / "proc")
            photo = jpeg(folder / "real.jpg")
            deadline = time.monotonic() + 20
            while library.get_photo(photo) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert library.get_photo(photo) is not None
            assert watcher.wait_idle(10)
            assert [p.path for p in library.list_photos()] == [str(photo)]
        finally:
            assert watcher.stop(timeout=5)  # its thread is not stuck in an open() or a read


def test_a_link_to_a_folder_above_the_library_is_not_walked_when_it_appears(tmp_path: Path) -> None:
    """`ln -s / W/everything` while watching: the folder that appeared is not listed (it held the
    whole machine, the library folder included)."""
    folder = tmp_path / "W"
    jpeg(folder / "a.jpg")
    os.symlink(tmp_path, folder / "up")
    os.symlink("/", folder / "everything")
    with new_library(tmp_path / "library.sqlite3") as library:
        library.add_folder_record(folder)
        covered = covered_folders(library.list_folders())
    assert list_files(folder / "everything", covered) == ([], [])
    assert list_files(folder / "up", covered) == ([], [])
    assert list_files(folder, covered) == ([str(folder / "a.jpg")], [])


def test_a_huge_file_is_a_failure_if_it_is_a_photo_and_skipped_if_not(tmp_path: Path) -> None:
    """Sparse files (no disk used): a 2 GiB+ "JPEG" is refused before it is hashed; a video of that
    size is sniffed and skipped like any file that is not a photo."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, head in (("huge.jpg", b"\xff\xd8\xff\xe0"), ("movie.mp4", b"\x00\x00\x00\x18ftypmp42")):
        with open(folder / name, "wb") as fh:
            fh.write(head)
            fh.truncate(safe_files.MAX_PHOTO_BYTES + 1)
    with new_library(tmp_path / "library.sqlite3") as library:
        _, report = add_folder(library, folder)
        [failure] = library.list_failures()
    assert (report.added, report.skipped, report.failed) == (0, 1, 1)
    assert failure.path == str(folder / "huge.jpg") and "larger than any photo" in failure.error


def test_a_fifo_or_device_named_like_a_sidecar_is_never_read_nor_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg.xmp"
    os.mkfifo(fifo)
    device = tmp_path / "other.jpg.xmp"
    device.symlink_to("/dev/zero")
    text = AccessibilityText("a red car", None, "a red car", "en", ())
    for path in (fifo, device):
        with pytest.raises(XmpError, match="not a sidecar we can merge into"):
            write_sidecar(path, text)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.readlink(device) == "/dev/zero"

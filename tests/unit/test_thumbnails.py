"""The on-disk thumbnail cache: made once, keyed by the file's state, upright, atomic, thread-safe."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.errors import UnsupportedImageError
from photoscribe.core.library import thumbnails
from photoscribe.core.library.thumbnails import ThumbnailCache
from photoscribe.core.paths import cache_dir


@pytest.fixture
def cache(tmp_path: Path) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "thumbs", size=64)


def photo(path: Path, size: tuple[int, int] = (400, 100), colour: str = "green", **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG", **save)
    return path


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = thumbnails.load_image

    def counting(path, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(thumbnails, "load_image", counting)
    return calls


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_created_once_then_served_from_disk(
    cache: ThumbnailCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = photo(tmp_path / "wide.jpg")
    decodes = count_decodes(monkeypatch)
    thumb = cache.get_or_create(source)
    assert thumb == cache.path_for(source) and thumb.parent.parent == tmp_path / "thumbs"
    assert thumb.parent.name == thumb.name[:2] and thumb.suffix == ".jpg"
    first_mtime = thumb.stat().st_mtime_ns
    with Image.open(thumb) as image:
        assert image.format == "JPEG" and image.size == (64, 16)  # 4:1 kept
    assert cache.get_or_create(source) == thumb
    assert ThumbnailCache(tmp_path / "thumbs", size=64).get_or_create(source) == thumb  # survives a restart
    assert decodes == [str(source)] and thumb.stat().st_mtime_ns == first_mtime
    assert all_files(tmp_path / "thumbs") == [thumb]


def test_default_location_is_the_cache_dir(tmp_path: Path) -> None:
    source = photo(tmp_path / "a.jpg")
    thumb = ThumbnailCache().get_or_create(source)
    assert thumb.is_relative_to(cache_dir() / "thumbnails")
    assert ThumbnailCache(size=128).path_for(source) != thumb  # the size is part of the key


def test_a_changed_photo_gets_a_new_thumbnail_and_the_old_one_goes(
    cache: ThumbnailCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = photo(tmp_path / "a.jpg", (100, 100), "red")
    old = cache.get_or_create(source)
    photo(source, (100, 50), "blue")
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    decodes = count_decodes(monkeypatch)
    new = cache.get_or_create(source)
    assert new != old and not old.exists() and decodes == [str(source)]
    with Image.open(new) as image:
        assert image.size == (64, 32)
        r, _g, b = image.convert("RGB").getpixel((32, 16))
        assert b > 200 and r < 60
    assert cache.invalidate(source) == 1 and not new.exists()
    assert cache.invalidate(source) == 0
    assert all_files(tmp_path / "thumbs") == []


def test_exif_rotated_photo_gives_an_upright_thumbnail(cache: ThumbnailCache, tmp_path: Path) -> None:
    # Stored landscape, left half red and right half blue; orientation 6 = show it turned 90° clockwise,
    # which puts the red half on top of a portrait picture.
    image = Image.new("RGB", (200, 100), "blue")
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "rotated.jpg"
    image.save(source, format="JPEG", exif=exif.tobytes())

    with Image.open(cache.get_or_create(source)) as thumb:
        rgb = thumb.convert("RGB")
        assert rgb.size == (32, 64)
        top, bottom = rgb.getpixel((16, 8)), rgb.getpixel((16, 56))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_bad_files_raise_unsupported_image_error_and_leave_nothing(
    cache: ThumbnailCache, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x13" * 300)
    with pytest.raises(UnsupportedImageError) as info:
        cache.get_or_create(corrupt)
    assert info.value.path == str(corrupt)
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(UnsupportedImageError):
        cache.get_or_create(text)
    with pytest.raises(UnsupportedImageError):
        cache.get_or_create(tmp_path / "missing.jpg")
    assert all_files(tmp_path / "thumbs") == []


def test_a_failed_write_leaves_no_temp_file(
    cache: ThumbnailCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = photo(tmp_path / "a.jpg")

    def disk_full(self, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        fp.write(b"\xff\xd8\xff partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        cache.get_or_create(source)
    assert all_files(tmp_path / "thumbs") == []
    monkeypatch.undo()
    thumb = cache.get_or_create(source)
    assert all_files(tmp_path / "thumbs") == [thumb]


def test_threads_asking_for_the_same_thumbnail_decode_it_once(
    cache: ThumbnailCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [photo(tmp_path / f"p{i}.jpg", (120, 80 + i)) for i in range(4)]
    decodes = count_decodes(monkeypatch)
    start = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        start.wait(timeout=10)
        try:
            results.append(cache.get_or_create(sources[index % 4]))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(decodes) == sorted(str(s) for s in sources)
    assert len(set(results)) == 4 and len(all_files(tmp_path / "thumbs")) == 4


def test_prune_removes_the_oldest_first(cache: ThumbnailCache, tmp_path: Path) -> None:
    thumbs = [cache.get_or_create(photo(tmp_path / f"p{i}.jpg", (100, 100), "red")) for i in range(3)]
    for age, thumb in enumerate(reversed(thumbs)):
        os.utime(thumb, (1_000_000 - age * 1000, 1_000_000 - age * 1000))  # thumbs[0] is the oldest
    sizes = [t.stat().st_size for t in thumbs]
    assert cache.prune(sizes[1] + sizes[2]) == 1
    assert [t.exists() for t in thumbs] == [False, True, True]
    assert cache.prune(0) == 2 and all_files(tmp_path / "thumbs") == []


def cache_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # deleted by a prune running now
            total += path.stat().st_size if path.is_file() else 0
    return total


def test_a_cache_over_budget_shrinks_under_it_keeping_the_most_recently_used(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "thumbs", size=64, budget_bytes=None)
    sources = [photo(tmp_path / f"p{i}.jpg", (100, 100), "red") for i in range(5)]
    thumbs = [cache.get_or_create(source) for source in sources]
    for age, thumb in enumerate(reversed(thumbs)):  # made a day apart: thumbs[0] is the oldest
        os.utime(thumb, (1_000_000 - age * 86400, 1_000_000 - age * 86400))
    assert cache.get_or_create(sources[0]) == thumbs[0]  # ... but it was just used again
    budget = sum(t.stat().st_size for t in (thumbs[0], thumbs[3], thumbs[4]))
    assert cache.prune(budget) == 2
    assert [t.exists() for t in thumbs] == [True, False, False, True, True]
    assert cache_bytes(tmp_path / "thumbs") <= budget


def test_the_cache_prunes_itself_in_the_background_as_thumbnails_are_added(tmp_path: Path) -> None:
    one = ThumbnailCache(tmp_path / "probe", size=64).get_or_create(photo(tmp_path / "probe.jpg", (100, 100)))
    budget = 3 * one.stat().st_size
    cache = ThumbnailCache(tmp_path / "thumbs", size=64, budget_bytes=budget, prune_every=4)
    for i in range(12):
        cache.get_or_create(photo(tmp_path / f"p{i}.jpg", (100, 100), "red"))
    deadline = time.monotonic() + 10
    while cache_bytes(tmp_path / "thumbs") > budget and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 0 < cache_bytes(tmp_path / "thumbs") <= budget


def test_pruning_never_deletes_a_thumbnail_being_written(
    cache: ThumbnailCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = Image.Image.save

    def save_then_prune(image: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        save(image, fp, *args, **kwargs)  # type: ignore[arg-type]
        assert cache.prune(0) == 0  # everything else is gone; the file being written stays

    leftover = tmp_path / "thumbs" / "ab" / ".thumb-crashed.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a thumbnail")
    os.utime(leftover, (1_000_000, 1_000_000))  # a crash's leftover, long ago: pruned
    assert cache.prune(0) == 1 and not leftover.exists()
    monkeypatch.setattr(Image.Image, "save", save_then_prune)
    thumb = cache.get_or_create(photo(tmp_path / "new.jpg"))
    assert thumb.is_file() and Image.open(thumb).size == (64, 16)


def test_a_cache_without_a_budget_is_never_pruned_in_the_background(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "thumbs", size=64, budget_bytes=None, prune_every=1)
    thumb = cache.get_or_create(photo(tmp_path / "p.jpg"))
    assert cache.prune_in_background() is None and thumb.exists()

"""Issue 20 items 9, 10, 11 and 13, from the outside: the real `photoscribe` command in a subprocess
given non-UTF-8 argument bytes, an ASCII-only stdout, a pipe closed early, SIGTERM during an export,
file names at the 255-byte limit, unreadable photos and out-of-range search options."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photoscribe.core.library import captions as caps
from photoscribe.core.library import photos as ops
from photoscribe.core.library.database import Library
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from tests.helpers import make_photos, new_library

pytestmark = pytest.mark.slow  # runs the photoscribe command in subprocesses

EXE = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
NOT_UTF8 = b"caf\xe9"  # Latin-1 bytes, as an old drive or a script in another locale gives them


def run(
    *args: str | bytes, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    assert EXE
    return subprocess.run(
        [EXE, *args], capture_output=True, env={**os.environ, **(env or {})}, timeout=120, **kw
    )  # type: ignore[call-overload]


def no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in result.stderr and b"Error:" not in result.stderr, result.stderr.decode(
        "utf-8", "replace"
    )


@pytest.fixture
def model_file(tmp_path: Path, tiny_model: CaptionModel, tiny_vocab: Vocabulary) -> Path:
    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, tiny_vocab)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A library of two captioned photos: "a dog on the grass" and "café 📷"."""
    path = tmp_path / "lib.sqlite3"
    photos = make_photos(tmp_path / "photos", 2)
    with new_library(path) as library:
        library.add_folder_record(photos[0].parent)
        for photo, text in zip(photos, ["a dog on the grass", "café 📷"], strict=True):
            info = library.upsert_photo(photo, photo.stat().st_size, photo.stat().st_mtime)
            library.set_user_caption(info.id, text)
    return path


# --------------------------------------------------------------------------- item 9: argument bytes


def test_arguments_that_are_not_utf8_get_one_sentence(db: Path, tmp_path: Path) -> None:
    bad_folder = os.fsencode(tmp_path) + b"/" + NOT_UTF8
    os.mkdir(bad_folder)
    photo = str(tmp_path / "photos" / "photo00.jpg")
    cases = {
        "set-caption TEXT": ["set-caption", photo, b"a " + NOT_UTF8],
        "add FOLDER": ["add", bad_folder],
        "remove FOLDER": ["remove", bad_folder],
        "similar PHOTO": ["similar", bad_folder + b"/x.jpg"],
        "search QUERY": ["search", NOT_UTF8],
        "keywords --add": ["keywords", photo, "--add", NOT_UTF8],
        "export --folder": ["export", "--format", "csv", "--folder", bad_folder],
    }
    for case, args in cases.items():
        result = run("library", "--db", str(db), *args)
        assert result.returncode == 2, (case, result.stderr)
        no_traceback(result)
        assert b"not valid UTF-8" in result.stderr or b"bytes that are not UTF-8" in result.stderr, case
        assert b"caf\\xe9" in result.stderr, (case, result.stderr)  # the bytes shown, escaped
    with Library.open(db) as library:
        assert library.best_caption(photo).text == "a dog on the grass"  # nothing was stored


def test_an_output_file_named_with_other_bytes_is_written(db: Path, tmp_path: Path) -> None:
    out = os.fsencode(tmp_path) + b"/" + NOT_UTF8 + b".csv"
    result = run("library", "--db", str(db), "export", "--format", "csv", "--out", out)
    assert result.returncode == 0, result.stderr
    no_traceback(result)
    assert b"caf\xe9.csv" in result.stdout  # printed as its own bytes, as `ls` does
    assert "a dog on the grass" in Path(os.fsdecode(out)).read_text("utf-8-sig")


def test_caption_takes_a_path_with_other_bytes(tmp_path: Path, model_file: Path) -> None:
    photo = make_photos(tmp_path / "in", 1)[0]
    odd = os.fsencode(tmp_path / "in") + b"/" + NOT_UTF8 + b".jpg"
    os.rename(photo, odd)
    result = run("caption", odd, "--model", str(model_file), "--json", "--workers", "0")
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)["results"]
    assert bytes.fromhex(item["path_bytes_hex"]) == odd


# --------------------------------------------------------------------------- item 9: output encoding


def test_json_is_valid_on_an_ascii_stdout(db: Path, tmp_path: Path, model_file: Path) -> None:
    ascii_env = {"PYTHONIOENCODING": "ascii"}
    search = run("library", "--db", str(db), "search", "café", "--json", env=ascii_env)
    assert search.returncode == 0, search.stderr
    assert search.stdout.isascii()
    assert [hit["caption"] for hit in json.loads(search.stdout)] == ["café 📷"]

    folder = tmp_path / "in"
    make_photos(folder, 1)[0].rename(folder / "été 📷.jpg")
    os.rename(make_photos(tmp_path / "more", 1)[0], os.fsencode(folder) + b"/" + NOT_UTF8 + b".jpg")
    caption = run(
        "caption", str(folder), "--model", str(model_file), "--json", "--workers", "0", env=ascii_env
    )
    assert caption.returncode == 0, caption.stderr
    assert caption.stdout.isascii()
    results = json.loads(caption.stdout)["results"]
    assert sorted(Path(r["path"]).name for r in results) == ["caf\ufffd.jpg", "été 📷.jpg"]

    text = run("library", "--db", str(db), "search", "café", env=ascii_env)  # people's text: escapes
    assert text.returncode == 0 and b"[caf\\xe9] \\U0001f4f7" in text.stdout


# --------------------------------------------------------------------------- item 9: closed pipes


@pytest.mark.parametrize("command", ["caption", "search"])
def test_a_closed_pipe_ends_quietly(command: str, db: Path, tmp_path: Path, model_file: Path) -> None:
    """`photoscribe ... --json | head -c1`: the reader is gone before the output is written."""
    assert EXE
    if command == "caption":
        args = ["caption", str(tmp_path / "photos"), "--model", str(model_file), "--json", "--workers", "0"]
    else:
        args = ["library", "--db", str(db), "search", "", "--json"]
    proc = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `head` does once it has its byte
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as `yes | head` in a shell
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr
    assert b"Exception ignored" not in stderr


# --------------------------------------------------------------------------- item 11: SIGTERM, long names


def _big_library(path: Path, n: int) -> None:
    photos = path.parent / "many"
    photos.mkdir()
    with new_library(path) as library, library.transaction() as session:
        ops.add_folder_record(session, photos)
        for i in range(n):
            file = photos / f"p{i:05d}.jpg"
            file.write_bytes(b"\xff\xd8\xff")
            photo = ops.upsert_photo(session, file, 3, 0.0)
            caps.set_user_caption(session, photo.id, f"a dog number {i}")


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_sigterm_during_an_xmp_export_says_so_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    assert EXE
    db = tmp_path / "lib.sqlite3"
    _big_library(db, 1500)
    out = tmp_path / "xmp"
    proc = subprocess.Popen(
        [EXE, "library", "--db", str(db), "export", "--format", "xmp", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.is_dir() and len(os.listdir(out)) >= 20):
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    written = len(list(out.glob("*.xmp")))
    assert 0 < written < 1500, "the export was not stopped midway"
    assert proc.returncode == 143, stderr
    assert b"cancelled" in stderr and b"Traceback" not in stderr, stderr
    assert _temps(out) == []


def test_sigterm_during_caption_stops_it_and_its_workers(tmp_path: Path, model_file: Path) -> None:
    assert EXE
    folder = tmp_path / "in"
    first = make_photos(folder, 1)[0]
    for i in range(300):
        shutil.copy(first, folder / f"copy{i:03d}.jpg")
    proc = subprocess.Popen(
        [EXE, "caption", str(folder), "--model", str(model_file), "--batch-size", "1", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first_line = proc.stdout.readline()  # captioning has begun, decode worker and all
    proc.send_signal(signal.SIGTERM)
    rest, stderr = proc.communicate(timeout=60)
    captioned = (first_line + rest).count(b".jpg\t")
    assert 0 < captioned < 301, "it was not stopped midway"
    assert proc.returncode == 143, stderr
    assert b"cancelled" in stderr and b"Traceback" not in stderr, stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the worker goes with it, not left behind
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a process of the stopped caption run is still running")


def test_temporary_files_left_by_a_killed_export_are_removed_at_the_next(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "xmp"
    out.mkdir()
    old = time.time() - 3600 * 2
    dead = out / ".photoscribe-999999999-0badf00d.tmp"  # no such process
    legacy = out / ".photo00.jpg.xmp.abcd_123.tmp"  # the name earlier versions used
    fresh = out / f".photoscribe-{os.getpid()}-00c0ffee.tmp"  # a live writer's, this very second
    for file in (dead, legacy, fresh):
        file.write_bytes(b"<x:xmpmeta")
    for file in (dead, legacy):
        os.utime(file, (old, old))
    result = run("library", "--db", str(db), "export", "--format", "xmp", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(_temps(out)) == [fresh.name]


def test_a_name_at_the_byte_limit_gets_its_sidecar_and_overlays(tmp_path: Path, model_file: Path) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    name = "é" * 123 + ".jpg"  # 250 bytes: its sidecar name.jpg.xmp is 254, under the limit of 255
    photo = make_photos(tmp_path / "src", 1)[0].rename(folder / name)
    assert len(os.fsencode(photo.name)) == 250
    db = tmp_path / "lib.sqlite3"
    with new_library(db) as library:
        library.add_folder_record(folder)
        info = library.upsert_photo(photo, photo.stat().st_size, photo.stat().st_mtime)
        library.set_user_caption(info.id, "a long name")
    result = run("library", "--db", str(db), "export", "--format", "xmp")
    assert result.returncode == 0, result.stderr
    sidecar = folder / (name + ".xmp")
    assert "a long name" in sidecar.read_text("utf-8")
    assert _temps(folder) == []

    att = tmp_path / "att"
    overlays = run(
        "caption", str(photo), "--model", str(model_file), "--attention-out", str(att), "--workers", "0"
    )
    assert overlays.returncode == 0, overlays.stderr
    names = [os.fsencode(p.name) for p in att.iterdir()]
    assert names and all(len(n) <= 255 and n.endswith(b".png") for n in names)


def test_attention_overlays_into_a_folder_that_cannot_be_written(tmp_path: Path, model_file: Path) -> None:
    photo = make_photos(tmp_path / "in", 1)[0]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("caption", str(photo), "--model", str(model_file), "--attention-out", str(blocker / "att"))
    assert result.returncode == 2, result.stderr
    no_traceback(result)
    assert b"cannot write the attention overlays" in result.stderr


# --------------------------------------------------------------------------- item 10: failures said


def _without_root_privilege(args: list[str | bytes]) -> list[str | bytes]:
    """``args`` run so that file modes apply: root reads any file unless it drops its DAC capabilities."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: every file is readable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *args]


def test_an_unreadable_photo_is_a_failure_not_a_silent_skip(tmp_path: Path, model_file: Path) -> None:
    assert EXE
    photos = make_photos(tmp_path / "photos", 2)
    os.chmod(photos[1], 0o000)

    def run_unprivileged(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = _without_root_privilege([EXE, *args])
        return subprocess.run(command, capture_output=True, timeout=120)

    caption = run_unprivileged(
        "caption", str(tmp_path / "photos"), "--model", str(model_file), "--workers", "0"
    )
    assert caption.returncode == 1, caption.stderr
    assert b"1 of 2 files failed" in caption.stderr and b"photo01.jpg" in caption.stderr
    assert caption.stdout.count(b"photo00.jpg") == 1

    db = str(tmp_path / "lib.sqlite3")
    for args in (["add", str(tmp_path / "photos")], ["scan"]):
        scan = run_unprivileged("library", "--db", db, *args)
        assert scan.returncode == 1, scan.stderr
        no_traceback(scan)
        assert b"failed: " + os.fsencode(photos[1]) in scan.stderr
        assert b"1 file could not be read" in scan.stderr


# --------------------------------------------------------------------------- item 13: search options


def test_search_options_are_bounded_and_a_typed_star_is_a_prefix(db: Path) -> None:
    for option, value in (("--limit", "-1"), ("--limit", "0"), ("--offset", "-5")):
        result = run("library", "--db", str(db), "search", "dog", option, value)
        assert result.returncode == 2 and b"must be at least" in result.stderr, (option, result.stderr)
    star = run("library", "--db", str(db), "search", "d*", "--json", "--mode", "fts")
    assert star.returncode == 0, star.stderr
    assert [hit["caption"] for hit in json.loads(star.stdout)] == ["a dog on the grass"]

"""File ▸ Write descriptions into photo files: asks first, writes real JPEGs, exiftool reads them back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QThreadPool
from sample_library import draw_photo, register_photo

from photoscribe.core.library import Library
from photoscribe.core.progress import Progress
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.workers import JobRunner
from photoscribe.desktop.write_metadata import WriteMetadataDialog

MakeWindow = Callable[..., MainWindow]
CAPTIONS = {
    "harbour": "a blue boat moored in the harbour",
    "meadow": "a small dog running across a green meadow",
    "snow": "a white cabin in deep snow",
}
PERSONS_WORDS = "Grandma's 80th birthday at the lake house"


def _exiftool() -> str:
    found = shutil.which("exiftool") or ("/usr/bin/exiftool" if Path("/usr/bin/exiftool").is_file() else None)
    if found is None:
        pytest.fail("exiftool is not installed (Debian/Ubuntu: apt-get install -y libimage-exiftool-perl)")
    return found


def read_tags(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            _exiftool(),
            "-j",
            "-charset",
            "UTF8",
            "-XMP-iptcCore:AltTextAccessibility",
            "-XMP-dc:Description",
            "-IPTC:Caption-Abstract",
            "-EXIF:ImageDescription",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout.decode("utf-8"))[0])


@dataclass
class Photos:
    library: Library
    root: Path
    paths: dict[str, Path]  # stem -> file

    def snapshot(self) -> dict[str, bytes]:
        return {stem: path.read_bytes() for stem, path in self.paths.items()}


@pytest.fixture
def photos(library: Library, tmp_path: Path) -> Photos:
    """Three real JPEGs with reviewed captions; "snow" already carries a person's description."""
    root = tmp_path / "Photos"
    folder = library.add_folder_record(root)
    paths = {}
    for stem, colour in (("harbour", (30, 100, 200)), ("meadow", (130, 200, 80)), ("snow", (235, 240, 250))):
        paths[stem] = draw_photo(root / f"{stem}.jpg", colour, "circle", size=(64, 48))
    subprocess.run(
        [
            _exiftool(),
            "-q",
            "-overwrite_original",
            f"-XMP-dc:Description={PERSONS_WORDS}",
            f"-IPTC:Caption-Abstract={PERSONS_WORDS}",
            str(paths["snow"]),
        ],
        check=True,
        timeout=60,
    )
    for stem, path in paths.items():
        photo_id = register_photo(library, folder, path)
        library.set_user_caption(photo_id, CAPTIONS[stem])
    return Photos(library, root, paths)


def open_dialog(window: MainWindow) -> WriteMetadataDialog:
    assert window.write_metadata_action.isEnabled()
    window.write_metadata_action.trigger()
    dialog = window.dialogs.opened[-1]
    assert isinstance(dialog, WriteMetadataDialog) and dialog.isVisible()
    return dialog


def test_confirmed_write_puts_the_alt_text_into_the_files_in_the_background(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    pool = QThreadPool()
    window = make_window(photos.library, runner=JobRunner(pool))
    qtbot.waitUntil(lambda: window.photos.rowCount() == 3, timeout=5000)
    dialog = open_dialog(window)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=5000)
    # Says what will happen before anything is written; Enter would not write.
    assert dialog.target_label.text() == "Write descriptions into the files of all 3 photos of the library?"
    assert dialog.plan_label.text() == "3 photo files will be written."
    explained = dialog.explanation.text()
    for promise in ("AltTextAccessibility", "dc:description", "IPTC Keywords", "never replaced", "HEIC"):
        assert promise in explained
    assert dialog.cancel_button.isDefault() and not dialog.write_button.isDefault()
    assert not dialog.write_button.autoDefault()
    assert dialog.accessibleName() and dialog.accessibleDescription()

    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert dialog.running  # the window's thread goes on; the job runs on the pool
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=20_000)
    assert pool.waitForDone(5000)
    assert (dialog.summary.written, dialog.summary.failed) == (3, ())
    for stem, path in photos.paths.items():
        assert read_tags(path)["AltTextAccessibility"] == CAPTIONS[stem]
    assert dialog.result_view.toPlainText().startswith("Wrote into 3 photo files.")
    assert dialog.cancel_button.text() == "Close"


def test_declining_writes_nothing(qtbot: Any, make_window: MakeWindow, photos: Photos) -> None:
    window = make_window(photos.library)
    before = photos.snapshot()
    dialog = open_dialog(window)
    qtbot.keyClick(dialog, Qt.Key.Key_Return)  # the default button: Cancel
    assert not dialog.isVisible()
    dialog = open_dialog(window)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert photos.snapshot() == before
    assert sorted(p.name for p in photos.root.iterdir()) == ["harbour.jpg", "meadow.jpg", "snow.jpg"]


def test_a_persons_description_in_the_file_is_kept_and_the_summary_names_the_photo(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    window = make_window(photos.library)
    dialog = open_dialog(window)
    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert dialog.summary is not None
    snow = read_tags(photos.paths["snow"])
    assert snow["Description"] == snow["Caption-Abstract"] == PERSONS_WORDS
    assert snow["AltTextAccessibility"] == CAPTIONS["snow"]  # the empty alt text was ours to fill
    assert [Path(path).name for path, _ in dialog.summary.kept] == ["snow.jpg"]
    text = dialog.result_view.toPlainText()
    kept = text.split("Kept a person's text in 1 photo", 1)[1]
    assert "snow.jpg" in kept and "harbour.jpg" not in kept
    assert read_tags(photos.paths["harbour"])["Description"] == CAPTIONS["harbour"]


def test_the_selection_from_the_context_menu_is_all_that_is_written(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    window = make_window(photos.library)
    window.show()
    qtbot.waitExposed(window)
    before = photos.snapshot()
    row = next(r for r in range(3) if window.photos.photo_row(r).name == "meadow.jpg")
    window._grid_menu(window.grid.visualRect(window.photos.index(row, 0)).center())
    assert window.grid_menu is not None and window.write_metadata_action in window.grid_menu.actions()
    window.grid_menu.close()
    dialog = open_dialog(window)
    assert dialog.target_label.text() == "Write descriptions into the files of the 1 selected photo?"
    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert read_tags(photos.paths["meadow"])["AltTextAccessibility"] == CAPTIONS["meadow"]
    after = photos.snapshot()
    assert after["harbour"] == before["harbour"] and after["snow"] == before["snow"]
    assert after["meadow"] != before["meadow"]


def test_without_a_selection_the_current_search_is_written(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    window = make_window(photos.library)
    before = photos.snapshot()
    window.search.setText("dog")
    qtbot.waitUntil(lambda: window.photos.query.text == "dog" and window.photos.rowCount() == 1, timeout=3000)
    assert window.grid.selected_photo_ids() == []
    dialog = open_dialog(window)
    assert dialog.target_label.text() == "Write descriptions into the files of the 1 photo of this search?"
    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    after = photos.snapshot()
    assert [stem for stem in after if after[stem] != before[stem]] == ["meadow"]


def test_unreviewed_captions_need_the_checkbox_and_a_heic_photo_is_skipped_with_its_reason(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    heic = photos.root / "phone.heic"
    heic.write_bytes(b"a HEIC photo exiv2 cannot write")
    folder = photos.library.list_folders()[0]
    heic_id = photos.library.upsert_photo(
        heic, heic.stat().st_size, heic.stat().st_mtime, folder_id=folder.id
    ).id
    photos.library.set_user_caption(heic_id, "a phone photo")
    unreviewed = draw_photo(photos.root / "kite.jpg", (200, 60, 60), "triangle", size=(64, 48))
    kite_id = register_photo(photos.library, folder, unreviewed)
    assert photos.library.add_model_caption(kite_id, "sat-test", "a red kite in the sky", -1.0)
    kite_before = unreviewed.read_bytes()
    window = make_window(photos.library)
    dialog = open_dialog(window)
    assert dialog.plan_label.text() == (
        "3 photo files will be written. 1 photo without a reviewed caption will not be touched. "
        "1 photo in a format that cannot be written will be skipped: phone.heic."
    )
    dialog.unreviewed_check.setChecked(True)
    assert dialog.plan is not None and dialog.plan.to_write == 4
    assert dialog.write_button.text() == "&Write into 4 files"
    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert read_tags(unreviewed)["AltTextAccessibility"] == "a red kite in the sky"
    assert unreviewed.read_bytes() != kite_before
    text = dialog.result_view.toPlainText()
    assert "Skipped 1 photo in a format that cannot be written:\n  phone.heic" in text
    assert "Could not write" not in text
    assert dialog.plan_label.text() == "Done."  # a skipped format is not a failure
    assert heic.read_bytes() == b"a HEIC photo exiv2 cannot write"


def test_cancel_stops_after_the_current_photo_and_every_file_is_old_or_new(
    qtbot: Any, make_window: MakeWindow, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(photos.library)
    before = photos.snapshot()
    dialog = open_dialog(window)
    seen = dialog._on_progress

    def cancel_after_first(job: Any, p: Progress) -> None:
        seen(job, p)
        if p.done == 1:
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)

    monkeypatch.setattr(dialog, "_on_progress", cancel_after_first)
    qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert dialog.summary is not None and dialog.summary.cancelled
    assert dialog.isVisible()  # stays open to say what was written
    assert dialog.result_view.toPlainText().startswith("Cancelled after 1 of 3 photos.")
    after = photos.snapshot()
    changed = [stem for stem in after if after[stem] != before[stem]]
    assert changed == ["harbour"]  # written in path order: the first is new, the rest untouched
    assert read_tags(photos.paths["harbour"])["AltTextAccessibility"] == CAPTIONS["harbour"]
    assert not [p for p in photos.root.iterdir() if p.suffix == ".tmp"]


def test_the_action_is_disabled_without_photos(make_window: MakeWindow, library: Library) -> None:
    window = make_window(library)
    assert not window.write_metadata_action.isEnabled()


def test_a_photo_in_a_read_only_folder_is_reported_with_what_to_do(
    qtbot: Any, make_window: MakeWindow, photos: Photos
) -> None:
    locked = photos.root / "locked"
    path = draw_photo(locked / "door.jpg", (90, 60, 30), "square", size=(64, 48))
    photo_id = register_photo(photos.library, photos.library.list_folders()[0], path)
    photos.library.set_user_caption(photo_id, "a wooden door")
    before = path.read_bytes()
    locked.chmod(0o555)
    immutable = False
    try:
        if os.access(locked, os.W_OK):  # root ignores modes; an immutable folder stops it too
            immutable = subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode == 0
            if not immutable:
                pytest.skip("cannot make a folder read-only here (root without chattr)")
        window = make_window(photos.library)
        dialog = open_dialog(window)
        qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        locked.chmod(0o755)
    assert path.read_bytes() == before
    assert dialog.plan_label.text() == "Done, with problems."
    text = dialog.result_view.toPlainText()
    assert text.startswith("Wrote into 3 photo files.")
    failed = text.split("Could not write 1 photo; each was left as it was:\n", 1)[1]
    assert failed.startswith(f"  door.jpg ({locked}): cannot write in the folder {locked}")
    assert "make it writable" in failed

"""ExportDialog: real exports of a small real library, checked by reading the files back."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from PIL import Image
from PySide6.QtCore import QRunnable, Qt, QThreadPool, QUrl
from PySide6.QtGui import QDesktopServices

from photoscribe.core.library import Library
from photoscribe.core.library.export_scope import ExportScope
from photoscribe.desktop.export_dialog import ExportDialog
from photoscribe.desktop.queries import FILTER_NEEDS_REVIEW, PhotoQuery, export_scope
from photoscribe.desktop.style import ERROR
from photoscribe.desktop.workers import JobRunner
from tests.helpers import new_library

MODEL = "sat-test"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CAPTIONS = {
    "beach.jpg": "a dog running on a sandy beach",
    "city.jpg": "=a tall building at night",  # a formula-looking caption: must be neutralised in CSV
}


class DeferredPool:
    """Holds jobs until :meth:`run_all`, so a test can click Cancel while a job is "running"."""

    def __init__(self) -> None:
        self.jobs: list[QRunnable] = []

    def start(self, job: QRunnable) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        while self.jobs:
            self.jobs.pop(0).run()

    def waitForDone(self, msecs: int = -1) -> bool:
        return not self.jobs


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "Photos"
    (folder / "2024").mkdir(parents=True)
    for name, colour in (("beach.jpg", "yellow"), ("city.jpg", "navy"), ("2024/blank.jpg", "white")):
        Image.new("RGB", (32, 24), colour).save(folder / name)
    return folder


@pytest.fixture
def library(tmp_path: Path, photos: Path) -> Iterator[Library]:
    lib = new_library(tmp_path / "lib.db")
    lib.add_folder_record(photos)
    ids = {}
    for path in sorted(photos.rglob("*.jpg")):
        stat = path.stat()
        ids[path.name] = lib.upsert_photo(path, stat.st_size, stat.st_mtime).id
    for name, text in CAPTIONS.items():
        assert lib.add_model_caption(ids[name], MODEL, text, -1.5)
    lib.mark_reviewed(ids["beach.jpg"])  # city.jpg stays unreviewed, blank.jpg uncaptioned
    yield lib
    lib.close()


@pytest.fixture
def pool() -> Iterator[QThreadPool]:
    pool = QThreadPool()
    yield pool
    assert pool.waitForDone(30_000)


@pytest.fixture
def dialog(qtbot, library: Library, pool: QThreadPool) -> ExportDialog:
    dlg = ExportDialog(None, library, runner=JobRunner(pool))
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.reviewed_check.isChecked()  # the default: only what a person wrote or approved
    dlg.reviewed_check.setChecked(False)  # these tests export the unreviewed city.jpg deliberately
    return dlg


def choose_format(dlg: ExportDialog, key: str) -> None:
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData(key))


def run_export(qtbot, dlg: ExportDialog) -> None:
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)


def alt_text(sidecar: Path) -> str | None:
    """AltTextAccessibility (x-default) read back with a plain XML parser."""
    root = ET.parse(sidecar).getroot()
    for prop in root.iter(f"{{{IPTC}}}AltTextAccessibility"):
        for li in prop.iter(f"{{{RDF}}}li"):
            if li.get(XML_LANG) == "x-default":
                return li.text
    return None


def test_csv_export(qtbot, dialog: ExportDialog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out" / "alt.csv"
    out.parent.mkdir()
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(out))
    run_export(qtbot, dialog)

    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {Path(r["path"]).name: r["alt_text"] for r in rows} == {
        "beach.jpg": CAPTIONS["beach.jpg"],
        "city.jpg": "'" + CAPTIONS["city.jpg"],
    }
    assert {Path(r["path"]).name: r["reviewed"] for r in rows} == {"beach.jpg": "true", "city.jpg": "false"}
    assert dialog.status_label.text() == "Wrote 2 captions to alt.csv, skipped 1 uncaptioned."
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum()

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    assert dialog.open_button.isVisible()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert [Path(u.toLocalFile()) for u in opened] == [out.parent]


def test_csv_reviewed_only(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    out = tmp_path / "reviewed.csv"
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(out))
    dialog.reviewed_check.setChecked(True)
    run_export(qtbot, dialog)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["path"]).name for r in rows] == ["beach.jpg"]
    assert "skipped 2 without a reviewed caption" in dialog.status_label.text()


def test_xmp_into_a_folder(qtbot, dialog: ExportDialog, tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "sidecars"
    choose_format(dialog, "xmp-folder")
    assert dialog.dest_edit.isEnabled() and dialog.browse_button.isEnabled()
    dialog.dest_edit.setText(str(out))
    run_export(qtbot, dialog)

    sidecars = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.xmp"))
    assert sidecars == ["beach.jpg.xmp", "city.jpg.xmp"]
    assert alt_text(out / "beach.jpg.xmp") == CAPTIONS["beach.jpg"]
    assert alt_text(out / "city.jpg.xmp") == CAPTIONS["city.jpg"]  # XMP is not a spreadsheet: verbatim
    assert not list(photos.rglob("*.xmp"))
    assert dialog.status_label.text() == "Wrote 2 sidecars, skipped 1 uncaptioned."


def test_xmp_next_to_the_photos(
    qtbot, dialog: ExportDialog, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    choose_format(dialog, "xmp-beside")
    assert not dialog.dest_edit.isEnabled() and not dialog.browse_button.isEnabled()
    assert dialog.export_button.isEnabled()
    run_export(qtbot, dialog)

    assert alt_text(photos / "beach.jpg.xmp") == CAPTIONS["beach.jpg"]
    assert alt_text(photos / "city.jpg.xmp") == CAPTIONS["city.jpg"]
    assert not (photos / "2024" / "blank.jpg.xmp").exists()
    assert dialog.status_label.text() == "Wrote 2 sidecars, skipped 1 uncaptioned."

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert [Path(u.toLocalFile()) for u in opened] == [photos]


def test_xmp_keeps_a_persons_description_and_names_new_sidecars_as_chosen(
    qtbot, dialog: ExportDialog, photos: Path
) -> None:
    choose_format(dialog, "csv")
    assert dialog.sidecar_combo.isHidden()
    choose_format(dialog, "xmp-beside")
    assert not dialog.sidecar_combo.isHidden()
    dialog.sidecar_combo.setCurrentIndex(dialog.sidecar_combo.findData("photo.xmp"))
    run_export(qtbot, dialog)
    assert alt_text(photos / "beach.xmp") == CAPTIONS["beach.jpg"]
    assert not (photos / "beach.jpg.xmp").exists()

    sidecar = photos / "city.xmp"
    ours = sidecar.read_text(encoding="utf-8")
    ns = {"rdf": RDF, "dc": "http://purl.org/dc/elements/1.1/"}
    root = ET.fromstring(ours.split("?>", 1)[1].rsplit("<?", 1)[0])
    [li] = root.iterfind(".//dc:description/rdf:Alt/rdf:li", ns)
    sidecar.write_text(
        ours.replace(f">{escape(li.text or '')}<", ">Our street at night<", 1), encoding="utf-8"
    )
    dialog.sidecar_combo.setCurrentIndex(dialog.sidecar_combo.findData("photo.jpg.xmp"))
    run_export(qtbot, dialog)
    assert "Our street at night" in sidecar.read_text(encoding="utf-8")
    assert not (photos / "city.jpg.xmp").exists()  # the existing city.xmp was merged into
    assert dialog.status_label.text() == (
        "Wrote 2 sidecars, skipped 1 uncaptioned.\n"
        "Kept your description in 1 sidecar (photoscribe never replaces a person's text):\n"
        "  city.xmp"
    )


def test_switching_format_keeps_the_destination_name(dialog: ExportDialog, tmp_path: Path) -> None:
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(tmp_path / "captions.csv"))
    choose_format(dialog, "html")
    assert dialog.dest_edit.text() == str(tmp_path / "captions.html")
    choose_format(dialog, "xmp-folder")
    assert dialog.dest_edit.text() == str(tmp_path / "captions")
    choose_format(dialog, "xmp-beside")
    assert dialog.dest_edit.text() == ""
    choose_format(dialog, "json")
    assert dialog.dest_edit.text() == str(tmp_path / "captions.json")
    dialog.dest_edit.clear()
    assert not dialog.export_button.isEnabled()


def test_cancel_leaves_no_file(qtbot, library: Library, tmp_path: Path) -> None:
    pool = DeferredPool()
    dlg = ExportDialog(None, library, runner=JobRunner(pool))
    qtbot.addWidget(dlg)
    out = tmp_path / "cancelled.json"
    choose_format(dlg, "json")
    dlg.dest_edit.setText(str(out))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert dlg.running and dlg.cancel_button.isEnabled() and not dlg.export_button.isEnabled()
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    pool.run_all()
    qtbot.waitUntil(lambda: not dlg.running, timeout=5_000)
    assert dlg.status_label.text() == "Export cancelled. Nothing was written."
    assert not out.exists()
    assert dlg.export_button.isEnabled() and not dlg.open_button.isVisible()


def test_failure_is_shown_in_the_dialog(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(blocker / "alt.csv"))  # parent is a file: cannot be written
    run_export(qtbot, dialog)
    assert dialog.status_label.text().startswith("Export failed:")
    assert dialog.status_label.property("tone") == ERROR
    assert dialog.export_button.isEnabled()


def test_an_existing_file_is_replaced_only_after_asking_and_a_photo_never(
    qtbot, dialog: ExportDialog, tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    out = tmp_path / "notes.csv"
    out.write_text("my notes")
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)  # asked: No
    assert asked and "already exists" in asked[0] and out.read_text() == "my notes"
    run_export(qtbot, dialog)  # asked: Yes
    assert out.read_text(encoding="utf-8-sig").startswith("path,alt_text")
    photo = next(photos.glob("*.jpg"))
    before = photo.read_bytes()
    choose_format(dialog, "html")
    dialog.dest_edit.setText(str(photo))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    run_export(qtbot, dialog)
    assert photo.read_bytes() == before  # a photo is never overwritten, even when the user says yes
    assert "photo" in dialog.status_label.text()


def test_a_new_format_clears_the_last_result_and_the_default_folder_follows_photoscribe_home(
    qtbot, dialog: ExportDialog, tmp_path: Path
) -> None:
    import os

    assert Path(dialog.dest_edit.text()).is_relative_to(Path(os.environ["PHOTOSCRIBE_HOME"]))
    out = tmp_path / "alt.csv"
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(out))
    run_export(qtbot, dialog)
    assert dialog.status_label.text().startswith("Wrote 2 captions")
    choose_format(dialog, "json")
    assert dialog.status_label.text() == "" and not dialog.open_button.isVisible()
    dialog.dest_edit.setText(str(tmp_path / "alt.json"))
    dialog.export()
    assert dialog.progress_bar.format() != "Done"  # while the new export runs
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)


def test_low_confidence_captions_are_left_out_unless_the_box_is_checked(
    qtbot, dialog: ExportDialog, library: Library, photos: Path, tmp_path: Path
) -> None:
    blank = library.get_photo(photos / "2024" / "blank.jpg")
    assert library.add_model_caption(blank.id, MODEL, "a polar bear in a snowstorm", -2.0, confidence=0.1)
    assert not dialog.low_confidence_check.isChecked()  # off by default
    assert dialog.low_confidence_check.accessibleName() == "Also export low-confidence captions"
    out = tmp_path / "alt.csv"
    choose_format(dialog, "csv")
    dialog.dest_edit.setText(str(out))
    run_export(qtbot, dialog)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        assert [Path(r["path"]).name for r in csv.DictReader(fh)] == ["beach.jpg", "city.jpg"]
    status = dialog.status_label.text()
    assert '1 low-confidence caption left out; "Include low-confidence captions" exports them' in status

    assert dialog.low_confidence_check.isEnabled()
    dialog.low_confidence_check.setFocus()
    qtbot.keyClick(dialog.low_confidence_check, Qt.Key.Key_Space)
    assert dialog.low_confidence_check.isChecked()
    out = tmp_path / "all.csv"  # a new file: no overwrite question
    dialog.dest_edit.setText(str(out))
    run_export(qtbot, dialog)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(Path(r["path"]).name for r in rows) == ["beach.jpg", "blank.jpg", "city.jpg"]
    assert "low-confidence" not in dialog.status_label.text()


def _exported(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sorted(Path(row["path"]).name for row in csv.DictReader(fh))


def _scoped(qtbot, library: Library, pool: QThreadPool, scope: ExportScope) -> ExportDialog:
    dlg = ExportDialog(None, library, runner=JobRunner(pool), scope=scope)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    return dlg


def test_selection_is_exported_and_said_first(
    qtbot, library: Library, pool: QThreadPool, tmp_path: Path
) -> None:
    ids = {Path(p.path).name: p.id for p in library.list_photos()}
    dlg = _scoped(qtbot, library, pool, export_scope(PhotoQuery(), [ids["city.jpg"], ids["blank.jpg"]]))
    assert dlg.scope_label.text() == "Export 2 selected photos"
    out = tmp_path / "sel.csv"
    choose_format(dlg, "csv")
    dlg.dest_edit.setText(str(out))
    run_export(qtbot, dlg)  # reviewed-only by default: city.jpg is a model's unreviewed caption
    assert _exported(out) == []
    assert dlg.status_label.text().startswith("Wrote 0 captions to sel.csv, skipped 2")
    dlg.reviewed_check.setChecked(False)
    dlg.dest_edit.setText(str(tmp_path / "all.csv"))
    run_export(qtbot, dlg)
    assert _exported(tmp_path / "all.csv") == ["city.jpg"]  # not beach.jpg: it was not selected


def test_current_search_and_view_are_the_scope(
    qtbot, library: Library, pool: QThreadPool, tmp_path: Path, photos: Path
) -> None:
    dlg = _scoped(qtbot, library, pool, export_scope(PhotoQuery(text="dogs")))
    assert dlg.scope_label.text() == "Export the 1 photo of this search"
    out = tmp_path / "q.csv"
    choose_format(dlg, "csv")
    dlg.dest_edit.setText(str(out))
    run_export(qtbot, dlg)
    assert _exported(out) == ["beach.jpg"]
    folder = library.list_folders()[0].id
    view = _scoped(qtbot, library, pool, export_scope(PhotoQuery(folder=folder)))
    assert view.scope_label.text() == "Export the 3 photos of this folder"
    review = _scoped(qtbot, library, pool, export_scope(PhotoQuery(filter=FILTER_NEEDS_REVIEW)))
    assert review.scope_label.text() == "Export the 1 photo of this view"
    whole = _scoped(qtbot, library, pool, export_scope(PhotoQuery()))
    assert whole.scope_label.text() == "Export all 3 photos of the library"

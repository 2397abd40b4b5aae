"""Typed settings: one declaration per key, and a damaged settings file never breaks the start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from photoscribe.desktop import settings as options
from photoscribe.desktop.queries import SORT_NAME_DESC
from tests.helpers import new_library


def _store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "photoscribe.ini"), QSettings.Format.IniFormat)


def test_every_setting_has_its_own_key() -> None:
    keys = [s.key for s in options.ALL]
    assert len(keys) == len(set(keys))


def test_values_round_trip_through_an_ini_file_with_their_types(tmp_path: Path) -> None:
    store = _store(tmp_path)
    options.THUMBNAIL_SIZE.write(store, 200)
    options.SHOW_SIDEBAR.write(store, False)
    options.SORT.write(store, SORT_NAME_DESC)
    options.DEVICE.write(store, "cpu")
    options.WINDOW_GEOMETRY.write(store, QByteArray(b"\x01\x02geometry"))
    store.sync()
    again = _store(tmp_path)  # INI files hand every value back as a string
    assert options.THUMBNAIL_SIZE.read(again) == 200
    assert options.SHOW_SIDEBAR.read(again) is False
    assert options.SORT.read(again) == SORT_NAME_DESC
    assert options.DEVICE.read(again) == "cpu"
    assert bytes(options.WINDOW_GEOMETRY.read(again)) == b"\x01\x02geometry"


def test_unset_values_read_as_their_defaults(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for setting in options.ALL:
        assert setting.read(store) == setting.default, setting.key


def test_a_hand_edited_file_with_wrong_values_reads_as_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "photoscribe.ini").write_text(
        "[view]\nthumbnailSize=huge\nshowSidebar=perhaps\nsort=DROP TABLE\n"
        "[model]\nbeamSize=100000\n[retrain]\nepochs=-3\nbatch_size=1e9\n"
    )
    store = _store(tmp_path)
    bad: list[Any] = [
        options.THUMBNAIL_SIZE,
        options.SHOW_SIDEBAR,
        options.SORT,
        options.BEAM_SIZE,
        options.RETRAIN_EPOCHS,
        options.RETRAIN_BATCH_SIZE,
    ]
    for setting in bad:
        assert setting.read(store) == setting.default, setting.key


def test_the_window_opens_with_a_damaged_settings_file(qtbot: Any, tmp_path: Path) -> None:
    from photoscribe.desktop.main_window import MainWindow

    (tmp_path / "photoscribe.ini").write_text(
        "[window]\ngeometry=not bytes\n[view]\nthumbnailSize=12abc\nsort=nonsense\nshowDetail=maybe\n"
    )
    library = new_library(tmp_path / "library.sqlite")
    window = MainWindow(library, settings=_store(tmp_path))
    qtbot.addWidget(window)
    try:
        assert window.grid.thumbnail_size == options.THUMBNAIL_SIZE.default
        assert window.show_detail_action.isChecked()
        assert window.sort_combo.currentData() == options.SORT.default
    finally:
        window.close()
        library.close()

"""Typed settings: one declaration per key, and a damaged settings file never breaks the start-up."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QByteArray, QSettings
from sample_library import PHOTOS, Sample

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop import settings as options
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.grid import THUMB_SIZES
from photoscribe.desktop.main_window import MainWindow
from photoscribe.desktop.queries import SORT_NAME_DESC
from photoscribe.desktop.workers import JobRunner
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


# -- one home for every setting -------------------------------------------------------------------


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The user's own config folder (``~/.config``) moved to a temporary one, for platformdirs
    and for QSettings' native and INI places alike; Qt's paths are put back afterwards."""
    config = tmp_path / "user" / ".config"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user" / ".local" / "share"))
    formats = (QSettings.Format.NativeFormat, QSettings.Format.IniFormat)
    before = {
        f: Path(QSettings(f, QSettings.Scope.UserScope, "o", "a").fileName()).parent.parent for f in formats
    }
    for f in formats:
        QSettings.setPath(f, QSettings.Scope.UserScope, str(config))
    yield config
    for f, path in before.items():
        QSettings.setPath(f, QSettings.Scope.UserScope, str(path))


def _window(
    make_window: Callable[..., MainWindow], library: Library, runner: JobRunner, **services: Any
) -> MainWindow:
    """A window on the app's own settings store (none given), as ``photoscribe gui`` opens it."""
    kwargs = {"queue_factory": None, "watcher_factory": None, "meaning_factory": None, **services}
    return make_window(library, settings=None, services=BackgroundServices(library, runner, **kwargs))


def test_photoscribe_model_wins_over_the_model_chosen_in_the_app(
    qtbot: Any,
    make_window: Callable[..., MainWindow],
    sample: Sample,
    runner: JobRunner,
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's order (``--model``, ``$PHOTOSCRIBE_MODEL``, the model chosen in the app, the
    bundled one) holds in the app. Before, a model chosen in the app hid ``$PHOTOSCRIBE_MODEL``."""
    first = _window(make_window, sample.library, runner)
    first.captioning.import_model_from(
        str(save_checkpoint(tmp_path / "env.pt", tiny_model, tiny_vocab, {"name": "Env"}))
    )
    [from_env] = paths.models_dir().glob("env-*.pt")
    first.captioning.import_model_from(
        str(save_checkpoint(tmp_path / "chosen.pt", tiny_model, tiny_vocab, {"name": "C"}))
    )
    [chosen] = paths.models_dir().glob("chosen-*.pt")
    assert first.services.model.path == str(chosen) and paths.active_model_path() == chosen.resolve()
    first.save_settings()
    first.close()

    monkeypatch.setenv("PHOTOSCRIBE_MODEL", str(from_env))
    window = _window(
        make_window, sample.library, runner, queue_factory=CaptionQueue
    )  # the real caption queue
    captioned: list[int] = []
    window.services.captioned.connect(captioned.extend)
    window.start()
    qtbot.waitUntil(lambda: window.services.model.ready, timeout=30_000)
    assert window.services.model.path == str(from_env)
    model_id = window.services.model.name
    assert model_id.startswith("env-") and window.status.model_label.text() == f"Model: {model_id}"
    qtbot.waitUntil(lambda: len(captioned) == len(PHOTOS), timeout=30_000)
    assert {sample.library.best_caption(pid).source for pid in sample.ids.values()} == {model_id}  # type: ignore[union-attr]
    assert paths.saved_model_path() == chosen.resolve()  # the choice in the app is kept for later


def test_with_photoscribe_home_no_setting_is_written_to_the_users_config(
    make_window: Callable[..., MainWindow], library: Library, runner: JobRunner, user_config: Path
) -> None:
    """Before, window geometry, the last folder and the active model went to
    ``~/.config/photoscribe/photoscribe.conf`` whatever ``$PHOTOSCRIBE_HOME`` said."""
    home = Path(os.environ["PHOTOSCRIBE_HOME"])
    window = _window(make_window, library, runner)
    options.LAST_FOLDER.write(window.settings, "/photos")
    window.save_settings()
    window.close()
    assert not [p for p in user_config.parent.rglob("*") if p.is_file()]
    assert options.settings_file() == home / "config" / "photoscribe.conf"
    assert options.settings_file().is_file()


def test_a_setting_written_by_the_app_is_read_back_by_a_new_window(
    make_window: Callable[..., MainWindow], library: Library, runner: JobRunner
) -> None:
    window = _window(make_window, library, runner)
    window.grid.set_thumbnail_size(THUMB_SIZES[-1])
    window.sort_combo.setCurrentIndex(window.sort_combo.findData(SORT_NAME_DESC))
    window.save_settings()
    window.close()
    del window
    again = _window(make_window, library, runner)
    assert again.grid.thumbnail_size == THUMB_SIZES[-1] != options.THUMBNAIL_SIZE.default
    assert again.sort_combo.currentData() == SORT_NAME_DESC


def test_an_older_versions_active_model_moves_to_core_once(
    tiny_model: CaptionModel, tiny_vocab: Vocabulary, tmp_path: Path
) -> None:
    """``model/active`` in the settings file (on Linux the file older versions wrote) becomes
    core's active model, shared with the CLI, and leaves the file; it never overrides a later choice."""
    older = save_checkpoint(tmp_path / "older.pt", tiny_model, tiny_vocab)
    later = save_checkpoint(tmp_path / "later.pt", tiny_model, tiny_vocab, {"name": "later"})
    options.settings_file().parent.mkdir(parents=True)
    options.settings_file().write_text(f"[model]\nactive={older}\nbeamSize=5\n")

    store = options.open_store()
    assert not store.contains("model/active") and options.BEAM_SIZE.read(store) == 5
    assert paths.active_model_path() == older.resolve()
    assert "active=" not in options.settings_file().read_text()

    paths.set_active_model(later)
    options.settings_file().write_text(f"[model]\nactive={older}\n")  # the key again, from anywhere
    assert not options.open_store().contains("model/active")
    assert paths.active_model_path() == later.resolve()


def test_values_of_the_native_store_are_copied_to_the_settings_file_once(
    tiny_model: CaptionModel,
    tiny_vocab: Vocabulary,
    tmp_path: Path,
    user_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``$PHOTOSCRIBE_HOME``, the first start copies what older versions kept in the
    platform's native place (the registry, a plist; here a folder of its own) to the new file."""
    monkeypatch.delenv("PHOTOSCRIBE_HOME")
    native = tmp_path / "native"
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(native))
    model = save_checkpoint(tmp_path / "mine.pt", tiny_model, tiny_vocab)
    old = QSettings(options.ORGANISATION, options.APP_NAME)
    old.setValue("model/active", str(model))
    options.THUMBNAIL_SIZE.write(old, THUMB_SIZES[-1])
    options.WINDOW_GEOMETRY.write(old, QByteArray(b"\x00\x01geometry"))
    old.sync()

    store = options.open_store()
    assert (
        Path(store.fileName()) == user_config / "photoscribe" / "photoscribe.conf" == options.settings_file()
    )
    assert options.THUMBNAIL_SIZE.read(store) == THUMB_SIZES[-1]
    assert bytes(options.WINDOW_GEOMETRY.read(store)) == b"\x00\x01geometry"
    assert not store.contains("model/active")
    assert paths.active_model_path() == model.resolve()
    assert paths.config_dir() / "settings.json" == user_config / "photoscribe" / "settings.json"

    options.THUMBNAIL_SIZE.write(store, THUMB_SIZES[0])
    store.sync()
    assert options.THUMBNAIL_SIZE.read(options.open_store()) == THUMB_SIZES[0]  # copied once only


def test_the_active_model_chosen_before_settings_moved_to_the_config_folder_is_kept(
    tiny_model: CaptionModel, tiny_vocab: Vocabulary, tmp_path: Path
) -> None:
    model = save_checkpoint(tmp_path / "mine.pt", tiny_model, tiny_vocab)
    paths.data_dir().mkdir(parents=True)
    (paths.data_dir() / "settings.json").write_text(json.dumps({"active_model": str(model)}))
    assert paths.active_model_path() == model
    other = save_checkpoint(tmp_path / "other.pt", tiny_model, tiny_vocab, {"name": "other"})
    paths.set_active_model(other)  # written to the config folder, which is read from now on
    assert (paths.config_dir() / "settings.json").is_file()
    assert paths.active_model_path() == other.resolve()

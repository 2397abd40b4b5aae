"""Every persistent setting of the app, declared once with its key, type and default.

The window and the dialogs read and write settings only through these declarations, so a key is
spelled in one place, a value read back has the declared type, and a value that a hand-edited or
older settings file holds in the wrong type (``"abc"`` for a number, a number out of range, an
unknown choice) reads as the default instead of failing the start-up.

The values live in an INI file, ``photoscribe.conf`` in photoscribe's config folder
(:func:`photoscribe.core.paths.config_dir`, so under ``$PHOTOSCRIBE_HOME`` when it is set). The
active model is not one of them: ``core.paths`` owns it, for the app and the command line alike.

Usage::

    store = open_store()
    size = THUMBNAIL_SIZE.read(store)
    THUMBNAIL_SIZE.write(store, 200)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

from photoscribe.core import environment, paths
from photoscribe.core.choices import LITE0
from photoscribe.desktop.background import DEFAULT_BEAM, DEFAULT_DEVICE
from photoscribe.desktop.grid import DEFAULT_THUMB, THUMB_SIZES
from photoscribe.desktop.queries import BROWSE_SORTS, SORT_TAKEN

log = logging.getLogger(__name__)

ORGANISATION = "photoscribe"
APP_NAME = "photoscribe"
SETTINGS_FILENAME = "photoscribe.conf"  # on Linux the file QSettings' native format used before
# Where versions before the settings file kept the active model; moved to core.paths once.
LEGACY_ACTIVE_MODEL_KEY = "model/active"

T = TypeVar("T")


def settings_file() -> Path:
    """The app's settings file: ``photoscribe.conf`` in photoscribe's config folder."""
    return paths.config_dir() / SETTINGS_FILENAME


def open_store() -> QSettings:
    """The app's settings (:func:`settings_file`, an INI file).

    The first time, the values older versions kept in the platform's native place (the registry,
    a plist, ``~/.config/photoscribe/photoscribe.conf``) are copied over, unless
    ``$PHOTOSCRIBE_HOME`` keeps photoscribe away from the user's own settings; a model chosen
    there (``model/active``) becomes core's active model.
    """
    path = settings_file()
    fresh = not path.exists()
    store = QSettings(str(path), QSettings.Format.IniFormat)
    if fresh and environment.home_dir() is None:
        copy_values(QSettings(ORGANISATION, APP_NAME), store)
    move_active_model_to_core(store)
    return store


def copy_values(source: QSettings, target: QSettings) -> None:
    """Every value of ``source`` into ``target`` (written to its file at once)."""
    keys = source.allKeys()
    for key in keys:
        target.setValue(key, source.value(key))
    if keys:
        target.sync()
        log.info("settings copied from %s to %s", source.fileName(), target.fileName())


def move_active_model_to_core(store: QSettings) -> None:
    """Hand a ``model/active`` of an older version to core's active model (unless one is already
    chosen there) and remove it from ``store``, so the model is stored in one place."""
    if not store.contains(LEGACY_ACTIVE_MODEL_KEY):
        return
    chosen = store.value(LEGACY_ACTIVE_MODEL_KEY)
    try:
        if isinstance(chosen, str) and Path(chosen).is_file() and paths.saved_model_path() is None:
            paths.set_active_model(chosen)
    except OSError as exc:  # a full disk or read-only folder: try again next time
        log.warning("could not move the active model %r to core's settings: %s", chosen, exc)
        return
    store.remove(LEGACY_ACTIVE_MODEL_KEY)
    store.sync()


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: ``key`` in the store and the value used when it is unset or unreadable."""

    key: str
    default: T

    def read(self, store: QSettings) -> T:
        raw = store.value(self.key)
        if raw is None:
            return self.default
        value = self.parse(raw)
        return self.default if value is None else value

    def write(self, store: QSettings, value: T) -> None:
        store.setValue(self.key, value)

    def parse(self, raw: object) -> T | None:
        """The stored ``raw`` value as a ``T``, or None when it is not one."""
        raise NotImplementedError


@dataclass(frozen=True)
class BoolSetting(Setting[bool]):
    def parse(self, raw: object) -> bool | None:
        if isinstance(raw, bool):
            return raw
        # QSettings' INI and registry back-ends hand booleans back as the strings "true"/"false".
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        return None


@dataclass(frozen=True)
class IntSetting(Setting[int]):
    minimum: int = -(2**31)
    maximum: int = 2**31 - 1

    def parse(self, raw: object) -> int | None:
        try:
            value = int(str(raw).strip())
        except ValueError:
            return None
        return value if self.minimum <= value <= self.maximum else None


@dataclass(frozen=True)
class StrSetting(Setting[str]):
    def parse(self, raw: object) -> str | None:
        return raw if isinstance(raw, str) else None


@dataclass(frozen=True)
class ChoiceSetting(Setting[str]):
    choices: Sequence[str] = ()

    def parse(self, raw: object) -> str | None:
        return raw if isinstance(raw, str) and raw in self.choices else None


@dataclass(frozen=True)
class BytesSetting(Setting[QByteArray]):
    """Opaque state saved by Qt itself (window geometry, splitter sizes)."""

    def parse(self, raw: object) -> QByteArray | None:
        if isinstance(raw, QByteArray):
            return raw
        if isinstance(raw, bytes | bytearray):
            return QByteArray(bytes(raw))
        return None


# -- the main window ------------------------------------------------------------------------------

WINDOW_GEOMETRY = BytesSetting("window/geometry", QByteArray())
WINDOW_STATE = BytesSetting("window/state", QByteArray())
WINDOW_SPLITTER = BytesSetting("window/splitter", QByteArray())
THUMBNAIL_SIZE = IntSetting(
    "view/thumbnailSize", DEFAULT_THUMB, minimum=THUMB_SIZES[0], maximum=THUMB_SIZES[-1]
)
SHOW_SIDEBAR = BoolSetting("view/showSidebar", True)
SHOW_DETAIL = BoolSetting("view/showDetail", True)
SORT = ChoiceSetting("view/sort", SORT_TAKEN, choices=BROWSE_SORTS)
LAST_FOLDER = StrSetting("library/lastFolder", "")
THUMBNAIL_CACHE_MB = IntSetting("cache/thumbnailMegabytes", 1024, minimum=1, maximum=1024 * 1024)

# -- captioning (the model settings dialog) -------------------------------------------------------

DEVICE = StrSetting("model/device", DEFAULT_DEVICE)
BEAM_SIZE = IntSetting("model/beamSize", DEFAULT_BEAM, minimum=1, maximum=10)

# -- the retrain dialog ---------------------------------------------------------------------------

RETRAIN_DATA_DIR = StrSetting("retrain/data_dir", "")
RETRAIN_ENCODER = StrSetting("retrain/encoder", LITE0)
RETRAIN_EPOCHS = IntSetting("retrain/epochs", 10, minimum=1, maximum=500)
RETRAIN_BATCH_SIZE = IntSetting("retrain/batch_size", 32, minimum=1, maximum=1024)

ALL: tuple[Setting, ...] = (
    WINDOW_GEOMETRY,
    WINDOW_STATE,
    WINDOW_SPLITTER,
    THUMBNAIL_SIZE,
    SHOW_SIDEBAR,
    SHOW_DETAIL,
    SORT,
    LAST_FOLDER,
    THUMBNAIL_CACHE_MB,
    DEVICE,
    BEAM_SIZE,
    RETRAIN_DATA_DIR,
    RETRAIN_ENCODER,
    RETRAIN_EPOCHS,
    RETRAIN_BATCH_SIZE,
)

"""Per-user locations (platformdirs) and the active-model setting.

``$PHOTOSCRIBE_HOME`` puts everything (data, cache, logs, settings) under one folder, which
the demo and the tests use to stay out of the user's real library and settings.

Every setting lives in the config folder (:func:`config_dir`): ``settings.json`` holds the ones
the command line shares with the app (the active model, owned here), ``photoscribe.conf`` the
app's own (``desktop/settings.py``).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import tempfile
from pathlib import Path

import platformdirs

from photoscribe.core import environment

APP = "photoscribe"
HOME_ENV = environment.HOME
MODEL_ENV = environment.MODEL
BUNDLED_MODEL = "default.pt"
LIBRARY_ENV = environment.LIBRARY
LIBRARY_FILENAME = "library.sqlite3"


def _base(kind: str) -> Path:
    home = environment.home_dir()
    if home is not None:
        return home / kind
    getter = {
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "logs": platformdirs.user_log_dir,
        "config": platformdirs.user_config_dir,
    }[kind]
    return Path(getter(APP, appauthor=False))


def data_dir() -> Path:
    return _base("data")


def cache_dir() -> Path:
    return _base("cache")


def log_dir() -> Path:
    return _base("logs")


def config_dir() -> Path:
    """Where settings live: ``config/`` under ``$PHOTOSCRIBE_HOME``, else the platform's per-user
    config folder (``~/.config/photoscribe`` on Linux)."""
    return _base("config")


def models_dir() -> Path:
    return data_dir() / "models"


SETTINGS_FILENAME = "settings.json"
ACTIVE_MODEL_KEY = "active_model"


def _settings_file() -> Path:
    return config_dir() / SETTINGS_FILENAME


def read_settings() -> dict[str, object]:
    """The settings shared by the command line and the app (empty when there are none yet).

    Until the first setting is written to the config folder, the ``settings.json`` that older
    versions kept in the data folder is read, so nothing chosen there is lost.
    """
    path = _settings_file()
    if not path.exists():
        path = data_dir() / SETTINGS_FILENAME
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_setting(key: str, value: object) -> None:
    """Update one key of settings.json atomically."""
    settings = read_settings()
    settings[key] = value
    path = _settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(settings, fh, indent=2)
    os.replace(tmp, path)


def bundled_model_path() -> Path | None:
    """The default model shipped in the package (``photoscribe/resources/models/default.pt``), if present:
    Show, Attend and Tell on EfficientNet-Lite0, trained on Flickr8k and everyday photos (docs/model-card.md)."""
    path = Path(str(importlib.resources.files("photoscribe.resources") / "models" / BUNDLED_MODEL))
    return path if path.is_file() else None


def saved_model_path() -> Path | None:
    """The model last chosen in the app or the command line (:func:`set_active_model`), if that
    file still exists."""
    candidate = read_settings().get(ACTIVE_MODEL_KEY)
    if isinstance(candidate, str) and candidate and Path(candidate).is_file():
        return Path(candidate)
    return None


def chosen_model_path() -> Path | None:
    """The model the user chose: ``$PHOTOSCRIBE_MODEL``, else the one chosen in the app or the
    command line (:func:`saved_model_path`).

    Raises:
        EnvironmentVariableError: ``$PHOTOSCRIBE_MODEL`` is set but names no checkpoint file
            (it is never silently replaced by another model).
    """
    return environment.model_file() or saved_model_path()


def active_model_path() -> Path | None:
    """The model to caption with when no ``--model`` is given, for the app and the command line
    alike: ``$PHOTOSCRIBE_MODEL``, else the model chosen in the app or the command line, else the
    bundled default (README, "The model to caption with")."""
    return chosen_model_path() or bundled_model_path()


def set_active_model(path: str | os.PathLike[str]) -> None:
    """Remember ``path`` as the chosen model (``$PHOTOSCRIBE_MODEL``, when set, still comes first)."""
    write_setting(ACTIVE_MODEL_KEY, str(Path(path).resolve()))


def default_library_path() -> Path:
    """Where the library lives unless told otherwise.

    ``$PHOTOSCRIBE_LIBRARY`` first, else ``library.sqlite3`` in the data folder
    (:func:`data_dir`, which ``$PHOTOSCRIBE_HOME`` moves).
    """
    override = environment.library_file()
    if override is not None:
        return override
    return data_dir() / LIBRARY_FILENAME


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as valid UTF-8 text, for storing, JSON and screens: bytes of a file name that are
    not UTF-8 (kept by Python as lone surrogates) are shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", errors="replace")


# Characters that would change what a terminal shows: C0 controls (newlines, ESC), DEL, C1 controls,
# line/paragraph separators and the bidirectional overrides, embeddings, isolates and marks.
_UNPRINTABLE = frozenset(
    [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        *(0x061C, 0x200E, 0x200F, 0x2028, 0x2029),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        *range(0xDC80, 0xDCA0),  # a file name's raw bytes 0x80-0x9f (C1 in an 8-bit terminal)
    ]
)
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable_message(text: object) -> str:
    """An error message made safe to print, its line breaks kept as line breaks (not ``\\n``).

    Each line goes through :func:`printable`: tabs, ESC, other control characters and
    bidirectional overrides are still shown as escapes.
    """
    return "\n".join(printable(line) for line in str(text).split("\n"))


def printable(text: object) -> str:
    """``text`` (a path, caption, error) made safe to print as one line of a terminal.

    Newlines, tabs, ESC and every other control character (C0, DEL, C1), line separators and
    bidirectional overrides are shown as escapes (``\\n``, ``\\x1b``, ``\\u202e``), so a file name
    cannot split the output into false lines or columns and a caption cannot move the cursor,
    recolour the terminal or reverse what follows. Other text, and a file name's non-UTF-8 bytes
    (as ``ls`` shows them), are kept. JSON output needs none of this: it is escaped by ``json``.
    """
    value = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if not any(ord(c) in _UNPRINTABLE for c in value):
        return value
    out = []
    for c in value:
        code = ord(c)
        if code not in _UNPRINTABLE:
            out.append(c)
        elif c in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[c])
        elif 0xDC80 <= code < 0xDCA0:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)

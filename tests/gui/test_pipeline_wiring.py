"""The app and `photoscribe library watch` run one pipeline, built the same way."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from photoscribe.core import paths
from photoscribe.core.library import Library
from photoscribe.core.library.pipeline import LibraryPipeline
from photoscribe.core.library.watcher import WatchState, WatchStatus
from photoscribe.desktop.background import BackgroundServices
from photoscribe.desktop.cli.library import register
from photoscribe.desktop.workers import JobRunner

CALLBACKS = ("on_change", "on_status", "on_captioned", "on_broken")


def test_the_app_and_the_watch_command_build_the_same_pipeline(
    library: Library, runner: JobRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    built: list[LibraryPipeline] = []
    real_init = LibraryPipeline.__init__

    def recording_init(self: LibraryPipeline, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(LibraryPipeline, "__init__", recording_init)
    services = BackgroundServices(library, runner)
    assert built == [services.pipeline]

    # The command, in this process: no model (watching only), and a library that "goes away" once
    # the watcher started, so that the command ends on its own.
    folder = tmp_path / "Pictures"
    folder.mkdir()
    library.add_folder_record(folder)
    monkeypatch.setattr(paths, "active_model_path", lambda: None)
    real_start = LibraryPipeline.start_watcher

    def start_then_lose_the_library(self: LibraryPipeline) -> Any:
        watcher = real_start(self)
        assert self.on_status is not None
        self.on_status(WatchStatus(str(library.path), WatchState.LIBRARY_GONE, "gone (test)"))
        return watcher

    monkeypatch.setattr(LibraryPipeline, "start_watcher", start_then_lose_the_library)
    parser = argparse.ArgumentParser(prog="photoscribe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["library", "--db", str(library.path), "watch", "--no-scan"])
    assert args.func(args) == 1
    assert "gone (test)" in capsys.readouterr().err

    app, cli = built[0], built[-1]
    assert len(built) == 2 and type(app) is type(cli) is LibraryPipeline
    assert (app.watcher_factory, app.queue_factory) == (cli.watcher_factory, cli.queue_factory)
    for name in CALLBACKS:
        assert getattr(app, name) is not None and getattr(cli, name) is not None, name
    assert cli.watcher is None  # stopped
    services.shutdown()

"""``photoscribe library watch``: watch every folder and caption new photos as they arrive.

The command runs the same :class:`~photoscribe.core.library.pipeline.LibraryPipeline` as the app
(watcher -> caption queue), prints what it does, and stops within :data:`STOP_WITHIN_S` of Ctrl-C
or SIGTERM, whatever a worker is doing.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoscribe.core.errors import LibraryError
from photoscribe.core.paths import printable
from photoscribe.desktop.cli.signals import exit_now, interrupt_on_sigterm, signals_ignored

if TYPE_CHECKING:
    from photoscribe.core.captioning.captioner import Captioner
    from photoscribe.core.library.database import Library
    from photoscribe.core.library.pipeline import LibraryPipeline
    from photoscribe.core.library.watcher import WatchStatus

STOP_WITHIN_S = 1.0  # `watch` ends this soon after Ctrl-C or SIGTERM, whatever a worker is doing


def add_watch_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``watch`` subcommand to the ``library`` group."""
    from photoscribe.core.captioning.decode_limits import batch_size_limit
    from photoscribe.desktop.cli.caption import add_model_options, bounded_int
    from photoscribe.desktop.cli.library import guarded

    parser = commands.add_parser(
        "watch",
        parents=[common],
        help="watch every folder and caption new photos as they arrive (Ctrl-C stops)",
    )
    add_model_options(parser)
    parser.add_argument(
        "--batch-size", type=bounded_int(*batch_size_limit()), default=16, help="photos per captioning batch"
    )
    parser.add_argument("--no-scan", dest="scan", action="store_false", help="skip the catch-up rescan")
    parser.set_defaults(func=guarded(_watch))


def _watch(args: argparse.Namespace) -> int:
    with interrupt_on_sigterm():  # SIGTERM stops the watch as Ctrl-C does, at any stage
        return _watch_until_stopped(args)


def _watch_until_stopped(args: argparse.Namespace) -> int:
    from photoscribe.core.library.watcher import WatchState
    from photoscribe.desktop.cli.library import _print_scan, open_library

    with open_library(args) as library:
        folders = library.list_folders()
        if not folders:
            print("no folders yet; add one with `photoscribe library add FOLDER`", file=sys.stderr)
            return 1
        stop = threading.Event()
        library_gone: list[WatchStatus] = []

        def status_changed(status: WatchStatus) -> None:  # a watch lost, re-armed or polled
            if status.state is WatchState.LIBRARY_GONE:
                library_gone.append(status)
                stop.set()
            else:
                print(f"{status.state.value}: {printable(status.describe())}", flush=True)

        pipeline = build_pipeline(library, args, status_changed)
        if args.scan:  # catch up with what changed while nobody was watching
            _print_scan(pipeline.catch_up())
        captioner = _optional_captioner(args)
        stopped_in_time, interrupted = True, False
        try:
            pipeline.start_watcher()
            for folder in folders:
                try:
                    pipeline.watch(folder.path, absent_ok=True)  # a drive plugged in later
                except LibraryError as exc:
                    print(f"not watching {printable(folder.path)}: {printable(exc)}", file=sys.stderr)
            if captioner is not None:
                pipeline.start_captioning(captioner)
            watcher = pipeline.watcher
            print(f"watching {len(watcher.roots) if watcher else 0} folders; Ctrl-C stops", flush=True)
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM
            interrupted = True
        finally:
            with signals_ignored():  # a second Ctrl-C must not cut the stopping short
                stopped_in_time = pipeline.stop(within_s=STOP_WITHIN_S * 0.6)
                if stopped_in_time and captioner is not None:
                    captioner.close()  # its decode processes end now, not at the interpreter's exit
    code = 0
    if library_gone:
        print(f"error: {printable(library_gone[0].describe())}", file=sys.stderr)
        code = 1
    else:
        print("stopped", flush=True)
    if interrupted or not stopped_in_time:
        exit_now(code)
    return code


def build_pipeline(
    library: Library, args: argparse.Namespace, on_status: Callable[[WatchStatus], None] | None = None
) -> LibraryPipeline:
    """The pipeline ``watch`` runs: the app's, with its callbacks printing what happens."""
    from photoscribe.core.library.pipeline import LibraryPipeline

    return LibraryPipeline(
        library,
        batch_size=args.batch_size,
        on_change=lambda summary: print(summary.describe(), flush=True),
        on_status=on_status,
        on_captioned=lambda ids: print(f"captioned {len(ids)} photos", flush=True),
        on_broken=lambda message: print(
            f"photoscribe: error: {printable(message)}", file=sys.stderr, flush=True
        ),
    )


def _optional_captioner(args: argparse.Namespace) -> Captioner | None:
    """The model to caption with, or ``None`` (with a note) when there is none."""
    from photoscribe.core.paths import active_model_path
    from photoscribe.desktop.cli.caption import captioner_from_args

    model = args.model or active_model_path()
    if model is None:
        print("no captioning model: watching only (pass --model CKPT to caption new photos)", flush=True)
        return None
    print(f"captioning new photos with {printable(Path(model).name)} ({printable(model)})", flush=True)
    return captioner_from_args(args, batch_size=args.batch_size)

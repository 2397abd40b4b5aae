"""The ``photoscribe`` command: every job the app does, headless.

This package is the command line: the top-level parser, the exit-code policy and the ``gui`` and
``demo`` commands here, ``caption`` and ``model`` in :mod:`.caption`, ``library`` in
:mod:`.library`. The data, train and evaluate commands are registered from
:mod:`photoscribe.training.cli`, which ``python -m photoscribe.training`` (the ``torchrun``
entry point) runs without this layer. Commands import what they run when they run, so
``--help`` and the library commands never load torch; Qt is imported only by ``gui``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from photoscribe.core.environment import check_environment
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.paths import printable, printable_message
from photoscribe.core.version import __version__
from photoscribe.desktop.cli import caption as caption_cli
from photoscribe.desktop.cli import doctor as doctor_cli
from photoscribe.desktop.cli import install_desktop, io
from photoscribe.desktop.cli import library as library_cli
from photoscribe.desktop.cli.display import require_display
from photoscribe.training import cli as training_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoscribe",
        description="Caption, search and export alt text for your photo library.",
        epilog="Exit codes: 0 done; 1 the command ran but something failed (a photo could not be "
        "read or captioned, an export was refused); 2 the command could not run (bad arguments, a model that "
        "cannot be loaded); 3 another run is already captioning the library; 4 the disk is full (free "
        "some space and run again); 130 interrupted (Ctrl-C); 141 the output was closed early (a pipe "
        "into head); 143 stopped by SIGTERM. Interrupted or stopped, a command says so, removes its "
        "temporary files and keeps what it finished.",
    )
    parser.add_argument("--version", action="version", version=f"photoscribe {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    model_commands = caption_cli.register(sub)
    library_cli.register(sub)
    training_cli.register(sub)
    training_cli.register_model(model_commands)
    doctor_cli.register(sub)
    install_desktop.register(sub)
    gui = sub.add_parser("gui", help="open the desktop app (the default when no command is given)")
    gui.add_argument("--db", type=Path, metavar="PATH", help="library database file (default: the usual one)")
    gui.add_argument("--model", type=Path, metavar="CKPT", help="caption with this checkpoint")
    gui.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders to add to the library and a photo to show",
    )
    gui.set_defaults(func=cmd_gui)
    demo = sub.add_parser(
        "demo",
        help="open a demo library of 18 real photos captioned by the bundled model (offline, no training)",
    )
    demo.add_argument(
        "--headless", action="store_true", help="print a few searches instead of opening the app"
    )
    demo.add_argument(
        "--model", type=Path, metavar="CKPT", help="caption with this model instead of the active one"
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from photoscribe.core.cli_progress import ProgressBars
    from photoscribe.core.demo import demo_searches, prepare_demo

    if not args.headless:
        require_display()  # before captioning the demo photos, not after
    with ProgressBars("demo", unit="photo") as on_progress:
        result = prepare_demo(model=args.model, on_progress=on_progress)
    print(
        f"demo library: {result.library_path}\nphotos:       {result.photos_dir}\nmodel:        {result.model_path}"
    )
    if args.headless:
        for query, hits in demo_searches(result.library_path):
            print(f"\nsearch {query!r}:")
            for rank, hit in enumerate(hits, 1):
                print(f"  {rank}. {hit}")
        return 0
    from photoscribe.desktop.app import run_app

    return run_app(result.library_path, result.model_path, argv=sys.argv[:1])


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop app. Qt is imported here only, so every other command stays headless."""
    require_display()
    from photoscribe.desktop.app import run_app

    paths = getattr(args, "paths", None) or ()
    return run_app(
        getattr(args, "db", None), getattr(args, "model", None), argv=sys.argv[:1], open_paths=paths
    )


def app_main() -> int:
    """The ``photoscribe-app`` launcher (a gui-script): ``photoscribe gui`` with the same arguments."""
    return main(["gui", *sys.argv[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    # torch's OpenMP threads sleep between operations instead of spinning (read when torch loads, which
    # is later): on a machine busy with other programs, spinning threads made a caption 2-5x slower
    # (docs/benchmarks.md, "First caption"). OMP_WAIT_POLICY=ACTIVE in the environment keeps spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Never a traceback for printing, from the first line on (argparse's own errors included).
    io.configure_streams()
    try:  # before the parser, whose help texts name the default paths these variables move
        check_environment()  # a bad PHOTOSCRIBE_* value is an error naming it, never ignored
    except PhotoscribeError as exc:
        print(f"photoscribe: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    parser = build_parser()
    args = parser.parse_args(argv)
    io.reject_undecodable(parser, args)  # text and library names must be UTF-8; paths may hold any bytes
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        args.func = cmd_gui  # no command: open the app (`photoscribe --help` still prints help)
    # The app handles its own signals inside Qt's event loop: SIGTERM ends it as before.
    headless = args.func is not cmd_gui and not (args.func is cmd_demo and not args.headless)
    return io.run_command(lambda: _run(args), handle_sigterm=headless)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except PhotoscribeError as exc:
        print(f"photoscribe: error: {printable_message(exc)}", file=sys.stderr)
        return exc.exit_code
    except UnicodeEncodeError as exc:
        if not any(io.undecodable(arg) for arg in sys.argv[1:]) or "surrogates" not in str(exc):
            raise
        # The last line of defence for a command that has no check of its own yet.
        logging.getLogger(__name__).debug("undecodable argument", exc_info=True)
        print(
            "photoscribe: error: a name on the command line is not valid UTF-8 and cannot be stored "
            "or looked up in the library; rename the file or type the text again in a UTF-8 terminal",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())

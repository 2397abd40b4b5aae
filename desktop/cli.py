"""The ``photoscribe`` command: every job the app does, headless.

This is the top of the layer stack (like the app itself), so it may gather
commands from ``core`` and ``training``; Qt is imported only by the ``gui``
command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from photoscribe.core import cli as core_cli
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.library import cli as library_cli
from photoscribe.training import cli as training_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoscribe",
        description="Caption, search and export alt text for your photo library.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    core_cli.register(sub)
    library_cli.register(sub)
    training_cli.register(sub)
    gui = sub.add_parser("gui", help="open the desktop app (the default when no command is given)")
    gui.add_argument("--db", type=Path, metavar="PATH", help="library database file (default: the usual one)")
    gui.add_argument("--model", type=Path, metavar="CKPT", help="caption with this checkpoint")
    gui.set_defaults(func=cmd_gui)
    demo = sub.add_parser(
        "demo",
        help="offline demo: train a small model on synthetic photos, caption a demo library, open the app",
    )
    demo.add_argument(
        "--headless", action="store_true", help="print a few searches instead of opening the app"
    )
    demo.add_argument(
        "--model", type=Path, metavar="CKPT", help="use this model instead of training the demo one"
    )
    demo.add_argument("--epochs", type=int, default=20, help="demo training epochs (default 20)")
    demo.set_defaults(func=cmd_demo)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from photoscribe.training.demo import DemoSettings, demo_searches, prepare_demo

    bars = DemoProgress()
    try:
        result = prepare_demo(DemoSettings(epochs=args.epochs), model=args.model, on_progress=bars)
    finally:
        bars.close()
    how = "trained on synthetic shapes" if result.trained else "existing"
    print(
        f"demo library: {result.library_path}\nphotos:       {result.photos_dir}\nmodel:        {result.model_path} ({how})"
    )
    if args.headless:
        for query, hits in demo_searches(result.library_path):
            print(f"\nsearch {query!r}:")
            for rank, hit in enumerate(hits, 1):
                print(f"  {rank}. {hit}")
        return 0
    from photoscribe.desktop.app import run_app

    return run_app(result.library_path, result.model_path, argv=sys.argv[:1])


class DemoProgress:
    """One tqdm bar per stage of the demo (synthesis, training epochs and batches, scanning, captioning)."""

    LABELS: ClassVar[dict[str, str]] = {
        "synth": "making photos",
        "extract": "features",
        "train": "training",
        "validate": "validating",
        "scan": "scanning",
        "caption": "captioning",
    }

    def __init__(self) -> None:
        from tqdm import tqdm

        self.tqdm = tqdm
        self.bar = None
        self.key: tuple[str, int | None] | None = None

    def __call__(self, progress) -> None:
        if progress.stage == "epoch":
            extra = progress.extra
            self.tqdm.write(
                f"epoch {progress.done}/{progress.total}: loss {extra.get('train_loss', 0):.3f}, "
                f"BLEU-4 {extra.get('BLEU-4', 0):.3f}, CIDEr {extra.get('CIDEr', 0):.3f} | {progress.message}"
            )
            return
        key = (progress.stage, progress.total)
        if key != self.key:
            self.close()
            label = self.LABELS.get(progress.stage, progress.stage)
            if progress.stage == "train" and progress.message:
                label = f"training {progress.message}"
            self.bar = self.tqdm(desc=label, total=progress.total, leave=False, dynamic_ncols=True)
            self.key = key
        self.bar.update(progress.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop app. Qt is imported here only, so every other command stays headless."""
    from photoscribe.desktop.app import run_app

    return run_app(getattr(args, "db", None), getattr(args, "model", None), argv=sys.argv[:1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        args.func = cmd_gui  # no command: open the app (`photoscribe --help` still prints help)
    try:
        return int(args.func(args) or 0)
    except PhotoscribeError as exc:
        print(f"photoscribe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photoscribe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``python -m photoscribe.training train ...``: the training commands alone (the ``torchrun`` entry point)."""

from __future__ import annotations

import argparse
import logging
import sys

from photoscribe.training.cli import register


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m photoscribe.training")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the standalone bundle (scripts/build_bundle.sh): the ``photoscribe`` command."""

import multiprocessing
import sys

from photoscribe.desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # caption's image-decoding worker processes re-enter here
    sys.exit(main())

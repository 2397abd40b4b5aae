"""``python -m photoscribe``: the ``photoscribe`` command without its launcher script."""

import sys

from photoscribe.desktop.cli import main

sys.exit(main())

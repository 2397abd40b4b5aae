"""photoscribe: caption, search and export alt text for your photo library.

This is the top-level package ``photoscribe`` (pyproject.toml maps it to this folder, so the
repository keeps core/, desktop/, training/ and resources/ at its top). It imports nothing heavy.
"""

from photoscribe.core.version import __version__

__all__ = ["__version__"]

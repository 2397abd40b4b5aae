"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from photoscribe.core.library import Library
from tests.helpers import new_library


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    """A fresh library database file in the test's temp folder."""
    lib = new_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()

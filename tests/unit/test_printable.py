"""core.paths.printable: one line of a terminal, whatever a file name or caption holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photoscribe.core.paths import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain café 📷 name.jpg", "plain café 📷 name.jpg"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("\x7f\x85\x9b", "\\x7f\\x85\\x9b"),
        ("\u202egpj.exe\u2066\u200f", "\\u202egpj.exe\\u2066\\u200f"),
        ("line\u2028sep", "line\\u2028sep"),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert len(printable(raw).splitlines()) <= 1


def test_printable_keeps_a_file_names_other_bytes_and_takes_paths_and_errors() -> None:
    latin1 = os.fsdecode(b"l_\xe9\x9b.jpg")  # not UTF-8: lone surrogates
    assert printable(latin1) == os.fsdecode(b"l_\xe9") + "\\x9b.jpg"
    assert printable(Path("/tmp/a\nb.jpg")) == "/tmp/a\\nb.jpg"
    assert printable(OSError("cannot read /x/\x1b[31m")) == "cannot read /x/\\x1b[31m"

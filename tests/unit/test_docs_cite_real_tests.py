"""Every test that docs/reliability.md cites as proof exists, so the document cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[[^\]`]*\])?`")


def cited_tests(text: str) -> list[tuple[str, str | None]]:
    """``(file, test name or None)`` for each citation; a bare ``::name`` belongs to the file before it."""
    found: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        current: str | None = None
        for match in CITATION.finditer(line):
            path, name = match.group(1), match.group(2)
            if path is None and name is None:
                continue
            current = path or current
            if current is None:
                raise AssertionError(f"a bare ::{name} with no file before it: {line[:120]}")
            found.append((current, name))
    return found


def test_every_cited_test_file_and_function_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    citations = cited_tests(text)
    assert len(citations) > 100
    missing = []
    for path, name in citations:
        source = ROOT / path
        if not source.is_file():
            missing.append(path)
        elif name is not None and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/reliability.md cites tests that do not exist: {sorted(set(missing))}"


def test_a_bare_name_belongs_to_the_file_cited_before_it() -> None:
    line = "| x | y | `tests/unit/a.py::test_one`, `::test_two`, `tests/gui/b.py` |"
    assert cited_tests(line) == [
        ("tests/unit/a.py", "test_one"),
        ("tests/unit/a.py", "test_two"),
        ("tests/gui/b.py", None),
    ]

"""The house style's room sizes: no module over 600 lines, no function over 80 without a reason.

A function may be longer when the line above its ``def`` (or above its first decorator) says why,
as ``# long: <reason>``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "desktop", "training")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
REASON = "# long:"


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _has_reason(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    above = lines[first - 2].strip() if first >= 2 else ""
    return above.startswith(REASON) and len(above) > len(REASON)


def oversized(path: Path, root: Path = ROOT) -> list[str]:
    """Each room in ``path`` over its size, as ``file:line name (N lines)``, the file named from ``root``."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    where = path.relative_to(root).as_posix()
    found = []
    if len(lines) > MAX_MODULE_LINES:
        found.append(f"{where} ({len(lines)} lines, over {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text, filename=where)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not _has_reason(lines, node):
                found.append(f"{where}:{node.lineno} {node.name} ({length} lines, over {MAX_FUNCTION_LINES})")
    return found


def test_the_size_check_finds_a_long_function_and_accepts_a_reason(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))  # 81 lines with the def
    source = tmp_path / "rooms.py"
    source.write_text(
        f"def plain():\n{body}\n\n# long: a table\n@staticmethod\ndef kept():\n{body}\n\n"
        f"#\ndef bare_mark():\n{body}\n\ndef short():\n    return 1\n",
        encoding="utf-8",
    )
    assert oversized(source, tmp_path) == [
        "rooms.py:1 plain (81 lines, over 80)",
        "rooms.py:170 bare_mark (81 lines, over 80)",
    ]
    source.write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    assert oversized(source, tmp_path) == ["rooms.py (601 lines, over 600)"]


def test_no_module_over_600_lines_and_no_function_over_80_without_a_reason() -> None:
    offenders = [room for path in _modules() for room in oversized(path)]
    assert not offenders, "rooms over the house style's sizes:\n" + "\n".join(offenders)

"""Render resources/photoscribe.svg to the PNG sizes desktops look for (resources/icons/photoscribe-N.png).

Run once after the SVG changes and commit the PNGs: ``photoscribe install-desktop`` copies them into the
user's icon theme without needing Qt. Usage: ``QT_QPA_PLATFORM=offscreen python scripts/render_icons.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from photoscribe.core.desktop_entry import ICON_SIZES

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "photoscribe.svg"
OUT = ROOT / "resources" / "icons"


def render(renderer: QSvgRenderer, size: int, target: Path) -> None:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"could not write {target}")


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG} is not a valid SVG")
    OUT.mkdir(exist_ok=True)
    for size in ICON_SIZES:
        target = OUT / f"photoscribe-{size}.png"
        render(renderer, size, target)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

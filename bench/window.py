"""Time from launching ``photoscribe gui`` to its window, and to a loaded captioning model.

Usage:
    python bench/window.py [--runs 3] [--photos 200]

Each run is a fresh process with ``QT_QPA_PLATFORM=offscreen`` (set it to ``xcb`` under Xvfb
to include a real X server). The app appends wall-clock times to the file named by
``PHOTOSCRIBE_STARTUP_PROBE`` when its window has been painted, when the grid shows its first
photos and when the model is ready, then quits. "First run" starts from an empty ``PHOTOSCRIBE_HOME`` (no library yet: the
welcome page); "restart" reopens a library of ``--photos`` captioned photos in a watched folder.
The model is the bundled default one. Target: the window in under 2 s on a restart, whatever
the model's loading time (the model loads in the background after the window is up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def _launch(exe: str, env: dict[str, str], probe: Path) -> tuple[float, float, float | None]:
    probe.unlink(missing_ok=True)
    start = time.time()
    subprocess.run(
        [exe, "gui"], env={**env, "PHOTOSCRIBE_STARTUP_PROBE": str(probe)}, timeout=300, check=True
    )
    events = {e["event"]: e for e in map(json.loads, probe.read_text().splitlines())}
    assert events["model"]["ready"], "the bundled model did not load"
    grid = events["grid"]["time"] - start if "grid" in events else None  # None: no photos before the model
    return events["window"]["time"] - start, events["model"]["time"] - start, grid


def _library(home: Path, photos: int) -> None:
    code = (
        "import sys; from pathlib import Path; from PIL import Image\n"
        "from photoscribe.core.library import Library\n"
        "from photoscribe.core.library.scanner import add_folder\n"
        "folder = Path(sys.argv[1]); folder.mkdir(parents=True)\n"
        "for i in range(int(sys.argv[2])): Image.new('RGB', (640, 480), (i % 256, 80, 120)).save(folder / f'p{i:04d}.jpg')\n"
        "with Library.open() as lib:\n"
        "    add_folder(lib, folder)\n"
        "    for p in sorted(folder.glob('*.jpg')): lib.set_user_caption(p, 'a photo of a wall')\n"
    )
    env = {**os.environ, "PHOTOSCRIBE_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code, str(home / "photos"), str(photos)], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe, "install photoscribe into this environment first"
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        first = []
        for run in range(args.runs):
            home = tmp / f"first-{run}"
            first.append(_launch(exe, {**base, "PHOTOSCRIBE_HOME": str(home)}, tmp / "probe"))
        rows.append(("first run (no library)", first))
        home = tmp / "restart"
        _library(home, args.photos)
        env = {**base, "PHOTOSCRIBE_HOME": str(home)}
        _launch(exe, env, tmp / "probe")  # the first open rescans and fills the thumbnail cache
        rows.append(
            (
                f"restart ({args.photos} captioned photos)",
                [_launch(exe, env, tmp / "probe") for _ in range(args.runs)],
            )
        )
    print(
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"- Date: {date.today().isoformat()}, Qt platform: {base['QT_QPA_PLATFORM']}")
    print(f"- Command: `python bench/window.py {' '.join(sys.argv[1:])}`\n")
    print(
        "| start | window shown, median (s) | worst (s) | grid's first photos, median (s) "
        "| model ready, median (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, times in rows:
        window = [w for w, _, _ in times]
        model = [m for _, m, _ in times]
        grid = [g for _, _, g in times if g is not None]
        shown = f"{statistics.median(grid):.2f}" if grid else "–"
        print(
            f"| {label} | {statistics.median(window):.2f} | {max(window):.2f} | {shown} "
            f"| {statistics.median(model):.2f} |"
        )


if __name__ == "__main__":
    main()

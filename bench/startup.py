"""Start-up time of the ``photoscribe`` commands, and of a first caption against importing torch.

Usage:
    python bench/startup.py [--runs 7] [--caption-runs 3] [--caption-only] [--out startup.json]
    OMP_NUM_THREADS=1 python bench/startup.py --caption-only   # torch's threads, for both commands

Each command runs ``--runs`` times as a fresh process (the console script of this
environment); the table gives the median and the worst wall time, and whether the
process imported torch (read from ``python -X importtime``). Target: under 1 s each,
and no torch. A library of 200 captioned photos is made first for the library commands.

The first caption: ``photoscribe caption one.jpg`` (a bundled demo photo, the default model,
a fresh process and an empty cache folder) against ``python -c "import torch"``, alternated in
the same run, ``--caption-runs`` times each (median). Target: the caption at most 1.5 s more
than importing torch, and neither torchvision nor ``torch._dynamo`` imported.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

COMMANDS = (
    ("--help",),
    ("library", "--help"),
    ("library", "status"),
    ("library", "search", "dog"),
    ("library", "export", "--format", "csv", "--out", "{tmp}/out.csv", "--force"),
    ("library", "set-caption", "{photo}", "a brown dog on the grass"),
    ("model", "info", "{tmp}/not-a-model.pt"),
)


def _library(tmp: Path) -> Path:
    """A library file with 200 photos and a caption each, written through the library API."""
    from photoscribe.core.library import Library

    db = tmp / "library.sqlite3"
    folder = tmp / "photos"
    folder.mkdir()
    with Library.open(db) as library:
        library.add_folder_record(folder)
    code = (
        "import sys; from pathlib import Path; from PIL import Image\n"
        "from photoscribe.core.library import Library\n"
        "from photoscribe.core.library.scanner import add_folder\n"
        "folder = Path(sys.argv[1])\n"
        "for i in range(200): Image.new('RGB', (32, 24), (i, 50, 100)).save(folder / f'p{i:03d}.jpg')\n"
        "with Library.open(sys.argv[2]) as lib:\n"
        "    add_folder(lib, folder)\n"
        "    for i, p in enumerate(sorted(folder.glob('*.jpg'))):\n"
        "        lib.set_user_caption(p, ['a dog on the grass', 'a red car'][i % 2])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), str(db)], check=True)
    return db


def _imports_torch(args: list[str], env: dict[str, str]) -> bool:
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", exe, *args], capture_output=True, text=True, env=env
    )
    return any(line.rstrip().endswith("| torch") for line in out.stderr.splitlines())


def _loaded(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules of interest a command imported (read from ``python -X importtime``)."""
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", exe, *args], capture_output=True, text=True, env=env
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    return names & {"torch", "torchvision", "torch._dynamo", "sqlalchemy"}


@dataclass
class FirstCaption:
    caption_runs_s: list[float]
    import_torch_runs_s: list[float]
    caption_cpu_s: list[float]  # user + system CPU time of each run: less sensitive to a busy machine
    import_torch_cpu_s: list[float]
    imports_torchvision: bool
    imports_torch_dynamo: bool

    @property
    def caption_s(self) -> float:
        return statistics.median(self.caption_runs_s)

    @property
    def import_torch_s(self) -> float:
        return statistics.median(self.import_torch_runs_s)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, user + system CPU) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_caption(runs: int) -> FirstCaption:
    """Wall times of ``photoscribe caption one.jpg`` and of ``python -c "import torch"``, alternated."""
    demo = Path(str(importlib.resources.files("photoscribe.resources") / "demo"))
    photo = sorted(demo.glob("*.jpg"))[0]
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    caption_times, torch_times, caption_cpu, torch_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shutil.copy(photo, tmp / "one.jpg")
        env = {**os.environ, "PHOTOSCRIBE_HOME": str(tmp / "home")}
        for _ in range(runs):  # alternated, so a busy moment on a shared machine hits both alike
            wall, cpu = _timed([sys.executable, "-c", "import torch"], env)
            torch_times.append(wall)
            torch_cpu.append(cpu)
            wall, cpu = _timed([exe, "caption", str(tmp / "one.jpg")], env)
            caption_times.append(wall)
            caption_cpu.append(cpu)
        loaded = _loaded(["caption", str(tmp / "one.jpg")], env)
    return FirstCaption(
        caption_times,
        torch_times,
        caption_cpu,
        torch_cpu,
        "torchvision" in loaded,
        "torch._dynamo" in loaded,
    )


def _load_average() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--caption-runs", type=int, default=3)
    parser.add_argument("--caption-only", action="store_true", help="only the first-caption measurement")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    exe = shutil.which("photoscribe", path=str(Path(sys.executable).parent))
    assert exe, "install photoscribe into this environment first"
    print(
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"- Date: {date.today().isoformat()}; load average before: {_load_average()}")
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if os.environ.get("OMP_NUM_THREADS") else ""
    print(f"- Command: `{threads}python bench/startup.py {' '.join(sys.argv[1:])}`\n")
    first = first_caption(args.caption_runs)
    print(f"| first caption (median of {args.caption_runs}) | wall (s) | runs (s) | CPU, median (s) |")
    print("| --- | ---: | --- | ---: |")
    for label, median, times, cpu in (
        (
            '`python -c "import torch"`',
            first.import_torch_s,
            first.import_torch_runs_s,
            first.import_torch_cpu_s,
        ),
        ("`photoscribe caption one.jpg`", first.caption_s, first.caption_runs_s, first.caption_cpu_s),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {label} | {median:.2f} | {runs} | {statistics.median(cpu):.2f} |")
    print(
        f"\ndifference {first.caption_s - first.import_torch_s:.2f} s (target at most 1.5 s); imports "
        f"torchvision: {'yes' if first.imports_torchvision else 'no'}, torch._dynamo: "
        f"{'yes' if first.imports_torch_dynamo else 'no'}; load average after: {_load_average()}\n"
    )
    if args.caption_only:
        if args.out:
            args.out.write_text(json.dumps({"first_caption": asdict(first)}, indent=2))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "PHOTOSCRIBE_HOME": str(tmp / "home"), "PHOTOSCRIBE_LIBRARY": str(_library(tmp))}
        (tmp / "not-a-model.pt").write_bytes(b"not a checkpoint")
        photo = str(sorted((tmp / "photos").glob("*.jpg"))[0])
        for command in COMMANDS:
            argv = [a.format(tmp=tmp, photo=photo) for a in command]
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                subprocess.run([exe, *argv], capture_output=True, env=env)
                times.append(time.perf_counter() - t0)
            label = " ".join(command).replace("{tmp}/", "").replace("{photo}", "PHOTO")
            rows.append(
                {
                    "command": f"photoscribe {label}",
                    "median_s": statistics.median(times),
                    "max_s": max(times),
                    "imports_torch": _imports_torch(argv, env),
                }
            )
    print("| command | median (s) | worst (s) | imports torch |")
    print("| --- | ---: | ---: | :---: |")
    for row in rows:
        torch_mark = "yes" if row["imports_torch"] else "no"
        print(f"| `{row['command']}` | {row['median_s']:.2f} | {row['max_s']:.2f} | {torch_mark} |")
    if args.out:
        args.out.write_text(json.dumps({"first_caption": asdict(first), "commands": rows}, indent=2))


if __name__ == "__main__":
    main()

"""Folder scan speed: a first scan of N files, then a rescan with nothing changed.

Usage: python bench/scan.py [--n 100000] [--templates 8] [--per-dir 1000] [--dir DIR] [--out results.json]

The tree is N hard links (copies where links are not possible) of a few small
JPEGs, ``--per-dir`` files per folder, so building it takes seconds; every file
has its own name but shares its content with N/templates others, so they are
also counted as duplicates. The first scan opens every file (sniff, SHA-256,
EXIF) and inserts it, in batches of 200 per transaction; the rescan only
stats the files and compares size and mtime with the library. A third scan
after changing 1% of the files (new mtime, same bytes) shows the cost of
re-hashing. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photoscribe.core.library.database import Library
from photoscribe.core.library.scanner import ScanReport, add_folder, scan_folder


def build_tree(root: Path, n: int, templates: int, per_dir: int) -> None:
    sources = []
    for i in range(templates):
        path = root / f"template{i}.jpg"
        pixels = np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=85)
        sources.append(path)
    photos = root / "photos"
    for i in range(n):
        folder = photos / f"{i // per_dir:04d}"
        if i % per_dir == 0:
            folder.mkdir(parents=True)
        target = folder / f"IMG_{i:07d}.jpg"
        try:
            os.link(sources[i % templates], target)
        except OSError:
            shutil.copyfile(sources[i % templates], target)


def touch_some(root: Path, fraction: float) -> int:
    """Rewrite a fraction of the files as their own copies with a new mtime (same bytes)."""
    files = sorted((root / "photos").rglob("*.jpg"))
    step = max(1, round(1 / fraction))
    later = time.time() + 60
    chosen = files[::step]
    for path in chosen:
        data = path.read_bytes()
        path.unlink()  # break the hard link, so that only this name changes
        path.write_bytes(data)
        os.utime(path, (later, later))
    return len(chosen)


def row(name: str, report: ScanReport) -> dict[str, object]:
    return {
        "scan": name,
        "files": report.files,
        "seconds": round(report.seconds, 2),
        "files_per_s": round(report.files / report.seconds) if report.seconds else None,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "duplicates": report.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="files to create (default 100,000)")
    parser.add_argument("--templates", type=int, default=8, help="distinct JPEGs linked N times")
    parser.add_argument("--per-dir", type=int, default=1000, help="files per folder")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="photoscribe-bench-scan-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        build_tree(work, args.n, args.templates, args.per_dir)
        print(f"built {args.n} files in {time.perf_counter() - start:.1f} s under {work}")
        rows = []
        with Library.open(work / "library.sqlite3") as library:
            _, first = add_folder(library, work / "photos")
            rows.append(row("first scan (new files: sniff, hash, EXIF, insert)", first))
            rescan = scan_folder(library, work / "photos")
            rows.append(row("rescan, nothing changed (stat only)", rescan))
            touched = touch_some(work, 0.01)
            partial = scan_folder(library, work / "photos")
            rows.append(row(f"rescan, {touched} files touched (re-hashed)", partial))
        db_mb = (work / "library.sqlite3").stat().st_size / 2**20
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)

    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    print(f"machine: {machine}; library file {db_mb:.0f} MiB")
    print("| scan | files | seconds | files/s |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['scan']} | {r['files']:,} | {r['seconds']} | {r['files_per_s']:,} |")
    if args.out:
        args.out.write_text(json.dumps({"n": args.n, "machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

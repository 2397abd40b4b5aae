"""Caption search latency: FTS5 through ``search()`` vs a ``LIKE '%word%'`` scan, on N captions.

Usage: python bench/search.py [--n 1000000] [--queries 200] [--dir DIR] [--out results.json]

Builds a library of N photos with one model caption each, generated from a
small word grammar ("a small brown dog running on the beach with a ball")
with Zipf-distributed nouns, so that some words are in a third of the
captions and others in a handful. The schema comes from the real migrations;
the rows are bulk-inserted with ``executemany`` in one transaction on the
library's own write connection, so the FTS5 triggers index every caption
exactly as the app does (no shortcut: it is the same index search() reads).

Then ``--queries`` queries (single common and rare words, two words, a
prefix being typed, a quoted phrase) run once to warm the page cache and
once timed, through :func:`photoscribe.core.library.search.search` (limit 50,
ranked by bm25, with best captions and snippets), and the same words as a
``LIKE '%word%'`` baseline over the captions table (``LIMIT 50``, unranked:
it may stop after the first 50 rows in table order, which flatters it for
common words), and the same LIKE counting every match (what ranking or a
result count needs). Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import text

from photoscribe.core.library.database import Library
from photoscribe.core.library.search import search

DETERMINERS = ["a", "the", "two", "three", "some", "an old", "a young", "a group of"]
ADJECTIVES = [
    "red",
    "blue",
    "green",
    "yellow",
    "black",
    "white",
    "brown",
    "grey",
    "orange",
    "pink",
    "purple",
    "small",
    "big",
    "tall",
    "little",
    "wet",
    "sandy",
    "snowy",
    "sunny",
    "shiny",
    "wooden",
    "old",
    "new",
    "striped",
    "spotted",
    "fluffy",
    "happy",
    "sleepy",
    "busy",
    "quiet",
]
NOUNS = [
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "girl",
    "boy",
    "bicycle",
    "car",
    "bus",
    "train",
    "horse",
    "bird",
    "boat",
    "surfer",
    "skier",
    "motorcycle",
    "truck",
    "kite",
    "umbrella",
    "bench",
    "tree",
    "flower",
    "table",
    "pizza",
    "sandwich",
    "cake",
    "laptop",
    "phone",
    "guitar",
    "ball",
    "frisbee",
    "skateboard",
    "surfboard",
    "elephant",
    "giraffe",
    "zebra",
    "cow",
    "sheep",
    "bear",
    "airplane",
    "lighthouse",
    "tractor",
    "balloon",
    "backpack",
    "clock",
    "vase",
    "teddy",
    "kitten",
    "puppy",
    "duck",
    "swan",
    "fox",
    "deer",
    "owl",
    "penguin",
    "camel",
    "lion",
    "tiger",
    "rabbit",
    "squirrel",
    "dolphin",
    "whale",
    "turtle",
    "parrot",
    "canoe",
    "kayak",
    "sailboat",
    "scooter",
    "tram",
    "ferry",
    "helicopter",
    "windmill",
    "castle",
    "bridge",
    "fountain",
    "statue",
    "tent",
    "lantern",
    "violin",
]
VERBS = [
    "sitting",
    "standing",
    "running",
    "walking",
    "riding",
    "playing",
    "jumping",
    "lying",
    "eating",
    "holding",
    "flying",
    "swimming",
    "looking",
    "waiting",
    "climbing",
    "sleeping",
    "parked",
    "resting",
    "crossing",
    "surfing",
    "skiing",
]
PLACES = [
    "beach",
    "street",
    "park",
    "field",
    "road",
    "river",
    "lake",
    "table",
    "grass",
    "snow",
    "sidewalk",
    "kitchen",
    "garden",
    "forest",
    "mountain",
    "city",
    "harbor",
    "bridge",
    "beach",
    "stadium",
    "market",
    "station",
    "airport",
    "desert",
    "meadow",
    "hill",
]
EXTRAS = ["with a ball", "with a hat", "at night", "at sunset", "in the rain", "near a fence", "", "", "", ""]


def caption_stream(n: int, seed: int = 0) -> Iterator[str]:
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, len(NOUNS) + 1) ** 1.1
    zipf /= zipf.sum()
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        det = rng.integers(0, len(DETERMINERS), m)
        adj = rng.integers(0, len(ADJECTIVES), m)
        noun = rng.choice(len(NOUNS), m, p=zipf)
        verb = rng.integers(0, len(VERBS), m)
        place = rng.integers(0, len(PLACES), m)
        extra = rng.integers(0, len(EXTRAS), m)
        prep = rng.integers(0, 3, m)
        for i in range(m):
            words = [DETERMINERS[det[i]], ADJECTIVES[adj[i]], NOUNS[noun[i]], VERBS[verb[i]]]
            words += [("on", "in", "near")[prep[i]], "the", PLACES[place[i]], EXTRAS[extra[i]]]
            yield " ".join(w for w in words if w)


def build(library: Library, n: int, chunk: int = 50_000) -> float:
    """Insert N photos and N model captions in one transaction; returns seconds."""
    start = time.perf_counter()
    captions = caption_stream(n)
    with library.transaction() as session:
        conn = session.connection()
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            photos = [
                (
                    i + 1,
                    f"/bench/photos/{i // 1000:04d}/IMG_{i:07d}.jpg",
                    f"IMG_{i:07d}.jpg",
                    1_000_000,
                    1.6e9 + i,
                )
                for i in range(lo, hi)
            ]
            conn.exec_driver_sql(
                "INSERT INTO photos (id, path, name, size, mtime, added_at, status) "
                "VALUES (?, ?, ?, ?, ?, '2026-11-23 00:00:00', 'captioned')",
                photos,
            )
            rows = [(i + 1, next(captions), -1.0 - (i % 97) / 10) for i in range(lo, hi)]
            conn.exec_driver_sql(
                "INSERT INTO captions (photo_id, text, source, is_user, score, alternatives, created_at, "
                "reviewed, language) VALUES (?, ?, 'bench-model', 0, ?, '[]', '2026-11-23 00:00:00', 0, 'en')",
                rows,
            )
            print(f"  {hi:,} captions, {time.perf_counter() - start:.0f} s", flush=True)
    with library.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO captions_fts(captions_fts) VALUES ('optimize')")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return time.perf_counter() - start


def make_queries(count: int, seed: int = 1) -> list[tuple[str, str, list[str]]]:
    """(kind, search-box text, LIKE patterns) triples."""
    rng = np.random.default_rng(seed)
    common, rare = NOUNS[:12], NOUNS[-30:]
    kinds: list[tuple[str, Callable[[], tuple[str, list[str]]]]] = [
        ("common word", lambda: (w := str(rng.choice(common) + " "), [w.strip()])),
        ("rare word", lambda: (w := str(rng.choice(rare) + " "), [w.strip()])),
        (
            "two words",
            lambda: (
                f"{(a := rng.choice(ADJECTIVES))} {(b := rng.choice(NOUNS[:40]))} ",
                [str(a), str(b)],
            ),
        ),
        ("prefix (typing)", lambda: ((w := str(rng.choice(NOUNS))[:4]), [w])),
        ("phrase", lambda: (f'"{(p := str(rng.choice(VERBS)) + " on the")}"', [p])),
    ]
    queries = []
    for i in range(count):
        kind, make = kinds[i % len(kinds)]
        query, patterns = make()
        queries.append((kind, query, patterns))
    return queries


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_queries(library: Library, queries: list[tuple[str, str, list[str]]]) -> dict[str, list[float]]:
    raw = sqlite3.connect(library.path)
    times: dict[str, list[float]] = {"fts": [], "like": [], "like_all": []}
    per_kind: dict[str, list[float]] = {}
    hits: list[int] = []
    for warm in (True, False):
        for kind, query, patterns in queries:
            start = time.perf_counter()
            result = search(library, query, limit=50)
            fts = time.perf_counter() - start
            where = " AND ".join("text LIKE ?" for _ in patterns)
            start = time.perf_counter()
            raw.execute(
                f"SELECT photo_id FROM captions WHERE {where} LIMIT 50", [f"%{p}%" for p in patterns]
            ).fetchall()
            like = time.perf_counter() - start
            start = time.perf_counter()
            raw.execute(
                f"SELECT count(*) FROM captions WHERE {where}", [f"%{p}%" for p in patterns]
            ).fetchall()
            like_all = time.perf_counter() - start
            if not warm:
                times["fts"].append(fts)
                times["like"].append(like)
                times["like_all"].append(like_all)
                per_kind.setdefault(kind, []).append(fts)
                hits.append(len(result))
    raw.close()
    times.update({f"fts/{k}": v for k, v in per_kind.items()})
    times["hits"] = [float(h) for h in hits]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="captions (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="photoscribe-bench-search-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        db = work / "library.sqlite3"
        with Library.open(db) as library:
            with library.session() as session:
                existing = session.scalar(text("SELECT count(*) FROM captions")) or 0
            if existing != args.n:
                if existing:
                    raise SystemExit(f"{db} holds {existing} captions, not {args.n}; use another --dir")
                print(f"building {args.n:,} captions in {db}")
                build_s = build(library, args.n)
                print(f"built in {build_s:.0f} s")
            else:
                build_s = float("nan")
            times = run_queries(library, make_queries(args.queries))
        db_mb = db.stat().st_size / 2**20
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)

    ms = {k: [v * 1000 for v in vals] for k, vals in times.items() if k != "hits"}
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    print(f"machine: {machine}; {args.n:,} captions, library file {db_mb:.0f} MiB, build {build_s:.0f} s")
    print(f"{args.queries} queries, mean {statistics.mean(times['hits']):.1f} hits returned (limit 50)")
    print("| method | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    methods = (
        ("fts", "FTS5 `search()` (bm25-ranked, limit 50, with snippets)"),
        ("like", "`LIKE '%word%'` (unranked, LIMIT 50)"),
        ("like_all", "`LIKE '%word%'` counting every match"),
    )
    for key, label in methods:
        vals = ms[key]
        print(f"| {label} | {percentile(vals, 50):.1f} | {percentile(vals, 99):.1f} | {max(vals):.1f} |")
    print()
    print("| FTS5 query kind | queries | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: |")
    for key, vals in ms.items():
        if key.startswith("fts/"):
            print(f"| {key[4:]} | {len(vals)} | {percentile(vals, 50):.1f} | {percentile(vals, 99):.1f} |")
    if args.out:
        summary = {
            k: {"p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99), "max_ms": max(v)}
            for k, v in ms.items()
        }
        args.out.write_text(
            json.dumps(
                {"n": args.n, "machine": machine, "build_s": build_s, "db_mib": db_mb, **summary}, indent=2
            )
        )


if __name__ == "__main__":
    main()

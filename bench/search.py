"""Caption search latency: FTS5 through ``search()`` vs a ``LIKE '%word%'`` scan, on N captions.

Usage: python bench/search.py [--n 1000000] [--queries 240] [--dir DIR] [--out results.json] [--meaning]

The library is built once and kept (default folder ``/tmp/photoscribe-bench-search-N``), so a
rerun only times the queries; ``--rebuild`` makes it again.

Builds a library of N photos with one model caption each, generated from a
small word grammar ("a small brown dog running on the beach with a ball")
with Zipf-distributed nouns, so that some words are in a third of the
captions and others in a handful. The schema comes from the real migrations;
the rows are bulk-inserted with ``executemany`` in one transaction on the
library's own write connection, so the FTS5 triggers index every caption
exactly as the app does (no shortcut: it is the same index search() reads).

The photos sit in 10 folders; every 100th caption is reviewed (so it is
indexed as a person's text, weighted 10 in bm25).

Then ``--queries`` queries (single common and rare words, two words, a
prefix being typed after 2-4 letters and after 1, a quoted phrase, a common
word inside one folder) run once to warm the page cache and once timed,
through :func:`photoscribe.core.library.search.search` (limit 50, ranked,
with best captions and snippets) and the grid's result count
(:func:`photoscribe.desktop.queries.count_rows`, what the window asks for on
every keystroke; it imports no Qt), and the same words as a
``LIKE '%word%'`` baseline over the captions table (``LIMIT 50``, unranked:
it may stop after the first 50 rows in table order, which flatters it for
common words), and the same LIKE counting every match (what ranking or a
result count needs). Prints Markdown tables for docs/benchmarks.md.

With ``--meaning``, part 2 follows at the same size: search by meaning (query embedding, exact and
HNSW nearest neighbours, fusion), by ``bench/search_meaning.py``; its figures are in docs/search.md.
"""

from __future__ import annotations

import argparse
import importlib
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
from typing import Any

import numpy as np
from common import optimize_bulk_load  # bench/ is on the path: run as python bench/search.py

from photoscribe.core.library.database import Library
from photoscribe.core.library.search import search
from photoscribe.desktop.queries import PhotoQuery, count_rows

# The module (the package exports its search() function under the same name).
search_module = importlib.import_module("photoscribe.core.library.search")

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


FOLDERS = 10


def build(library: Library, n: int, chunk: int = 50_000) -> float:
    """Insert N photos in FOLDERS folders and N model captions in one transaction; returns seconds."""
    start = time.perf_counter()
    captions = caption_stream(n)
    per_folder = -(-n // FOLDERS)
    with library.transaction() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "INSERT INTO folders (id, path, added_at, recursive) VALUES (?, ?, '2026-11-23 00:00:00', 1)",
            [(k + 1, f"/bench/photos/{k:02d}") for k in range(FOLDERS)],
        )
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            photos = [
                (
                    i + 1,
                    i // per_folder + 1,
                    f"/bench/photos/{i // per_folder:02d}/IMG_{i:07d}.jpg",
                    f"IMG_{i:07d}.jpg",
                    1_000_000,
                    1.6e9 + i,
                )
                for i in range(lo, hi)
            ]
            conn.exec_driver_sql(
                "INSERT INTO photos (id, folder_id, path, name, size, mtime, added_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, '2026-11-23 00:00:00', 'captioned')",
                photos,
            )
            rows = [(i + 1, next(captions), -1.0 - (i % 97) / 10, int(i % 100 == 0)) for i in range(lo, hi)]
            conn.exec_driver_sql(
                "INSERT INTO captions (photo_id, text, source, is_user, score, alternatives, created_at, "
                "reviewed, language) VALUES (?, ?, 'bench-model', 0, ?, '[]', '2026-11-23 00:00:00', ?, 'en')",
                rows,
            )
            print(f"  {hi:,} captions, {time.perf_counter() - start:.0f} s", flush=True)
    optimize_bulk_load(library)
    return time.perf_counter() - start


Query = tuple[str, str, list[str], int | None]  # kind, search-box text, LIKE patterns, folder id

KIND_LABELS = {
    "common word": "common word (one of the 12 most frequent nouns: 1.6-24% of captions)",
    "rare word": "rare word (one of the 30 least frequent nouns: ~0.2-0.3%)",
    "two words": "two words (`red bicycle`)",
    "prefix (typing)": "prefix while typing, 2-4 letters (`bi`, `bic`, `bicy`)",
    "one letter (typing)": "one letter typed (`b`)",
    "phrase": 'quoted phrase (`"running on the"`)',
    "common word in a folder": "common word in one folder (a tenth of the library)",
}


def make_queries(count: int, seed: int = 1) -> list[Query]:
    """(kind, search-box text, LIKE patterns, folder) for ``count`` queries, the kinds in turn."""
    rng = np.random.default_rng(seed)
    common, rare = NOUNS[:12], NOUNS[-30:]

    def prefix() -> tuple[str, list[str], int | None]:
        w = str(rng.choice(NOUNS))[: int(rng.integers(2, 5))]
        return w, [w], None

    def letter() -> tuple[str, list[str], int | None]:
        w = str(rng.choice(NOUNS))[0]
        return w, [w], None

    kinds: list[tuple[str, Callable[[], tuple[str, list[str], int | None]]]] = [
        ("common word", lambda: (w := str(rng.choice(common)) + " ", [w.strip()], None)),
        ("rare word", lambda: (w := str(rng.choice(rare)) + " ", [w.strip()], None)),
        (
            "two words",
            lambda: (
                f"{(a := rng.choice(ADJECTIVES))} {(b := rng.choice(NOUNS[:40]))} ",
                [str(a), str(b)],
                None,
            ),
        ),
        ("prefix (typing)", prefix),
        ("one letter (typing)", letter),
        ("phrase", lambda: (f'"{(p := str(rng.choice(VERBS)) + " on the")}"', [p], None)),
        (
            "common word in a folder",
            lambda: (w := str(rng.choice(common)) + " ", [w.strip()], int(rng.integers(1, FOLDERS + 1))),
        ),
    ]
    queries = []
    for i in range(count):
        kind, make = kinds[i % len(kinds)]
        query, patterns, folder = make()
        queries.append((kind, query, patterns, folder))
    return queries


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def run_queries(
    library: Library, queries: list[Query], *, interleave: bool = False
) -> dict[str, list[float]]:
    """Search, the result count and the LIKE baselines: each query once warm, then once timed.

    By default each method runs its warm and timed passes over all queries as a block, so the
    search is timed as typing sees it; ``interleave`` runs the four methods query by query
    instead (a 0.3 s LIKE scan of the whole table then runs just before every search).
    """
    raw = sqlite3.connect(library.path)
    raw.execute("PRAGMA cache_size = -65536")  # the same page cache as the library's read connections

    def like_sql(patterns: list[str], folder: int | None, count: bool) -> tuple[str, list[object]]:
        where = " AND ".join("c.text LIKE ?" for _ in patterns)
        args: list[object] = [f"%{p}%" for p in patterns]
        if folder is not None:
            where += " AND p.folder_id = ?"
            args.append(folder)
        what, tail = ("count(*)", "") if count else ("c.photo_id", " LIMIT 50")
        return (
            f"SELECT {what} FROM captions AS c JOIN photos AS p ON p.id = c.photo_id WHERE {where}{tail}",
            args,
        )

    methods: dict[str, Callable[[Query], Any]] = {
        "fts": lambda q: search(library, q[1], folder=q[3], limit=50),
        "count": lambda q: count_rows(library, PhotoQuery(text=q[1], folder=q[3])),
        "like": lambda q: raw.execute(*like_sql(q[2], q[3], False)).fetchall(),
        "like_all": lambda q: raw.execute(*like_sql(q[2], q[3], True)).fetchall(),
    }
    times: dict[str, list[float]] = {key: [] for key in methods}
    hits: list[int] = []

    def one(key: str, query: Query, warm: bool) -> None:
        elapsed, result = _timed(methods[key], query)
        if not warm:
            times[key].append(elapsed)
            times.setdefault(f"{key}/{query[0]}", []).append(elapsed)
            if key == "fts":
                hits.append(len(result))

    if interleave:
        for warm in (True, False):
            for query in queries:
                for key in methods:
                    one(key, query, warm)
    else:
        for key in methods:
            for warm in (True, False):
                for query in queries:
                    one(key, query, warm)
    raw.close()
    times["hits"] = [float(h) for h in hits]
    return times


def tantivy_times(db: Path, work: Path, queries: list[Query]) -> tuple[float, dict[str, list[float]]]:
    """The option not taken: top-50 by BM25 from a Tantivy index rebuilt from the library (needs ``tantivy``).

    Times the ranking only (query, top 50, their photo ids), not snippets or rows, which
    would come from SQLite as in ``search()``. Returns (build seconds, times per kind).
    """
    import tantivy

    path = work / "tantivy"
    built = path / "built.json"
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("user_text", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("model_text", stored=False, tokenizer_name="en_stem")
    builder.add_integer_field("id", stored=True, fast=True, indexed=True)
    builder.add_integer_field("folder", stored=False, indexed=True)
    schema = builder.build()
    if not built.exists():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        index = tantivy.Index(schema, path=str(path))
        start = time.perf_counter()
        writer = index.writer(heap_size=256_000_000, num_threads=1)
        raw = sqlite3.connect(db)
        rows = raw.execute(
            "SELECT f.rowid, f.user_text, f.model_text, coalesce(p.folder_id, 0) "
            "FROM captions_fts AS f JOIN photos AS p ON p.id = f.rowid"
        )
        for rowid, user, model, folder in rows:
            writer.add_document(
                tantivy.Document(id=rowid, user_text=user or "", model_text=model or "", folder=folder)
            )
        writer.commit()
        writer.wait_merging_threads()
        raw.close()
        built.write_text(json.dumps({"build_s": time.perf_counter() - start}))
    build_s = float(json.loads(built.read_text())["build_s"])
    index = tantivy.Index(schema, path=str(path))
    index.reload()
    searcher = index.searcher()
    should, must = tantivy.Occur.Should, tantivy.Occur.Must

    def make(text: str, folder: int | None) -> Any:
        words = text.strip()
        if not words.startswith('"') and not text.endswith(" "):  # the word being typed: a prefix
            regex = words.lower() + ".*"
            fields = [tantivy.Query.regex_query(schema, f, regex) for f in ("user_text", "model_text")]
            query = tantivy.Query.boolean_query([(should, q) for q in fields])
        else:
            terms = words if words.startswith('"') else " ".join("+" + w for w in words.split())
            query = index.parse_query(terms, ["user_text", "model_text"], field_boosts={"user_text": 10.0})
        if folder is not None:
            query = tantivy.Query.boolean_query(
                [(must, query), (must, tantivy.Query.term_query(schema, "folder", folder))]
            )
        return query

    times: dict[str, list[float]] = {}
    for warm in (True, False):
        for kind, text, _patterns, folder in queries:
            start = time.perf_counter()
            result = searcher.search(make(text, folder), 50)
            _ids = [searcher.doc(address)["id"][0] for _score, address in result.hits]
            if not warm:
                times.setdefault(kind, []).append(time.perf_counter() - start)
    return build_s, times


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f", {mem:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({cpu}){mem_s}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average {load:.1f} at the start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="captions (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=280, help="queries, all kinds in turn (default 280)")
    parser.add_argument(
        "--dir", type=Path, help="where the library is kept (default /tmp/photoscribe-bench-search-N)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the library again even if it is there")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--interleave", action="store_true", help="run the methods query by query, not each as a block"
    )
    parser.add_argument(
        "--tantivy",
        action="store_true",
        help="also time top-50 BM25 from a Tantivy index (pip install tantivy)",
    )
    parser.add_argument(
        "--meaning",
        action="store_true",
        help="then part 2, search by meaning at the same size (bench/search_meaning.py: query embedding, "
        "exact and HNSW nearest neighbours, fusion; needs the semantic extra; the graph takes minutes at 1M)",
    )
    args = parser.parse_args()

    work = args.dir or Path(tempfile.gettempdir()) / f"photoscribe-bench-search-{args.n}"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "library.sqlite3"
    done = work / "built.json"  # written last: a build stopped half-way is not reused
    if args.rebuild or not done.exists():
        for stale in work.glob("library.sqlite3*"):
            stale.unlink()
        with Library.open(db) as library:
            print(f"building {args.n:,} captions in {db}")
            build_s = build(library, args.n)
        done.write_text(json.dumps({"n": args.n, "build_s": build_s, "folders": FOLDERS}))
        print(f"built in {build_s:.0f} s")
    else:
        info = json.loads(done.read_text())
        if info.get("n") != args.n:
            raise SystemExit(
                f"{db} holds {info.get('n')} captions, not {args.n}; use --rebuild or another --dir"
            )
        build_s = float(info["build_s"])
        print(f"reusing {db} (built in {build_s:.0f} s)")
    machine = machine_line()
    queries = make_queries(args.queries)
    with Library.open(db) as library:
        times = run_queries(library, queries, interleave=args.interleave)
    if args.tantivy:
        tantivy_build_s, tantivy = tantivy_times(db, work, queries)
        for kind, values in tantivy.items():
            times[f"tantivy/{kind}"] = values
    db_mb = db.stat().st_size / 2**20

    ms = {k: [v * 1000 for v in vals] for k, vals in times.items() if k != "hits"}
    print(f"machine: {machine}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{args.n:,} captions, library file {db_mb:.0f} MiB, build {build_s:.0f} s")
    print(f"{args.queries} queries, mean {statistics.mean(times['hits']):.1f} hits returned (limit 50)")
    limits = [getattr(search_module, name, None) for name in ("BM25_MAX_MATCHES", "BM25_SMALL_LIBRARY")]
    large = getattr(search_module, "BM25_MAX_MATCHES_LARGE", None)
    print(f"bm25 up to {limits[0]} matches in libraries up to {limits[1]} photos, {large} beyond")
    print("| method | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    methods = (
        ("fts", "FTS5 `search()` (ranked, first page of 50, with snippets)"),
        ("count", "result count (`count_rows`, as the window asks for it)"),
        ("like", "`LIKE '%word%'` (unranked, LIMIT 50)"),
        ("like_all", "`LIKE '%word%'` counting every match"),
    )
    for key, label in methods:
        vals = ms[key]
        print(f"| {label} | {percentile(vals, 50):.1f} | {percentile(vals, 99):.1f} | {max(vals):.1f} |")
    print()
    print(
        "| query kind | queries | search p50 ms | search p99 ms | count p50 ms | count p99 ms "
        "| LIKE count-all p50 ms | LIKE count-all / search |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, label in KIND_LABELS.items():
        vals = ms.get(f"fts/{kind}")
        if not vals:
            continue
        counts, like_all = ms[f"count/{kind}"], ms[f"like_all/{kind}"]
        print(
            f"| {label} | {len(vals)} | {percentile(vals, 50):.1f} | {percentile(vals, 99):.1f} "
            f"| {percentile(counts, 50):.1f} | {percentile(counts, 99):.1f} | {percentile(like_all, 50):.1f} "
            f"| {percentile(like_all, 50) / percentile(vals, 50):.0f}x |"
        )
    if args.tantivy:
        print(
            f"\nTantivy (top 50 by BM25, ids only; index rebuilt from the library in {tantivy_build_s:.0f} s):"
        )
        print("| query kind | p50 ms | p99 ms |")
        print("| --- | ---: | ---: |")
        for kind, label in KIND_LABELS.items():
            vals = ms.get(f"tantivy/{kind}")
            if vals:
                print(f"| {label} | {percentile(vals, 50):.2f} | {percentile(vals, 99):.2f} |")
    speedup = percentile(ms["like_all"], 50) / percentile(ms["fts"], 50)
    print(f"\nLIKE counting every match / search, at p50: {speedup:.0f}x")
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
    if args.meaning:
        import search_meaning  # bench/ is on the path: the script is run as python bench/search.py

        print("\n## Search by meaning\n")
        search_meaning.run([args.n], min(args.queries, 100))


if __name__ == "__main__":
    main()

"""Search-by-meaning latency: query embedding, nearest neighbours and fusion, at 10k and 1M captions.

Usage: python bench/search_meaning.py [--sizes 10000 1000000] [--queries 100] [--no-model] [--out results.json]

1. Query embedding: all-MiniLM-L6-v2 (``SentenceEmbedder``) on one query at a
   time, as the search box sends them: every prefix of the benchmark queries
   as typed, uncached, then each again from the query cache.
2. Nearest neighbours over N synthetic 384-d unit vectors, clustered like
   caption embeddings (N / 50 random centres, each vector a centre plus
   noise at a cosine of about 0.8 to it; queries are fresh vectors drawn the
   same way): the exact in-memory index (:class:`MeaningIndex`, one float32
   matrix product) and, when ``usearch`` is installed, its HNSW index
   (int8 vectors, cosine, the settings :class:`MeaningIndex` uses), with build
   time, memory and recall@10 against the exact answer.
3. Fusion: :func:`hybrid_search` end to end on a real library of N captions
   (FTS5 + embeddings stored by the migrations' schema) with the query
   vector precomputed, so the figure is FTS + nearest neighbours + fusion +
   the rows shown (``limit`` 50). Built only for N <= 100,000 (a 1M-caption
   library with embeddings is 1.5 GB; at 1M the parts are added up instead).
Prints Markdown for docs/search.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from common import cpu_name  # bench/ is on the path: the script is run as python bench/search_meaning.py

from photoscribe.core.library.database import Library
from photoscribe.core.library.hybrid import MeaningSearch, hybrid_search
from photoscribe.core.library.meaning import DEFAULT_MODEL, MeaningIndex, encode_vector

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
K = 4 * 50 + 64  # what hybrid_search asks the index for a first page of 50
WORDS = [
    *("dog", "cat", "child", "man", "woman", "girl", "boy", "beach", "snow", "street", "bike", "horse"),
    *("ball", "water", "grass", "park", "field", "city", "red", "blue", "black", "white", "running"),
    *("jumping", "sitting", "playing", "riding", "swimming", "climbing", "walking"),
]


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    vectors = (
        centres[picks] + rng.standard_normal((n, DIM), dtype=np.float32) * 0.037
    )  # cos ~0.8 to the centre
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def bench_embedding(queries: list[str]) -> dict[str, float]:
    from photoscribe.core.library.meaning import SentenceEmbedder

    embedder = SentenceEmbedder()
    typed = list(dict.fromkeys(q[:i] for q in queries for i in range(2, len(q) + 1)))
    embedder.encode(["warm up"])
    cold = []
    for text in typed:
        start = time.perf_counter()
        embedder.encode_query(text)
        cold.append(time.perf_counter() - start)
    warm = []
    for text in typed:  # the same text again at once (the cache keeps the last 256 queries)
        embedder.encode_query(text)
        start = time.perf_counter()
        embedder.encode_query(text)
        warm.append(time.perf_counter() - start)
    p50, p99 = percentiles(cold)
    c50, c99 = percentiles(warm)
    return {"queries": len(typed), "p50_ms": p50, "p99_ms": p99, "cached_p50_ms": c50, "cached_p99_ms": c99}


def bench_nn(n: int, n_queries: int, rng: np.random.Generator) -> dict[str, object]:
    centres = rng.standard_normal((max(1, n // 50), DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = clustered(n, rng, centres)
    queries = clustered(n_queries, rng, centres)
    index = MeaningIndex(DEFAULT_MODEL, DIM, ann_min_rows=n + 1)  # exact at every size
    start = time.perf_counter()
    ids = np.arange(1, n + 1, dtype=np.int64)
    index.add(ids, ids, vectors)
    load_s = time.perf_counter() - start
    exact_top: list[list[int]] = []
    samples = []
    for q in queries:
        t = time.perf_counter()
        top = index.nearest(q, K)
        samples.append(time.perf_counter() - t)
        exact_top.append([c for c, _, _ in top[:10]])
    p50, p99 = percentiles(samples)
    result: dict[str, object] = {
        "n": n,
        "exact": {"p50_ms": p50, "p99_ms": p99, "memory_mb": n * DIM * 4 / 2**20, "load_s": load_s},
    }
    try:
        from usearch.index import Index
    except ImportError:
        return result
    ann = Index(ndim=DIM, metric="cos", dtype="i8", connectivity=16, expansion_add=128, expansion_search=256)
    start = time.perf_counter()
    ann.add(ids, vectors, threads=os.cpu_count() or 1)
    build_s = time.perf_counter() - start
    samples, recall, rescored = [], [], []
    for q, truth in zip(queries, exact_top, strict=True):
        t = time.perf_counter()
        found = ann.search(q, K)
        samples.append(time.perf_counter() - t)
        keys = np.asarray(found.keys, dtype=np.int64)
        recall.append(len(set(keys[:10].tolist()) & set(truth)) / 10)
        best = keys[np.argsort(-(vectors[keys - 1] @ q), kind="stable")][:10]  # as MeaningIndex rescores
        rescored.append(len(set(best.tolist()) & set(truth)) / 10)
    p50, p99 = percentiles(samples)
    result["usearch_hnsw_i8"] = {
        "p50_ms": p50,
        "p99_ms": p99,
        "build_s": build_s,
        "memory_mb": ann.memory_usage / 2**20,
        "recall@10": statistics.fmean(recall),
        "recall@10_rescored": statistics.fmean(rescored),
    }
    return result


class FixedEmbedder:
    """Returns precomputed query vectors (the embedding is timed on its own)."""

    model_id = DEFAULT_MODEL
    dim = DIM

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def bench_fusion(n: int, n_queries: int, rng: np.random.Generator, workdir: Path) -> dict[str, float]:
    centres = rng.standard_normal((max(1, n // 50), DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = clustered(n, rng, centres)
    library = Library.open(workdir / f"fusion-{n}.sqlite3")
    raw = library.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO photos (id, path, name, size, mtime, status, added_at) "
            "VALUES (?, ?, ?, 1, 0, 'captioned', '2026-01-01 00:00:00')",
            ((i, f"/bench/{i}.jpg", f"{i}.jpg") for i in range(1, n + 1)),
        )
        words = np.array(WORDS)
        cur.executemany(
            "INSERT INTO captions (id, photo_id, text, source, is_user, alternatives, created_at, reviewed, language) "
            "VALUES (?, ?, ?, 'bench', 0, '[]', '2026-01-01 00:00:00', 0, 'en')",
            ((i, i, "a " + " ".join(rng.choice(words, 6))) for i in range(1, n + 1)),
        )
        cur.executemany(
            "INSERT INTO caption_embeddings (caption_id, model, dim, vector) VALUES (?, ?, ?, ?)",
            ((i, DEFAULT_MODEL, DIM, encode_vector(vectors[i - 1])) for i in range(1, n + 1)),
        )
        cur.execute("COMMIT")
    finally:
        raw.close()
    texts = [" ".join(rng.choice(np.array(WORDS), 2)) for _ in range(n_queries)]
    qvec = {t: clustered(1, rng, centres)[0] for t in texts}
    meaning_search = MeaningSearch(library, FixedEmbedder(qvec))
    start = time.perf_counter()
    meaning_search.index  # noqa: B018 (the one-time load of every stored embedding)
    load_s = time.perf_counter() - start
    for t in texts[:5]:
        hybrid_search(library, t, meaning_search, limit=50)
    hybrid = [
        s for t in texts for s in timed(lambda t=t: hybrid_search(library, t, meaning_search, limit=50), 1)
    ]
    fts = [s for t in texts for s in timed(lambda t=t: hybrid_search(library, t, None, limit=50), 1)]
    library.close()
    h50, h99 = percentiles(hybrid)
    f50, f99 = percentiles(fts)
    return {
        "n": n,
        "hybrid_p50_ms": h50,
        "hybrid_p99_ms": h99,
        "fts_p50_ms": f50,
        "fts_p99_ms": f99,
        "load_s": load_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-model", action="store_true", help="skip the query-embedding figures")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run(args.sizes, args.queries, model=not args.no_model, out=args.out)


def run(
    sizes: Sequence[int], n_queries: int, *, model: bool = True, out: Path | None = None
) -> dict[str, object]:
    """Every part-2 figure (embedding, nearest neighbours, fusion) as Markdown; returns them (and saves to ``out``)."""
    rng = np.random.default_rng(0)
    cpu = cpu_name()
    results: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores ({cpu}), load average {os.getloadavg()[0]:.1f} at start",
    }
    print(f"{results['date']}, {results['machine']}\n")
    if model:
        queries = [
            q["query"] for q in json.loads((ROOT / "bench" / "search_queries.json").read_text())["queries"]
        ]
        emb = bench_embedding(queries)
        results["embedding"] = emb
        print(
            f"query embedding ({emb['queries']} prefixes as typed): p50 {emb['p50_ms']:.1f} ms, "
            f"p99 {emb['p99_ms']:.1f} ms; cached p50 {emb['cached_p50_ms']:.3f} ms\n"
        )
    print(
        "| captions | exact p50 | exact p99 | exact memory | HNSW i8 p50 | HNSW p99 | HNSW build | HNSW memory "
        "| HNSW recall@10 | rescored recall@10 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    nn_results = []
    for n in sizes:
        r = bench_nn(n, n_queries, rng)
        nn_results.append(r)
        e = r["exact"]
        h = r.get("usearch_hnsw_i8")
        hnsw = (
            f"{h['p50_ms']:.2f} ms | {h['p99_ms']:.2f} ms | {h['build_s']:.0f} s | {h['memory_mb']:.0f} MB | {h['recall@10']:.3f} | {h['recall@10_rescored']:.3f}"
            if h
            else "n/a | n/a | n/a | n/a | n/a | n/a"
        )
        print(f"| {n:,} | {e['p50_ms']:.1f} ms | {e['p99_ms']:.1f} ms | {e['memory_mb']:.0f} MB | {hnsw} |")
    results["nearest"] = nn_results
    fusion = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [s for s in sizes if s <= 100_000]:
            f = bench_fusion(n, n_queries, rng, Path(tmp))
            fusion.append(f)
            print(
                f"\nhybrid_search at {n:,} captions (query vector given, limit 50): p50 {f['hybrid_p50_ms']:.1f} ms, "
                f"p99 {f['hybrid_p99_ms']:.1f} ms; FTS alone p50 {f['fts_p50_ms']:.1f} ms, p99 {f['fts_p99_ms']:.1f} ms; "
                f"index load {f['load_s']:.2f} s"
            )
    results["fusion"] = fusion
    if out:
        out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()

"""Search quality on real photos: recall@10 and MRR of words (FTS), meaning (embeddings) and hybrid.

Usage: python bench/search_quality.py [--data ../shared/data/flickr8k] [--dir DIR] [--out results.json]

The corpus is every Flickr8k photo of the standard train and dev splits
(never a test-split photo). Each photo has five human captions: the first
one (in ``captions.txt`` order) is the photo's caption in the library, the
one that is searched, as a model caption would be; the other four only judge.
A photo is relevant to a query when at least one of its four judging captions
matches every regular expression of the query's ``relevant_if_all``
(``bench/search_queries.json``, which says what each query is after). So
relevance comes from people describing the photo, not from the text searched.

The library is built once with the real migrations and embedded with the real
:class:`~photoscribe.core.library.embed_queue.EmbedQueue` and all-MiniLM-L6-v2
(kept in ``--dir`` and reused), then every query runs through
:func:`~photoscribe.core.library.hybrid.hybrid_search` in each mode, as the
CLI runs it (the last word is a prefix, as while typing).

Metrics per query, over the first 10 results: recall@10 = relevant photos
found / min(10, relevant photos), and reciprocal rank = 1 / rank of the first
relevant photo (0 when none is in the first 10); averaged per query kind and
overall. Variants: ``fts`` (words, bm25), ``meaning`` (nearest captions),
``hybrid`` (the default: word matches first in bm25 order, then meaning-only
matches), ``hybrid-rrf`` (word matches reordered by reciprocal rank fusion
with their meaning rank, ``rerank=True``) and ``rrf`` (plain reciprocal rank
fusion of the two lists, no tiers). Prints Markdown for docs/search.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

from photoscribe.core.library.database import Library
from photoscribe.core.library.embed_queue import EmbedQueue
from photoscribe.core.library.hybrid import RRF_K, MeaningSearch, hybrid_search
from photoscribe.core.library.meaning import SentenceEmbedder
from photoscribe.core.library.schema import Caption, Photo

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("fts", "meaning", "hybrid", "hybrid-rrf", "rrf")
KINDS = ("exact", "plural", "synonym", "paraphrase", "typo")
DEPTH = 10


def load_flickr8k(data: Path) -> dict[str, list[str]]:
    """File name -> its five human captions, for train and dev photos only."""
    allowed = set()
    for split in ("Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt"):
        allowed.update(line.strip() for line in (data / split).read_text().splitlines() if line.strip())
    test = {line.strip() for line in (data / "Flickr_8k.testImages.txt").read_text().splitlines()}
    captions: dict[str, list[str]] = defaultdict(list)
    with (data / "captions.txt").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["image"] in allowed and row["image"] not in test:
                captions[row["image"]].append(" ".join(row["caption"].split()))
    return {name: caps for name, caps in sorted(captions.items()) if len(caps) >= 5}


def build_library(path: Path, photos: dict[str, list[str]]) -> Library:
    """A library with one photo per file and its first caption (reused when already complete)."""
    library = Library.open(path)
    with library.session() as session:
        done = session.query(Photo).count()
    if done == len(photos):
        return library
    if done:
        raise SystemExit(f"{path} holds another corpus; delete it or pass another --dir")
    with library.transaction() as session:
        for name, caps in photos.items():
            photo = Photo(path=f"/flickr8k/{name}", name=name, size=1, mtime=0.0, status="captioned")
            session.add(photo)
            session.flush()
            session.add(Caption(photo_id=photo.id, text=caps[0], source="human-0", score=None))
    return library


def judge(queries: list[dict], photos: dict[str, list[str]]) -> dict[str, set[str]]:
    """Query -> the photos whose judging captions (2nd to 5th) show what it asks for."""
    relevant: dict[str, set[str]] = {}
    for q in queries:
        patterns = [re.compile(p, re.IGNORECASE) for p in q["relevant_if_all"]]
        relevant[q["query"]] = {
            name for name, caps in photos.items() if any(all(p.search(c) for p in patterns) for c in caps[1:])
        }
    return relevant


def rrf(fts: list[str], meaning: list[str]) -> list[str]:
    scores: dict[str, float] = defaultdict(float)
    for ranked in (fts, meaning):
        for rank, name in enumerate(ranked, 1):
            scores[name] += 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda n: -scores[n])


def metrics(ranked: list[str], relevant: set[str]) -> tuple[float, float]:
    top = ranked[:DEPTH]
    found = sum(1 for name in top if name in relevant)
    recall = found / min(DEPTH, len(relevant)) if relevant else 0.0
    rr = next((1.0 / i for i, name in enumerate(top, 1) if name in relevant), 0.0)
    return recall, rr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "flickr8k")
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "search_queries.json")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/photoscribe-search-quality"))
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = parser.parse_args()

    photos = load_flickr8k(args.data)
    queries = json.loads(args.queries.read_text())["queries"]
    relevant = judge(queries, photos)
    args.dir.mkdir(parents=True, exist_ok=True)
    library = build_library(args.dir / "library.sqlite3", photos)
    embedder = SentenceEmbedder()
    start = time.perf_counter()
    report = EmbedQueue(library, embedder, batch_size=128).run_once()
    print(f"embedding: {report.describe()} ({time.perf_counter() - start:.0f} s)")
    meaning_search = MeaningSearch(library, embedder)
    name_of = {}
    with library.session() as session:
        for photo_id, name in session.query(Photo.id, Photo.name):
            name_of[photo_id] = name

    per_query: list[dict] = []
    for q in queries:
        text = q["query"]
        lists: dict[str, list[str]] = {}
        meaning_only: dict[str, int] = {}
        for mode in ("fts", "meaning", "hybrid"):
            hits = hybrid_search(library, text, meaning_search, mode=mode, limit=100)
            lists[mode] = [name_of[h.photo_id] for h in hits]
            meaning_only[mode] = sum(1 for h in hits[:DEPTH] if h.by_meaning)
        hits = hybrid_search(library, text, meaning_search, mode="hybrid", limit=100, rerank=True)
        lists["hybrid-rrf"] = [name_of[h.photo_id] for h in hits]
        lists["rrf"] = rrf(lists["fts"], lists["meaning"])
        row = {
            "query": text,
            "kind": q["kind"],
            "relevant": len(relevant[text]),
            "fts_matches": len(lists["fts"]),
        }
        for variant in VARIANTS:
            row[variant] = metrics(lists[variant], relevant[text])
        row["hybrid_meaning_in_top10"] = meaning_only["hybrid"]
        per_query.append(row)

    def mean(rows: list[dict], variant: str, i: int) -> float:
        return statistics.fmean(r[variant][i] for r in rows) if rows else 0.0

    date = time.strftime("%Y-%m-%d")
    print(f"\n{len(photos)} photos (Flickr8k train+dev), {len(queries)} queries, {date}, {platform.node()}\n")
    print("| queries | n | " + " | ".join(f"{v} R@10 | {v} MRR" for v in VARIANTS) + " |")
    print("| --- | ---: | " + " | ".join("---: | ---:" for _ in VARIANTS) + " |")
    groups = [(kind, [r for r in per_query if r["kind"] == kind]) for kind in KINDS] + [("all", per_query)]
    summary = {}
    for kind, rows in groups:
        cells = " | ".join(f"{mean(rows, v, 0):.3f} | {mean(rows, v, 1):.3f}" for v in VARIANTS)
        print(f"| {kind} | {len(rows)} | {cells} |")
        summary[kind] = {v: {"recall@10": mean(rows, v, 0), "mrr": mean(rows, v, 1)} for v in VARIANTS}
    exact = [r for r in per_query if r["kind"] == "exact"]
    for variant in ("hybrid", "hybrid-rrf", "rrf"):
        worse = [r["query"] for r in exact if r[variant][0] < r["fts"][0] or r[variant][1] < r["fts"][1]]
        print(f"\nexact-word queries where {variant} is below FTS on recall@10 or RR: {worse or 'none'}")
    print(
        "\n| query | kind | relevant | FTS matches | FTS R@10 | meaning R@10 | hybrid R@10 | by meaning in hybrid top 10 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in per_query:
        print(
            f"| {r['query']} | {r['kind']} | {r['relevant']} | {r['fts_matches']}{'+' if r['fts_matches'] == 100 else ''} "
            f"| {r['fts'][0]:.2f} | {r['meaning'][0]:.2f} | {r['hybrid'][0]:.2f} | {r['hybrid_meaning_in_top10']} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"date": date, "summary": summary, "queries": per_query}, indent=1))
    library.close()


if __name__ == "__main__":
    main()

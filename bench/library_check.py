"""What checking a library for damage costs: ``PRAGMA quick_check`` and ``integrity_check`` at 20,000 photos.

Builds a library of N photos (default 20,000) each with a model caption carrying what the caption
queue stores (4 alternatives, a compressed attention map), 5 keywords and a sentence embedding, then
times the checks and a plain ``Library.open`` (best of 3, warm page cache: the file was just
written; a cold read from a slow disk costs more).

    python bench/library_check.py [--photos 20000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from photoscribe.core.library import Library
from photoscribe.core.library.blobs import encode_attention
from photoscribe.core.library.integrity import check_library


def build(db: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    with Library.open(db) as library, library.transaction() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "INSERT INTO folders (id, path, added_at, recursive) VALUES (1, '/bench/photos', '2026-12-06', 1)"
        )
        photos, captions, keywords, vectors = [], [], [], []
        alternatives = json.dumps(
            [{"text": f"a dog on a beach number {k}", "score": -1.5 - k} for k in range(4)]
        )
        for i in range(1, n + 1):
            photos.append((i, f"/bench/photos/IMG_{i:07d}.jpg", f"IMG_{i:07d}.jpg", f"{i:064x}"))
            attention = encode_attention(rng.dirichlet(np.ones(49), 12).reshape(12, 7, 7))
            captions.append((i, i, f"a brown dog running on the beach number {i}", alternatives, attention))
            keywords += [(i, word) for word in ("dog", "beach", "sand", "sea", f"k{i % 500}")]
            vectors.append((i, rng.standard_normal(384).astype("<f2").tobytes()))
        conn.exec_driver_sql(
            "INSERT INTO photos (id, folder_id, path, name, size, mtime, added_at, status, content_hash, "
            "width, height) VALUES (?, 1, ?, ?, 3000000, 1.7e9, '2026-12-06', 'captioned', ?, 4000, 3000)",
            photos,
        )
        conn.exec_driver_sql(
            "INSERT INTO captions (id, photo_id, text, source, is_user, score, alternatives, attention, "
            "created_at, reviewed, language, confidence) "
            "VALUES (?, ?, ?, 'bench-model', 0, -2.0, ?, ?, '2026-12-06', 0, 'en', 0.8)",
            captions,
        )
        conn.exec_driver_sql(
            "INSERT INTO keywords (photo_id, word, score, source, removed) VALUES (?, ?, 0.5, 'model:bench', 0)",
            keywords,
        )
        conn.exec_driver_sql(
            "INSERT INTO caption_embeddings (caption_id, model, dim, vector) VALUES (?, 'minilm', 384, ?)",
            vectors,
        )


def best_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build the library here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "library.sqlite3"
        start = time.perf_counter()
        build(db, args.photos)
        print(
            f"built {args.photos:,} photos in {time.perf_counter() - start:.1f} s: {db.stat().st_size / 2**20:.1f} MiB"
        )
        conn = sqlite3.connect(db)
        quick = best_of(3, lambda: conn.execute("PRAGMA quick_check").fetchall())
        full = best_of(3, lambda: conn.execute("PRAGMA integrity_check").fetchall())
        fts = best_of(
            3,
            lambda: conn.execute(
                "INSERT INTO captions_fts(captions_fts, rank) VALUES ('integrity-check', 0)"
            ),
        )
        conn.close()
        checked = best_of(3, lambda: check_library(db))
        opened = best_of(3, lambda: Library.open(db).close())
        print(f"PRAGMA quick_check:      {quick * 1000:7.1f} ms")
        print(f"PRAGMA integrity_check:  {full * 1000:7.1f} ms")
        print(f"FTS5 integrity-check:    {fts * 1000:7.1f} ms")
        print(f"check_library (ours):    {checked * 1000:7.1f} ms")
        print(f"Library.open + close:    {opened * 1000:7.1f} ms")


if __name__ == "__main__":
    main()

"""The embedding queue survives ``kill -9``: a real process is killed mid-run, and a new one resumes.

The subprocess runs :class:`~photoscribe.core.library.embed_queue.EmbedQueue`
with a slow, deterministic embedder (so the kill lands in the middle of the
work without needing the ``semantic`` extra); the test checks the library is
intact, every stored vector belongs to its caption's text, and the second run
embeds exactly the captions the first one had not stored.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photoscribe.core.library.meaning import encode_vector
from tests.helpers import new_library

pytestmark = pytest.mark.slow  # runs and kills the photoscribe command in subprocesses

CAPTIONS = 400
EMBEDDER = """
import hashlib, time
import numpy as np

class SlowEmbedder:
    model_id = "all-MiniLM-L6-v2"
    dim = 16

    def encode(self, texts):
        time.sleep(0.05)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            vec = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vec / np.linalg.norm(vec))
        return np.asarray(rows, dtype=np.float32)
"""
RUNNER = """
import sys
from photoscribe.core.library import Library
from photoscribe.core.library.embed_queue import EmbedQueue
with Library.open(sys.argv[1]) as library:
    report = EmbedQueue(library, SlowEmbedder(), batch_size=4).run_once()
    print("embedded", report.embedded, flush=True)
"""


def _embedder() -> object:
    namespace: dict[str, object] = {}
    exec(EMBEDDER, namespace)
    return namespace["SlowEmbedder"]()  # type: ignore[operator]


def _stored(db: Path) -> dict[int, tuple[str, bytes]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT e.caption_id, c.text, e.vector FROM caption_embeddings e JOIN captions c ON c.id = e.caption_id"
        ).fetchall()
    return {int(cid): (text, vec) for cid, text, vec in rows}


def _run(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", EMBEDDER + RUNNER, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_embedding_queue_resumes_after_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    with new_library(db) as library:
        for i in range(CAPTIONS):
            photo = library.upsert_photo(tmp_path / f"{i}.jpg", 100, 1.0)
            library.add_model_caption(photo.id, "sat-v1", f"a dog number {i} runs on the grass")

    process = _run(db)
    deadline = time.monotonic() + 300
    try:
        while len(_stored(db)) < 40:  # a few batches written: the queue is mid-run
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the embedding process stored nothing in 300 s"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    before = _stored(db)
    assert 40 <= len(before) < CAPTIONS, "the kill must land while captions are still pending"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    resumed = _run(db)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert out.split() == ["embedded", str(CAPTIONS - len(before))]  # each caption embedded once

    after = _stored(db)
    assert len(after) == CAPTIONS
    assert all(after[cid] == before[cid] for cid in before)  # what was stored before the kill is kept
    embedder = _embedder()
    texts = [text for text, _ in after.values()]
    expected = [encode_vector(v) for v in embedder.encode(texts)]  # type: ignore[attr-defined]
    assert [vec for _, vec in after.values()] == expected

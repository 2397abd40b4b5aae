"""Training the object-concept head of a captioning model (see :mod:`photoscribe.core.model.concepts`).

The head learns, from the captions of the training photos, which of the CHAIR object groups
(:data:`~photoscribe.training.chair.OBJECT_GROUPS`: COCO's 80 categories and people) each photo
shows: a photo is a positive for a group when any of its captions names it. It reads the frozen
encoder's pooled features from the same cache training fills, so on a trained model's data set it
costs seconds. ``photoscribe model add-concepts CKPT DATA_DIR --out OUT`` writes a copy of the
checkpoint with the head (the decoder is unchanged).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.checkpoint import Checkpoint, export_checkpoint, load_model, save_checkpoint
from photoscribe.core.model.concepts import Concepts, GuardSettings
from photoscribe.core.model.decoding import beam_search, caption_logprobs
from photoscribe.core.model.labels import keyword_vocabulary
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import cache_dir
from photoscribe.core.progress import ProgressCallback, check_cancel
from photoscribe.training.chair import OBJECT_GROUPS, mentioned_objects
from photoscribe.training.datasets import ImageRecord, load_corpus
from photoscribe.training.features import extract_features

log = logging.getLogger(__name__)

MIN_POSITIVES = 5  # a group named for fewer training photos than this is left out of the head
FLUENCY_PHOTOS = 300  # val photos whose guarded captions set the confidence's fluency centre


@dataclass
class ConceptReport:
    names: list[str]
    positives: list[int]  # training photos per concept
    val_auc: dict[str, float] = field(default_factory=dict)  # per concept, on held-out training photos
    left_out: list[str] = field(default_factory=list)  # groups with too few positives
    fluency_center: float | None = None  # median mean log-probability per word of val captions

    def summary(self) -> str:
        aucs = [v for v in self.val_auc.values() if not np.isnan(v)]
        mean = float(np.mean(aucs)) if aucs else float("nan")
        worst = sorted(self.val_auc.items(), key=lambda kv: kv[1])[:5]
        return (
            f"{len(self.names)} concepts (left out for too few photos: {', '.join(self.left_out) or 'none'}); "
            f"mean held-out ROC AUC {mean:.3f}; weakest: " + ", ".join(f"{n} {v:.2f}" for n, v in worst)
        )


def concept_words(group: str) -> tuple[str, ...]:
    """The single caption words that name ``group`` (phrases are left to the CHAIR matcher)."""
    return tuple(w for w in OBJECT_GROUPS[group] if " " not in w)


def concept_labels(records: Sequence[ImageRecord], names: Sequence[str]) -> np.ndarray:
    """(M, K) float32: 1 where any caption of photo m names group k."""
    column = {n: i for i, n in enumerate(names)}
    labels = np.zeros((len(records), len(names)), dtype=np.float32)
    for m, record in enumerate(records):
        for caption in record.captions:
            for group in mentioned_objects(caption):
                if group in column:
                    labels[m, column[group]] = 1.0
    return labels


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is absent."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), dtype=np.float64)
    values = np.concatenate([pos, neg])[order]
    ranks[order] = np.arange(1, len(order) + 1)
    # average ranks of ties
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            ranks[order[start : start + count]] = start + (count + 1) / 2
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def fit_concept_head(
    concepts: Concepts,
    pooled: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 40,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> None:
    """Fit ``concepts.head`` on pooled features (M, C) and 0/1 labels (M, K) with binary cross-entropy."""
    generator = torch.Generator().manual_seed(seed)
    head = concepts.head.train()
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        check_cancel(cancel)
        order = torch.randperm(len(pooled), generator=generator)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = F.binary_cross_entropy_with_logits(head(pooled[rows]), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    head.eval()


def fluency_center(model: CaptionModel, vocab: Vocabulary, features: torch.Tensor, batch: int = 64) -> float:
    """Median over photos of the decoder's mean log-probability per word of its own guarded
    captions (features (M, N, C)): the point below which a caption's confidence is discounted."""
    concepts = model.concepts
    assert concepts is not None
    index = concepts.vocab_index(vocab)
    values: list[float] = []
    with torch.inference_mode():
        for lo in range(0, len(features), batch):
            chunk = features[lo : lo + batch]
            probs = concepts.probabilities(chunk)
            imagenet = model.imagenet_probabilities(chunk)
            if imagenet is not None:  # as the Captioner decodes (Concepts.fuse)
                terms = keyword_vocabulary()
                probs = concepts.fuse(probs, terms.term_probabilities(imagenet), terms.terms)
            bias = concepts.word_bias(probs, index)
            hyps = beam_search(model.decoder, chunk, max_len=vocab.max_len, word_bias=bias)
            rows = [i for i, h in enumerate(hyps) if h]
            tokens = [hyps[i][0].tokens for i in rows]
            values += caption_logprobs(model.decoder, chunk[rows], tokens).tolist()
    return round(float(np.median(values)), 4)


def _held_out_auc(
    trial: Concepts,
    pooled: torch.Tensor,
    labels: torch.Tensor,
    names: list[str],
    *,
    epochs: int,
    seed: int,
    cancel: threading.Event | None,
) -> dict[str, float]:
    """Each concept's ROC AUC on one photo in ten, held out while ``trial`` is fitted on the rest."""
    n = len(pooled)
    held = torch.zeros(n, dtype=torch.bool)
    held[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: n // 10]] = True
    fit_concept_head(trial, pooled[~held], labels[~held], epochs=epochs, seed=seed, cancel=cancel)
    with torch.no_grad():
        scores = torch.sigmoid(trial.head(pooled[held])).numpy()
    return {name: roc_auc(scores[:, k], labels[held][:, k].numpy()) for k, name in enumerate(names)}


def _fluency_on(model: CaptionModel, vocab: Vocabulary, paths: list[Path], tag: str) -> float:
    """The fluency discount's centre, calibrated on the captions the model gives ``paths``."""
    store = extract_features(model, paths, cache_dir() / "features", tag, device=torch.device("cpu"))
    rows = [i for i, path in enumerate(paths) if str(path) not in store.failed]
    grid = torch.from_numpy(np.asarray(store.array[rows], dtype=np.float32))
    return fluency_center(model, vocab, grid)


def add_concepts(
    checkpoint: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    guard: GuardSettings | None = None,
    hidden: int = 0,
    epochs: int = 40,
    seed: int = 0,
    half: bool = True,
    data_seed: int = 0,
    karpathy_json: Path | None = None,
    fluency: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ConceptReport:
    """Train a concept head on ``data_dir``'s train split and write the checkpoint with it to ``out``.

    One photo in ten of the train split is held out to report each concept's ROC AUC; the head
    is then refitted on all of them. ``half`` writes fp16 weights (a shipping checkpoint).
    ``fluency`` also calibrates the confidence's fluency discount on val photos (measured: it
    flags odd sentences but predicts hallucinations worse, so the default model ships without).
    """
    model, ckpt = load_model(checkpoint)
    if model.encoder.trainable or ckpt.config.encoder_weights == "checkpoint":
        raise PhotoscribeError("add-concepts needs a model with a frozen ImageNet encoder")
    corpus = load_corpus(Path(data_dir), seed=data_seed, karpathy_json=karpathy_json)
    records = corpus.split("train")
    if not records:
        raise PhotoscribeError(f"{data_dir} has no train split to learn concepts from")
    from photoscribe.core.model.weights import find_encoder_weights

    tag = find_encoder_weights(ckpt.config.encoder).name
    store = extract_features(
        model,
        [Path(r.path) for r in records],
        cache_dir() / "features",
        tag,
        device=torch.device("cpu"),
        on_progress=on_progress,
        cancel=cancel,
    )
    keep = [i for i, r in enumerate(records) if str(r.path) not in store.failed]
    pooled = torch.from_numpy(np.asarray(store.array[keep], dtype=np.float32).mean(axis=1))  # (M, C)
    kept = [records[i] for i in keep]

    groups = list(OBJECT_GROUPS)
    all_labels = concept_labels(kept, groups)
    counts = all_labels.sum(axis=0)
    names = [g for g, c in zip(groups, counts, strict=True) if c >= MIN_POSITIVES]
    left_out = [g for g, c in zip(groups, counts, strict=True) if c < MIN_POSITIVES]
    labels = torch.from_numpy(all_labels[:, [groups.index(n) for n in names]])
    report = ConceptReport(names, [int(labels[:, k].sum()) for k in range(len(names))], left_out=left_out)
    if not names:
        raise PhotoscribeError(
            f"no object group is named in at least {MIN_POSITIVES} captions of {len(kept)} training photos "
            "in this data set; add-concepts needs a larger data set with captions that name objects"
        )

    def fresh() -> Concepts:
        torch.manual_seed(seed)
        return Concepts(names, [concept_words(n) for n in names], pooled.shape[1], hidden, guard)

    report.val_auc = _held_out_auc(fresh(), pooled, labels, names, epochs=epochs, seed=seed, cancel=cancel)
    concepts = fresh()
    fit_concept_head(concepts, pooled, labels, epochs=epochs, seed=seed, cancel=cancel)
    model.concepts = concepts
    val = corpus.split("val")[:FLUENCY_PHOTOS] if fluency else []
    if val:
        concepts.fluency_center = _fluency_on(model, ckpt.vocab, [Path(r.path) for r in val], tag)
        report.fluency_center = concepts.fluency_center
    _write_model(model, ckpt, Path(out), report, half=half)
    log.info("%s", report.summary())
    return report


def _write_model(
    model: CaptionModel, ckpt: Checkpoint, out: Path, report: ConceptReport, *, half: bool
) -> None:
    """The model with its new concept head, under a new model id, as a shipping checkpoint."""
    tmp = out.with_suffix(".full.pt")
    meta = {
        **ckpt.metadata,
        "model_id": f"{out.stem}-{uuid.uuid4().hex[:8]}",
        "concepts": report.summary(),
    }
    save_checkpoint(tmp, model, ckpt.vocab, meta, None)
    try:
        export_checkpoint(tmp, out, half=half)
    finally:
        tmp.unlink(missing_ok=True)

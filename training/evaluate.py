"""Test-set evaluation with the coco-caption metrics, as papers report them."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.captioning.results import CaptionResult
from photoscribe.core.choices import DEFAULT_BEAM, DEFAULT_LENGTH_PENALTY
from photoscribe.core.progress import ProgressCallback
from photoscribe.training.chair import ChairReport, chair
from photoscribe.training.concepts import roc_auc
from photoscribe.training.datasets import ImageRecord, load_corpus
from photoscribe.training.metrics import (
    EVAL_EXTRA_MISSING,
    MetricReport,
    coco_metrics_available,
    score_captions,
)


@dataclass
class EvaluationResult:
    report: MetricReport
    captions: list[dict[str, object]]  # image_id, path, caption, logprob, references, mentioned, hallucinated
    failures: list[tuple[str, str]]
    cancelled: bool


def evaluate(
    checkpoint: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    beam_size: int = DEFAULT_BEAM,
    batch_size: int = 32,
    device: str | None = None,
    encoder_weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    karpathy_json: Path | None = None,
    meteor: bool = True,
    ptb_tokenizer: bool = True,
    length_penalty: float = DEFAULT_LENGTH_PENALTY,
    guard: bool = True,
    resize_mode: str | None = None,
    precision: str = "auto",
    captions_out: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> EvaluationResult:
    """Caption every image of ``split`` with beam search and score against its references.

    ``seed`` must be the training run's seed when the data set has no Karpathy split,
    so the same 80/10/10 split is used. ``split`` "dev" is "val" (Flickr8k's name for it);
    "all" is every image of the folder, whatever its split.
    Every generated caption is written to ``captions_out`` as JSON (COCO results format plus the
    references, and the objects each caption names and hallucinates). Besides the coco-caption
    metrics the report has ``distinct``: the fraction of images whose caption no other image got
    (a model that says one sentence to everything fails), and ``CHAIRs``/``CHAIRi``
    (:mod:`photoscribe.training.chair`, judged against the reference captions).
    ``resize_mode`` overrides how the checkpoint fits photos to its input square; ``precision``
    is the encoder's arithmetic (auto, fp32, bf16, fp16).
    """
    corpus = load_corpus(Path(data_dir), seed=seed, karpathy_json=karpathy_json)
    records = corpus.records if split == "all" else corpus.split("val" if split == "dev" else split)
    captioner = Captioner.load(
        checkpoint,
        device=device,
        encoder_weights=encoder_weights,
        beam_size=beam_size,
        n_best=1,
        batch_size=batch_size,
        length_penalty=length_penalty,
        guard=guard,
        resize_mode=resize_mode,
        precision=precision,
    )
    used = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[captioner.dtype]
    report = captioner.caption_paths([r.path for r in records], on_progress=on_progress, cancel=cancel)
    scored = _Scored.pair(records, report.results)
    objects = chair(scored.hyps, scored.refs)
    rows = scored.rows(objects)
    if coco_metrics_available():
        metrics = score_captions(scored.refs, scored.hyps, meteor=meteor, ptb_tokenizer=ptb_tokenizer)
    else:  # the metrics below need no extra
        metrics = MetricReport({}, [EVAL_EXTRA_MISSING])
    if scored.hyps:
        _add_object_scores(metrics, scored, objects)
    hyps = scored.hyps
    folder = Path(data_dir).resolve().name
    source = corpus.name if folder == corpus.name else f"{folder} ({corpus.name} layout)"
    metrics.notes.insert(
        0,
        f"{len(hyps)} {split} images of {source}, beam {beam_size}, length penalty {length_penalty:g}, "
        f"encoder precision {used} ({precision} asked) on {captioner.device.type}, {_guard_note(captioner)}; "
        f"{len(set(hyps.values()))} distinct captions ({metrics.scores.get('distinct', 0):.0%})",
    )
    if captions_out is not None:
        _write_captions(captions_out, metrics, objects, rows)
    failures = [(str(f.path), f.error) for f in report.failures]
    return EvaluationResult(metrics, rows, failures, report.cancelled)


@dataclass
class _Scored:
    """The generated caption of each image beside its references, keyed by image id."""

    refs: dict[str, list[str]] = field(default_factory=dict)
    hyps: dict[str, str] = field(default_factory=dict)
    logprobs: dict[str, float] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)

    @classmethod
    def pair(cls, records: Sequence[ImageRecord], results: Sequence[CaptionResult]) -> _Scored:
        """Pair each record with its caption; an image that failed to caption is left out."""
        by_path = {r.path: r for r in results}
        scored = cls()
        for rec in records:
            result = by_path.get(rec.path)
            if result is None:
                continue
            scored.refs[rec.image_id], scored.hyps[rec.image_id] = list(rec.captions), result.text
            scored.logprobs[rec.image_id], scored.paths[rec.image_id] = result.logprob, rec.path
            if result.confidence is not None:
                scored.confidence[rec.image_id] = result.confidence
        return scored

    def rows(self, objects: ChairReport) -> list[dict[str, object]]:
        """One row per image for the captions file: caption, references, objects named and invented."""
        return [
            {
                "image_id": image_id,
                "path": str(self.paths[image_id]),
                "caption": self.hyps[image_id],
                "logprob": self.logprobs[image_id],
                "references": self.refs[image_id],
                "mentioned": sorted(objects.captions[image_id].mentioned),
                "hallucinated": sorted(objects.captions[image_id].hallucinated),
                "confidence": self.confidence.get(image_id),
            }
            for image_id in self.hyps
        ]


def _add_object_scores(metrics: MetricReport, scored: _Scored, objects: ChairReport) -> None:
    """Distinct captions, CHAIR, and how well the confidence predicts a hallucination."""
    hyps, confidence = scored.hyps, scored.confidence
    metrics.scores["distinct"] = len(set(hyps.values())) / len(hyps)
    metrics.scores["CHAIRs"] = objects.chair_s
    metrics.scores["CHAIRi"] = objects.chair_i
    metrics.notes += chair_notes(objects)
    if len(confidence) != len(hyps):
        return
    # How well the caption confidence predicts a hallucination (ROC AUC: 0.5 is chance).
    bad = np.array([1.0 if objects.captions[i].hallucinated else 0.0 for i in hyps])
    auc = roc_auc(-np.array([confidence[i] for i in hyps]), bad)
    if not np.isnan(auc):
        metrics.scores["confidence AUC"] = auc
        metrics.notes.append(
            f"confidence predicts a hallucination with ROC AUC {auc:.3f} "
            f"({int(bad.sum())} of {len(bad)} captions hallucinate)"
        )


def _guard_note(captioner: Captioner) -> str:
    """How the concept guard was set for this run, for the report's first note."""
    concepts = captioner.model.concepts
    if concepts is None:
        return "no concept guard (the model has none)"
    if captioner.guard:
        return f"concept guard weight {concepts.guard.weight:g}, threshold {concepts.guard.threshold:g}"
    return "concept guard off"


def _write_captions(
    path: Path, metrics: MetricReport, objects: ChairReport, rows: list[dict[str, object]]
) -> None:
    """Every generated caption with the metrics, as JSON (COCO results format plus references)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "metrics": metrics.scores,
        "notes": metrics.notes,
        "hallucinated_counts": dict(objects.most_hallucinated(len(objects.hallucinated_counts))),
        "captions": rows,
    }
    # A file name that is not UTF-8 is written as a \udcXX escape, so the file stays valid JSON.
    text = json.dumps(payload, indent=1, ensure_ascii=False)
    path.write_bytes(text.encode("utf-8", "backslashreplace"))


def chair_notes(report: ChairReport) -> list[str]:
    """What the CHAIR figures count, and when they over-count, for the report's notes."""
    notes = [
        f"CHAIRs {report.n_hallucinating}/{report.n_captions} captions and CHAIRi "
        f"{report.n_hallucinated}/{report.n_mentions} object mentions name an object no reference "
        "caption mentions (lower is better; judged against reference captions, no segmentation labels)"
    ]
    if report.references_per_image < 2:
        notes.append(
            f"only {report.references_per_image:.1f} reference caption(s) per photo: CHAIR over-counts "
            "(an object in the photo that the reference leaves out counts as hallucinated)"
        )
    top = ", ".join(f"{name} {count}" for name, count in report.most_hallucinated(10))
    if top:
        notes.append(f"most hallucinated objects (captions): {top}")
    return notes

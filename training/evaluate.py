"""Test-set evaluation with the coco-caption metrics, as papers report them."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from photoscribe.core.captioner import Captioner
from photoscribe.core.progress import ProgressCallback
from photoscribe.training.datasets import load_corpus
from photoscribe.training.metrics import MetricReport, score_captions


@dataclass
class EvaluationResult:
    report: MetricReport
    captions: list[dict[str, object]]  # image_id, path, caption, logprob, references
    failures: list[tuple[str, str]]
    cancelled: bool


def evaluate(
    checkpoint: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    beam_size: int = 3,
    batch_size: int = 32,
    device: str | None = None,
    encoder_weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    karpathy_json: Path | None = None,
    meteor: bool = True,
    ptb_tokenizer: bool = True,
    length_penalty: float = 0.0,
    resize_mode: str | None = None,
    captions_out: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> EvaluationResult:
    """Caption every image of ``split`` with beam search and score against its references.

    ``seed`` must be the training run's seed when the data set has no Karpathy split,
    so the same 80/10/10 split is used. ``split`` "dev" is "val" (Flickr8k's name for it).
    Every generated caption is written to ``captions_out`` as JSON (COCO results format plus the
    references). Besides the coco-caption metrics the report has ``distinct``: the fraction of
    images whose caption no other image got (a model that says one sentence to everything fails).
    ``resize_mode`` overrides how the checkpoint fits photos to its input square.
    """
    corpus = load_corpus(Path(data_dir), seed=seed, karpathy_json=karpathy_json)
    records = corpus.split("val" if split == "dev" else split)
    captioner = Captioner.load(
        checkpoint,
        device=device,
        encoder_weights=encoder_weights,
        beam_size=beam_size,
        n_best=1,
        batch_size=batch_size,
        length_penalty=length_penalty,
        resize_mode=resize_mode,
    )
    report = captioner.caption_paths([r.path for r in records], on_progress=on_progress, cancel=cancel)
    by_path = {r.path: r for r in report.results}
    refs, hyps, rows = {}, {}, []
    for rec in records:
        result = by_path.get(rec.path)
        if result is None:
            continue
        refs[rec.image_id], hyps[rec.image_id] = list(rec.captions), result.text
        rows.append(
            {
                "image_id": rec.image_id,
                "path": str(rec.path),
                "caption": result.text,
                "logprob": result.logprob,
                "references": list(rec.captions),
            }
        )
    metrics = score_captions(refs, hyps, meteor=meteor, ptb_tokenizer=ptb_tokenizer)
    if hyps:
        metrics.scores["distinct"] = len(set(hyps.values())) / len(hyps)
    metrics.notes.insert(
        0,
        f"{len(hyps)} {split} images of {corpus.name}, beam {beam_size}; "
        f"{len(set(hyps.values()))} distinct captions ({metrics.scores.get('distinct', 0):.0%})",
    )
    if captions_out is not None:
        captions_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"metrics": metrics.scores, "notes": metrics.notes, "captions": rows}
        captions_out.write_text(json.dumps(payload, indent=1, ensure_ascii=False), "utf-8")
    failures = [(str(f.path), f.error) for f in report.failures]
    return EvaluationResult(metrics, rows, failures, report.cancelled)

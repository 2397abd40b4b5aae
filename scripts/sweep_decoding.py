"""Sweep decoding settings of one model on one split: the concept guard, beam size and length penalty.

Encodes the photos once, then decodes them under every combination and prints, for each, the
caption metrics (BLEU-4, CIDEr; photoscribe's tokenizer, no METEOR, to stay fast), CHAIRs and
CHAIRi, the share of distinct captions, and how well the caption confidence predicts a
hallucination (ROC AUC). This is how the shipped decoding and guard settings were chosen
(docs/model-card.md). Example::

    python scripts/sweep_decoding.py MODEL.pt DATA_DIR --split test \\
        --guard-weights 0,1,2 --guard-thresholds 0.3,0.5 --beams 3,5 --length-penalties 0,1
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.model.concepts import GuardSettings
from photoscribe.core.model.decoding import beam_search
from photoscribe.training.chair import chair, hallucinated_objects
from photoscribe.training.concepts import roc_auc
from photoscribe.training.datasets import load_corpus
from photoscribe.training.metrics import score_captions


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--split", default="test", help="train, val/dev, test or all")
    parser.add_argument("--guard-weights", type=_floats, default=[0.0, 1.0])
    parser.add_argument("--guard-thresholds", type=_floats, default=[0.5])
    parser.add_argument("--guard-boosts", type=_floats, default=[0.0])
    parser.add_argument(
        "--reranks", type=_floats, default=[0.0], help="weights of the n-best re-ranking by concept evidence"
    )
    parser.add_argument("--keyword-boosts", type=_floats, default=[0.0])
    parser.add_argument("--beams", type=lambda t: [int(x) for x in t.split(",")], default=[3])
    parser.add_argument("--length-penalties", type=_floats, default=[0.0])
    parser.add_argument("--no-fuse", action="store_true", help="concept head alone, not fused with ImageNet")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos")
    parser.add_argument("--json-out", type=Path, help="write every row (and the captions) here")
    args = parser.parse_args()

    corpus = load_corpus(args.data_dir)
    split = {"dev": "val"}.get(args.split, args.split)
    records = corpus.records if split == "all" else corpus.split(split)
    if args.limit:
        records = records[: args.limit]
    cap = Captioner.load(args.checkpoint, workers=1, processes=False, precision="fp32")
    concepts = cap.model.concepts
    vocab_index = concepts.vocab_index(cap.vocab) if concepts is not None else None
    feats, kept = [], []
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in cap.loader.batches([r.path for r in records], 32, None):
            if batch.images is None:
                continue
            feats.append(cap.model.encode(cap.preprocess.normalize(batch.images)).float())
            kept += [str(p) for p in batch.paths]
    features = torch.cat(feats)
    by_path = {str(r.path): r for r in records}
    refs = {p: list(by_path[p].captions) for p in kept}
    with torch.inference_mode():
        imagenet = cap.model.imagenet_probabilities(features)
        probs = concepts.probabilities(features) if concepts is not None else None
        head_probs = probs
        if probs is not None and imagenet is not None and concepts is not None and not args.no_fuse:
            from photoscribe.core.model.labels import keyword_vocabulary

            terms = keyword_vocabulary()
            probs = concepts.fuse(probs, terms.term_probabilities(imagenet), terms.terms)
    print(
        f"{len(kept)} photos of {corpus.name} ({args.split}) encoded in {time.perf_counter() - start:.0f} s"
    )
    header = (
        "weight thresh boost kboost rerank beam  lp | BLEU-4  CIDEr  CHAIRs CHAIRi distinct | conf-AUC  s"
    )
    print(header)
    rows = []
    keywords: list = []
    if concepts is not None and probs is not None:
        raw = cap._keywords(imagenet, len(kept))
        keywords = [concepts.check_keywords(kw, head_probs[i]) for i, kw in enumerate(raw)]
    for weight, threshold, boost, kboost, rerank, beam, lp in itertools.product(
        args.guard_weights,
        args.guard_thresholds,
        args.guard_boosts,
        args.keyword_boosts,
        args.reranks,
        args.beams,
        args.length_penalties,
    ):
        t0 = time.perf_counter()
        bias = None
        if concepts is not None and probs is not None and vocab_index is not None:
            concepts.guard = GuardSettings(weight, threshold, boost, kboost)
            bias = concepts.word_bias(probs, vocab_index)
            extra = concepts.keyword_bias(keywords, cap.vocab)
            if extra is not None:
                bias = extra if bias is None else bias + extra
        hyps: dict[str, str] = {}
        confidence: dict[str, float] = {}
        with torch.inference_mode():
            for lo in range(0, len(kept), 64):
                chunk = beam_search(
                    cap.model.decoder,
                    features[lo : lo + 64],
                    beam_size=beam,
                    n_best=beam if rerank else 1,
                    max_len=cap.vocab.max_len,
                    length_penalty=lp,
                    word_bias=None if bias is None else bias[lo : lo + 64],
                )
                for i, nbest in enumerate(chunk):
                    path = kept[lo + i]
                    choices = [[cap.vocab.itos[t] for t in h.tokens] for h in nbest]
                    best = 0
                    if rerank and concepts is not None and probs is not None:
                        ranked = [
                            h.score + rerank * concepts.evidence(w, probs[lo + i])
                            for h, w in zip(nbest, choices, strict=True)
                        ]
                        best = max(range(len(nbest)), key=ranked.__getitem__)
                    words = choices[best]
                    hyps[path] = " ".join(words)
                    if concepts is not None and probs is not None:
                        confidence[path] = concepts.confidence(words, probs[lo + i])
        metrics = score_captions(refs, hyps)
        report = chair(hyps, refs)
        auc = float("nan")
        if confidence:
            bad = np.array([1.0 if hallucinated_objects(hyps[p], refs[p]) else 0.0 for p in kept])
            auc = roc_auc(-np.array([confidence[p] for p in kept]), bad)
        row = {
            "guard_weight": weight,
            "guard_threshold": threshold,
            "guard_boost": boost,
            "keyword_boost": kboost,
            "rerank": rerank,
            "beam": beam,
            "length_penalty": lp,
            "BLEU-4": metrics.scores["BLEU-4"],
            "CIDEr": metrics.scores["CIDEr"],
            "CHAIRs": report.chair_s,
            "CHAIRi": report.chair_i,
            "distinct": len(set(hyps.values())) / len(hyps),
            "confidence_auc": auc,
            "captions": hyps,
            "confidence": confidence,
        }
        rows.append(row)
        print(
            f"{weight:6.2f} {threshold:6.2f} {boost:5.1f} {kboost:6.1f} {rerank:6.1f} {beam:4d} {lp:3.1f} | {100 * row['BLEU-4']:6.1f} "
            f"{100 * row['CIDEr']:6.1f} {row['CHAIRs']:6.3f} {row['CHAIRi']:6.3f} {row['distinct']:7.0%} | "
            f"{auc:8.3f} {time.perf_counter() - t0:3.0f}",
            flush=True,
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1), "utf-8")


if __name__ == "__main__":
    main()

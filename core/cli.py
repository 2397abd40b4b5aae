"""Core CLI commands: ``caption`` and ``model info``.

Thin wrappers: parse arguments, call :mod:`photoscribe.core`, print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

from photoscribe.core.captioner import Captioner
from photoscribe.core.checkpoint import load_checkpoint
from photoscribe.core.cli_progress import TqdmProgress
from photoscribe.core.errors import ModelLoadError
from photoscribe.core.heatmap import save_attention_overlays
from photoscribe.core.imaging import sniff_image
from photoscribe.core.paths import active_model_path


def register(subparsers: argparse._SubParsersAction) -> None:
    cap = subparsers.add_parser("caption", help="caption photos (files or folders)")
    cap.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    add_model_options(cap)
    cap.add_argument("--beam", type=int, default=3, help="beam size (default 3)")
    cap.add_argument("--n-best", type=int, default=1, help="alternatives to print per photo")
    cap.add_argument("--batch-size", type=int, default=16)
    cap.add_argument("--json", action="store_true", help="print JSON with n-best, scores and timings")
    cap.add_argument("--attention-out", type=Path, help="write per-word attention overlays (PNG) here")
    cap.set_defaults(func=cmd_caption)

    model = subparsers.add_parser("model", help="inspect models")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    info = model_sub.add_parser("info", help="print a checkpoint's config, vocabulary, data and metrics")
    info.add_argument("checkpoint", type=Path)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_model_info)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="checkpoint (default: the active model)")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps"
    )
    parser.add_argument(
        "--encoder-weights",
        type=Path,
        help="local torchvision ImageNet weights file (or set PHOTOSCRIBE_ENCODER_WEIGHTS)",
    )


def resolve_model(explicit: Path | None) -> Path:
    path = explicit or active_model_path()
    if path is None:
        raise ModelLoadError(
            "no captioning model yet. Pass --model CKPT, set PHOTOSCRIBE_MODEL, train one with "
            "`photoscribe train DATA_DIR --out RUN_DIR`, or run `photoscribe demo` to train a small demo model."
        )
    return path


def load_captioner(args: argparse.Namespace, **options: object) -> Captioner:
    return Captioner.load(
        resolve_model(args.model), device=args.device, encoder_weights=args.encoder_weights, **options
    )


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked recursively (sorted, hidden entries skipped) for image files."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    candidate = Path(root) / name
                    if not name.startswith(".") and sniff_image(candidate):
                        yield candidate
        else:
            yield path


def cmd_caption(args: argparse.Namespace) -> int:
    paths = list(dict.fromkeys(expand_paths(args.paths)))  # a file named twice is captioned once
    if not paths:
        print("no images found in the given paths", file=sys.stderr)
        return 1
    captioner = load_captioner(
        args, beam_size=args.beam, n_best=max(args.n_best, 1), batch_size=args.batch_size
    )
    bar = TqdmProgress("captioning", "photo")
    cancel = threading.Event()
    try:
        report = captioner.caption_paths(paths, on_progress=bar, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        bar.close()
    if args.json:
        out = {
            "model": captioner.model_id,
            "device": str(captioner.device),
            "seconds": round(report.seconds, 3),
            "results": [
                {
                    "path": str(r.path),
                    "caption": r.text,
                    "logprob": round(r.logprob, 4),
                    "n_best": [{"caption": a.text, "logprob": round(a.logprob, 4)} for a in r.alternatives],
                    "seconds": round(r.seconds, 4),
                }
                for r in report.results
            ],
            "failures": [{"path": str(f.path), "error": f.error} for f in report.failures],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for r in report.results:
            print(f"{r.path}\t{r.text}")
            for alt in r.alternatives[1 : args.n_best]:
                print(f"\t  alt ({alt.logprob:.2f}): {alt.text}")
    if args.attention_out:
        for r in report.results:
            # The attention grid covers the centre crop the model saw: overlay on exactly that view.
            view = captioner.preprocess.denormalize(captioner.preprocess.load(r.path))
            image = view.resize((448, 448), Image.Resampling.BICUBIC)
            save_attention_overlays(image, r.words, r.attention, args.attention_out, r.path.stem)
    if report.failures:
        print(f"{len(report.failures)} of {len(paths)} files failed:", file=sys.stderr)
        for f in report.failures:
            print(f"  {f.path}: {f.error}", file=sys.stderr)
        return 1
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    info = {
        "model_id": ckpt.model_id,
        "config": ckpt.config.to_dict(),
        "vocab_size": len(ckpt.vocab),
        "encoder_weights_in_checkpoint": ckpt.encoder_state is not None,
        "metadata": ckpt.metadata,
        "resumable": ckpt.training_state is not None,
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    meta = ckpt.metadata
    print(f"model:        {ckpt.model_id}")
    print(f"created:      {meta.get('created', '?')}")
    cfg = ckpt.config
    print(f"encoder:      {cfg.encoder} ({cfg.encoder_weights} weights), input {cfg.image_size}px")
    print(f"decoder:      embed {cfg.embed_dim}, hidden {cfg.hidden_dim}, attention {cfg.attention_dim}")
    print(f"vocabulary:   {len(ckpt.vocab)} words, max {ckpt.vocab.max_len} per caption")
    print(f"trained on:   {meta.get('training_data', 'unknown')}")
    metrics = meta.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        print(
            "metrics:      " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        )
    return 0

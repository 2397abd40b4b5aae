"""Captioning throughput: batched beam search vs one image at a time, and end-to-end photos/s.

Usage: python bench/caption.py [--encoder resnet50] [--images 64] [--beam 3] [--device auto]

Weights are random (speed does not depend on them); the vocabulary has 10,000 words
like a Flickr30k model. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photoscribe.core.captioner import Captioner
from photoscribe.core.decoding import beam_search
from photoscribe.core.device import pick_device
from photoscribe.core.model import CaptionModel, ModelConfig
from photoscribe.core.vocab import Vocabulary


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="resnet50")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    vocab = Vocabulary([f"w{i}" for i in range(9996)])
    cfg = ModelConfig(vocab_size=len(vocab), encoder=args.encoder, encoder_weights="checkpoint")
    model = CaptionModel(cfg).to(device).eval()
    with torch.no_grad():
        feats = model.encode(torch.randn(args.images, 3, 224, 224, device=device))

    def batched() -> None:
        with torch.no_grad():
            for lo in range(0, args.images, args.batch_size):
                beam_search(model.decoder, feats[lo : lo + args.batch_size], beam_size=args.beam, max_len=20)

    def one_by_one() -> None:
        with torch.no_grad():
            for i in range(args.images):
                beam_search(model.decoder, feats[i : i + 1], beam_size=args.beam, max_len=20)

    t_batched, t_single = timed(batched), timed(one_by_one, repeat=1)

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        paths = []
        for i in range(args.images):
            path = Path(tmp) / f"p{i}.jpg"
            Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(path)
        captioner = Captioner(model, vocab, device=device, beam_size=args.beam, batch_size=args.batch_size)
        captioner.caption_paths(paths[: args.batch_size])  # warm-up
        t_e2e = timed(lambda: captioner.caption_paths(paths), repeat=1)

    name = (
        torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"{platform.processor() or 'CPU'} x{torch.get_num_threads()} threads"
    )
    print(
        f"device: {device} ({name}), torch {torch.__version__}, encoder {args.encoder}, beam {args.beam}, vocab {len(vocab)}"
    )
    print("| measurement | images/s |")
    print("| --- | ---: |")
    print(
        f"| beam search, batched ({args.batch_size} images x {args.beam} beams at once) | {args.images / t_batched:.1f} |"
    )
    print(f"| beam search, one image at a time | {args.images / t_single:.1f} |")
    print(
        f"| end to end: 12 MP JPEG files -> captions (decode, {args.encoder}, beam) | {args.images / t_e2e:.1f} |"
    )


if __name__ == "__main__":
    main()

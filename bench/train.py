"""Training throughput on a synthetic Flickr30k-shaped data set: our trainer vs a tutorial-style loop.

Usage:
    python bench/train.py [--images 200] [--batch-size 64] [--device auto] [--out train.json]
    python bench/train.py --images 31783 --full-run --epochs 30 --device cuda --out full.json

The benchmark writes its own data set (or reuses ``--data DIR``): ``--images`` JPEGs of
Flickr30k's sizes (500x375, a quarter of them portrait 375x500) showing smooth colour fields,
a few shapes and sensor noise, and ``results.csv`` in the Kaggle Flickr30k layout with five
captions per image. Caption lengths follow Flickr30k's (gamma-distributed, mean about 12.3
words, sd about 5.2, tail to 60); words are Zipf-Mandelbrot distributed over a generated word
list, so at Flickr30k's size (31,783 images, 158,915 captions) the vocabulary kept with
``min_word_freq=5`` has several thousand words. Every epoch uses all five captions per image.

Comparison mode (default) times one epoch over the same caption pairs and batch size of:

(a) a baseline written here the way the common tutorial (sgrvinod's a-PyTorch-Tutorial-to-Image-
    Captioning) does it: images pre-decoded to 256x256 uint8 in memory (its HDF5 file; not timed),
    per batch a random 224 crop and normalisation, the frozen ResNet-50 run under ``no_grad`` on
    every batch, a decoder of our sizes that computes every row at every step up to the batch's
    padded length in float32, masked cross-entropy plus the attention penalty, Adam, and
    ``loss.item()`` every step. On a CPU it runs ``--baseline-batches`` batches (after one
    warm-up batch) and its captions/s is extrapolated to the epoch, as labelled;
(b) our trainer, ``photoscribe.training.train.train`` with the frozen ResNet-50 from a local
    weights file (random weights with calibrated BatchNorm statistics, see :func:`random_resnet50`;
    the baseline uses the same): feature extraction into the cache, then the cached-feature
    training loop, then validation (beam search + BLEU/CIDEr).

and prints captions/s for both, the ratio for the training loop and the ratio counting
feature extraction in the epoch. ``--full-run`` times our trainer alone for ``--epochs`` epochs
(feature extraction included) and prints the total and per-epoch times.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import machine
from PIL import Image, ImageDraw
from torch import nn
from torchvision.models import resnet50

from photoscribe.core.captioning.device import pick_device
from photoscribe.core.captioning.loader import default_workers
from photoscribe.core.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.progress import Progress
from photoscribe.training.data import encode_records, epoch_pairs, pad_captions
from photoscribe.training.datasets import build_vocabulary, load_corpus
from photoscribe.training.train import TrainConfig, train

CAPTIONS_PER_IMAGE = 5
MIN_WORD_FREQ, MAX_LEN = 5, 20  # TrainConfig's defaults
# Flickr30k's caption lengths in words: mean ~12.3, sd ~5.2, a long tail.
LENGTH_SHAPE, LENGTH_SCALE, MIN_WORDS, MAX_WORDS = 5.6, 2.2, 3, 60
N_WORDS, ZIPF_S, ZIPF_Q = 20_000, 1.4, 2.7  # Flickr30k-sized: ~17.6k distinct words, ~7.2k kept
COMMON = [
    "a",
    "in",
    "the",
    "on",
    "and",
    "man",
    "with",
    "of",
    "is",
    "woman",
    "two",
    "are",
    "to",
    "people",
    "at",
    "wearing",
    "an",
    "shirt",
    "while",
    "young",
    "his",
    "white",
    "black",
    "her",
    "blue",
    "men",
    "red",
    "street",
    "sitting",
    "standing",
    "dog",
    "playing",
    "front",
    "girl",
    "down",
    "boy",
    "water",
    "up",
    "holding",
    "walking",
    "group",
    "one",
    "through",
    "green",
    "three",
    "small",
    "little",
    "other",
    "looking",
]

# ------------------------------------------------------------------ data set


def word_list(n: int, seed: int) -> list[str]:
    """``COMMON`` then pronounceable made-up words (2-4 syllables), ``n`` in all, all distinct."""
    rng = np.random.default_rng([seed, 7])
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["ar", "en", "ol", "is", "un"]
    words, seen = list(COMMON), set(COMMON)
    while len(words) < n:
        word = "".join(rng.choice(syllables, size=int(rng.integers(2, 5))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_captions(n_images: int, seed: int) -> list[list[str]]:
    """Five captions per image: gamma-distributed lengths, Zipf-Mandelbrot words."""
    words = np.array(word_list(N_WORDS, seed))
    weights = (np.arange(1, N_WORDS + 1) + ZIPF_Q) ** -ZIPF_S
    cdf = np.cumsum(weights / weights.sum())
    rng = np.random.default_rng([seed, 1])
    lengths = rng.gamma(LENGTH_SHAPE, LENGTH_SCALE, size=n_images * CAPTIONS_PER_IMAGE)
    lengths = np.clip(np.round(lengths), MIN_WORDS, MAX_WORDS).astype(int)
    ids = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), N_WORDS - 1)
    flat, out, pos = words[ids], [], 0
    for i in range(n_images):
        caps = []
        for n in lengths[i * CAPTIONS_PER_IMAGE : (i + 1) * CAPTIONS_PER_IMAGE]:
            text = " ".join(flat[pos : pos + n])
            caps.append(text[0].upper() + text[1:] + " .")
            pos += n
        out.append(caps)
    return out


def make_image(job: tuple[Path, int, int]) -> None:
    """One Flickr30k-sized JPEG: a smooth colour field, a few shapes, sensor noise."""
    path, seed, i = job
    rng = np.random.default_rng([seed, i, 2])
    size = (375, 500) if rng.random() < 0.25 else (500, 375)
    field = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    img = Image.fromarray(field).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, size[0] - 40)), int(rng.integers(0, size[1] - 40))
        box = (x0, y0, x0 + int(rng.integers(30, 200)), y0 + int(rng.integers(30, 200)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0.0, 6.0, size=(size[1], size[0], 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, format="JPEG", quality=90)


def make_dataset(root: Path, n_images: int, seed: int, workers: int) -> Path:
    """Write (or reuse, when ``root/results.csv`` exists) the synthetic data set under ``root``."""
    if (root / "results.csv").is_file():
        print(f"reusing the data set in {root}", file=sys.stderr)
        return root
    start = time.perf_counter()
    image_dir = root / "flickr30k_images"
    image_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(image_dir / f"{i:06d}.jpg", seed, i) for i in range(n_images)]
    if workers > 1 and n_images > 200:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(make_image, jobs, chunksize=64))
    else:
        for job in jobs:
            make_image(job)
    rows = ["image_name| comment_number| comment"]
    for i, caps in enumerate(make_captions(n_images, seed)):
        rows += [f"{i:06d}.jpg| {k}| {c}" for k, c in enumerate(caps)]
    (root / "results.csv").write_text("\n".join(rows) + "\n", "utf-8")
    print(f"wrote {n_images} images to {root} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return root


# ------------------------------------------------------------------ baseline (tutorial style)


class TutorialAttention(nn.Module):
    def __init__(self, encoder_dim: int, decoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)

    def forward(self, encoder_out: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        att = self.full_att(F.relu(self.encoder_att(encoder_out) + self.decoder_att(h).unsqueeze(1)))
        alpha = torch.softmax(att.squeeze(2), dim=1)
        return (encoder_out * alpha.unsqueeze(2)).sum(dim=1), alpha


class TutorialDecoder(nn.Module):
    """The tutorial's DecoderWithAttention at our sizes, but every row runs every step."""

    def __init__(self, vocab_size: int, encoder_dim: int = 2048, embed_dim: int = 300) -> None:
        super().__init__()
        self.attention = TutorialAttention(encoder_dim, 512, 512)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(0.5)
        self.lstm = nn.LSTMCell(embed_dim + encoder_dim, 512)
        self.init_h, self.init_c = nn.Linear(encoder_dim, 512), nn.Linear(encoder_dim, 512)
        self.f_beta = nn.Linear(512, encoder_dim)
        self.fc = nn.Linear(512, vocab_size)

    def forward(self, encoder_out: torch.Tensor, captions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = captions.shape[0], captions.shape[1] - 1
        embeddings = self.embedding(captions)
        mean = encoder_out.mean(dim=1)
        h, c = self.init_h(mean), self.init_c(mean)
        predictions = encoder_out.new_zeros(batch, steps, self.fc.out_features)
        alphas = encoder_out.new_zeros(batch, steps, encoder_out.shape[1])
        for t in range(steps):
            context, alpha = self.attention(encoder_out, h)
            context = torch.sigmoid(self.f_beta(h)) * context
            h, c = self.lstm(torch.cat([embeddings[:, t], context], dim=1), (h, c))
            predictions[:, t] = self.fc(self.dropout(h))
            alphas[:, t] = alpha
        return predictions, alphas


def random_resnet50(weights: Path, data: Path) -> None:
    """Save a randomly initialised torchvision ResNet-50 whose BatchNorm statistics are measured
    on 32 of the data set's images, so its features have a trained network's scale (mean |x|
    about 1). Raw random-init features are ~15x larger: they saturate the LSTM's gates, whose
    near-zero gradients are denormal floats that a CPU computes many times slower."""
    torch.manual_seed(0)
    model = resnet50(weights=None)
    pre = ImagePreprocessor()
    images = torch.stack([pre.load(p) for p in sorted((data / "flickr30k_images").glob("*.jpg"))[:32]])
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for batch in images.split(16):
            model(batch)
    torch.save(model.state_dict(), weights)


def load_256(path: str) -> np.ndarray:
    """The tutorial's HDF5 preprocessing: the whole image squashed to 256x256 RGB."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((256, 256)))


def run_baseline(
    data: Path,
    weights: Path,
    vocab: Vocabulary,
    batch_size: int,
    max_batches: int | None,
    device: torch.device,
    workers: int,
) -> dict[str, float]:
    """Time the tutorial-style loop over the epoch's first ``max_batches`` batches (all if None)."""
    corpus = load_corpus(data, seed=0)
    records = corpus.split("train")
    images = encode_records(records, vocab, range(len(records)))
    pairs = epoch_pairs(images, 1, 0, all_captions=True)
    batches = [pairs[lo : lo + batch_size] for lo in range(0, len(pairs), batch_size)]
    timed = batches[1 : 1 + max_batches] if max_batches else batches[1:]
    needed = sorted({i for batch in [batches[0], *timed] for i, _ in batch})
    start = time.perf_counter()
    with ProcessPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(load_256, [str(records[images[i].source].path) for i in needed], chunksize=32)
        pixels = dict(zip(needed, decoded, strict=True))
    print(
        f"baseline: decoded {len(needed)} images to 256x256 in {time.perf_counter() - start:.0f} s (untimed)"
    )

    resnet = resnet50(weights=None)
    resnet.load_state_dict(torch.load(weights, weights_only=True))
    encoder = nn.Sequential(*list(resnet.children())[:-2]).to(device).eval()
    torch.manual_seed(0)
    decoder = TutorialDecoder(len(vocab)).to(device).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=4e-4)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    rng = np.random.default_rng(0)

    def step(batch: list[tuple[int, int]]) -> float:
        x = torch.from_numpy(np.stack([pixels[i] for i, _ in batch])).to(device)
        top, left = (int(v) for v in rng.integers(0, 256 - 224 + 1, size=2))
        x = x[:, top : top + 224, left : left + 224].permute(0, 3, 1, 2).float().div(255)
        x = (x - mean) / std
        with torch.no_grad():
            encoder_out = encoder(x).flatten(2).transpose(1, 2)  # (B, 49, 2048)
        caps, lengths = pad_captions([images[i].captions[j] for i, j in batch])
        caps, lengths = caps.to(device), lengths.to(device)
        predictions, alphas = decoder(encoder_out, caps)
        mask = torch.arange(predictions.shape[1], device=device).unsqueeze(0) < (lengths - 1).unsqueeze(1)
        loss = F.cross_entropy(predictions[mask], caps[:, 1:][mask])
        loss = loss + ((1.0 - alphas.sum(dim=1)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
        optimizer.step()
        return loss.item()

    step(batches[0])  # warm-up: allocations, kernel selection
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    seconds = time.perf_counter() - start
    n = sum(len(b) for b in timed)
    return {
        "captions_per_s": n / seconds,
        "timed_batches": len(timed),
        "epoch_batches": len(batches),
        "timed_captions": n,
        "seconds": seconds,
        "extrapolated": len(timed) < len(batches) - 1,
        "epoch_seconds": len(pairs) / (n / seconds),
    }


# ------------------------------------------------------------------ ours


class Phases:
    """Wall-clock phase boundaries from ``train``'s progress reports."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last: dict[str, float] = {}
        self.epoch_ends: list[float] = []
        self.train_ends: list[float] = []  # each epoch's last training step
        self.train_batches = 0
        self.current = ""

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        self.last[p.stage] = now
        if p.stage == "epoch":
            self.epoch_ends.append(now)
            self.train_ends.append(self.last["train"])
            print(f"  epoch {p.done}: {now - self.start:.1f} s since start", file=sys.stderr)
        elif p.stage != self.current:
            print(f"  {p.stage}... ({now - self.start:.1f} s)", file=sys.stderr)
        if p.stage == "train" and p.total:
            self.train_batches = p.total
        self.current = p.stage


def run_ours(
    data: Path, weights: Path, work: Path, args: argparse.Namespace, epochs: int, train_captions: int
) -> dict[str, Any]:
    config = TrainConfig.from_flat(
        data_dir=data,
        out_dir=work / f"run-{time.time_ns()}",
        encoder="resnet50",
        pretrained=True,  # a frozen encoder from a local weights file: the cached-feature path
        encoder_weights=weights,
        epochs=epochs,
        batch_size=args.batch_size,
        all_captions=True,
        patience=epochs + 1,
        workers=args.workers,
        device=args.device,
        val_images=args.val_images,
        feature_cache=work / f"features-{time.time_ns()}",  # always extracted afresh, and timed
    )
    phases = Phases()
    result = train(config, on_progress=phases)
    total = time.perf_counter() - phases.start
    extract_end = phases.last["extract"]
    starts = [extract_end, *phases.epoch_ends[:-1]]  # epoch 1 starts when extraction ends
    loops = [end - start for start, end in zip(starts, phases.train_ends, strict=True)]
    validations = [end - start for start, end in zip(phases.train_ends, phases.epoch_ends, strict=True)]
    return {
        "setup_and_extract_seconds": extract_end - phases.start,
        "epoch_seconds": [a + b for a, b in zip(loops, validations, strict=True)],
        "train_loop_seconds": loops,
        "validation_seconds": validations,
        "total_seconds": total,
        "epochs": len(result.history),
        "train_batches_per_epoch": phases.train_batches,
        "train_captions_per_s": train_captions / loops[0],
        "captions_per_s_with_extraction": train_captions / (phases.train_ends[0] - phases.start),
    }


# ------------------------------------------------------------------ report


def data_summary(data: Path) -> tuple[dict[str, float], Vocabulary, int]:
    corpus = load_corpus(data, seed=0)
    vocab = build_vocabulary(corpus, min_freq=MIN_WORD_FREQ, max_len=MAX_LEN)
    lengths = [len(c.split()) - 1 for r in corpus.records for c in r.captions]  # minus the final " ."
    train_captions = sum(len(r.captions) for r in corpus.split("train"))
    summary = {
        "images": len(corpus.records),
        "captions": corpus.n_captions,
        "train_images": len(corpus.split("train")),
        "train_captions": train_captions,
        "val_images": len(corpus.split("val")),
        "vocabulary": len(vocab),
        "mean_words": statistics.fmean(lengths),
        "sd_words": statistics.pstdev(lengths),
        "max_words": max(lengths),
    }
    return summary, vocab, train_captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=int, default=200, help="images in the synthetic set (31783 = Flickr30k)"
    )
    parser.add_argument("--data", type=Path, help="reuse (or keep) the synthetic data set here")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--baseline-batches",
        type=int,
        help="time the baseline on this many batches and extrapolate (default: 3 on a CPU, the whole epoch on a GPU)",
    )
    parser.add_argument("--full-run", action="store_true", help="time our trainer alone for --epochs epochs")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--val-images", type=int, help="decode at most this many validation images per epoch")
    parser.add_argument("--workers", type=int, default=default_workers(), help="image decode workers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data set")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's; 1 on a machine shared with other jobs)",
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if not args.full_run and args.epochs != 1:
        parser.error("the comparison times one epoch; use --full-run for more")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    command = "python bench/train.py " + shlex.join(sys.argv[1:])
    print(f"device: {machine(device)}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="photoscribe-bench-train-") as tmp:
        work = Path(tmp)
        data = make_dataset(args.data or work / "data", args.images, args.seed, args.workers)
        summary, vocab, train_captions = data_summary(data)
        weights = work / "resnet50-random.pth"
        random_resnet50(weights, data)
        print(f"data: {json.dumps({k: round(v, 2) for k, v in summary.items()})}", file=sys.stderr)
        report: dict[str, object] = {
            "machine": machine(device),
            "date": date.today().isoformat(),
            "command": command,
            "data": summary,
            "batch_size": args.batch_size,
        }
        if args.full_run:
            ours = run_ours(data, weights, work, args, args.epochs, train_captions)
            report["ours"] = ours
            lines = full_run_table(ours)
        else:
            max_batches = args.baseline_batches or (None if device.type == "cuda" else 3)
            baseline = run_baseline(data, weights, vocab, args.batch_size, max_batches, device, args.workers)
            print(f"baseline: {baseline['captions_per_s']:.1f} captions/s", file=sys.stderr)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            ours = run_ours(data, weights, work, args, 1, train_captions)
            report |= {
                "baseline": baseline,
                "ours": ours,
                "speedup_train_loop": ours["train_captions_per_s"] / baseline["captions_per_s"],
                "speedup_with_extraction": ours["captions_per_s_with_extraction"]
                / baseline["captions_per_s"],
            }
            lines = comparison_table(report)
    header = [
        f"- Machine: {report['machine']}.",
        f"- Date: {report['date']}.",
        f"- Command: `{command}`",
        f"- Data: {summary['images']:,} images, {summary['captions']:,} captions ({summary['train_captions']:,} "
        f"in the train split, all five per image every epoch), vocabulary {summary['vocabulary']:,} words, "
        f"captions {summary['mean_words']:.1f} +- {summary['sd_words']:.1f} words (max {summary['max_words']}); "
        f"batch size {args.batch_size}.",
        "",
    ]
    print("\n".join(header + lines))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", "utf-8")


def comparison_table(report: dict) -> list[str]:
    base, ours = report["baseline"], report["ours"]
    if base["extrapolated"]:
        timed = (
            f"timed on {base['timed_batches']} of {base['epoch_batches']} batches after a warm-up batch, "
            f"extrapolated to the epoch"
        )
    else:
        timed = "the whole epoch after a warm-up batch"
    return [
        "| measurement (one epoch) | value |",
        "| --- | ---: |",
        f"| baseline, tutorial loop: captions/s ({timed}) | {base['captions_per_s']:.1f} |",
        f"| baseline: epoch seconds{' (extrapolated)' if base['extrapolated'] else ''} | {base['epoch_seconds']:.1f} |",
        f"| ours: setup + feature extraction (train and val images), s | {ours['setup_and_extract_seconds']:.1f} |",
        f"| ours: training loop, s | {ours['train_loop_seconds'][0]:.1f} |",
        f"| ours: training loop, captions/s | {ours['train_captions_per_s']:.1f} |",
        f"| ours: validation (teacher-forced loss, beam search, BLEU/CIDEr), s | {ours['validation_seconds'][0]:.1f} |",
        f"| ours: total (train() call), s | {ours['total_seconds']:.1f} |",
        f"| **speed-up, training loop** | **{report['speedup_train_loop']:.1f}x** |",
        f"| speed-up counting feature extraction in the epoch | {report['speedup_with_extraction']:.1f}x |",
    ]


def full_run_table(ours: dict) -> list[str]:
    def spread(values: list[float]) -> str:
        return f"{statistics.fmean(values):.1f} / {min(values):.1f} / {max(values):.1f}"

    epochs = ours["epoch_seconds"]
    return [
        f"| measurement ({ours['epochs']} epochs) | value |",
        "| --- | ---: |",
        f"| setup + feature extraction, s | {ours['setup_and_extract_seconds']:.1f} |",
        f"| training loop per epoch, s: mean / min / max | {spread(ours['train_loop_seconds'])} |",
        f"| validation per epoch, s: mean / min / max | {spread(ours['validation_seconds'])} |",
        f"| epoch (training loop + validation), s: mean / min / max | {spread(epochs)} |",
        f"| training loop, captions/s (epoch 1) | {ours['train_captions_per_s']:.1f} |",
        f"| **total wall time, min** | **{ours['total_seconds'] / 60:.1f}** |",
        "",
        "Per-epoch seconds: " + ", ".join(f"{s:.1f}" for s in epochs),
    ]


if __name__ == "__main__":
    main()

"""Captioning throughput, end to end: 12-megapixel JPEG files on disk -> captions.

Usage:
    python bench/caption.py [--images 96] [--encoder resnet50] [--device auto] [--out caption.json]

The benchmark writes its own photos: 4000x3000 JPEGs (quality 92, with camera EXIF, a
third of them portrait by EXIF orientation as phones store them) showing a sky, ground
and a few shapes under sensor noise, so they are the size of real camera files (about
3-5 MB). ``--unique`` distinct photos are written and hard-linked up to ``--images``
files (the page cache is warm either way).

It then times, in one run on the same machine:

(a) a naive baseline written here the way most tutorials do it: ``Image.open().convert("RGB")``
    (full-resolution decode), torchvision ``Resize(256)/CenterCrop/ToTensor/Normalize``,
    one encoder call and one beam search per image, float32;
(b) the project's pipeline, :class:`photoscribe.core.captioning.captioner.Captioner`: JPEG draft decoding
    in worker processes a few batches ahead, uint8 batches (pinned on CUDA) normalised on the
    device, channels-last encoder under bf16 autocast where the hardware has it, batched beam
    search over the whole batch;

and prints photos/s for both, the ratio, and the peak memory (PSS summed over the process and
its decode workers) of each. ``--ablations`` adds rows that switch one of (b)'s choices off.
Weights are random (speed does not depend on them); the vocabulary has 10,000 words like a
Flickr30k model.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from common import machine
from PIL import Image, ImageDraw, ImageFilter

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.captioning.device import pick_device
from photoscribe.core.captioning.loader import default_workers
from photoscribe.core.model.decoding import beam_search
from photoscribe.core.model.network import CaptionModel, ModelConfig
from photoscribe.core.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.paths import bundled_model_path

WIDTH, HEIGHT = 4000, 3000

# ------------------------------------------------------------------ photos


def make_photo(seed: int, path: Path) -> int:
    """Write one camera-like 12 MP JPEG; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    # Drawn at 1/4 scale and enlarged (smooth like a lens image), then sensor noise at full size.
    w, h = WIDTH // 4, HEIGHT // 4
    horizon = int(h * rng.uniform(0.35, 0.7))
    sky = rng.uniform(120, 230, 3)
    ground = rng.uniform(30, 160, 3)
    rows = np.linspace(0.0, 1.0, h)[:, None, None]
    canvas = np.where(
        np.arange(h)[:, None, None] < horizon,
        sky * (1.0 - 0.35 * rows),
        ground * (0.7 + 0.3 * rows),
    ) * np.ones((1, w, 1))
    small = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(small)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        x1, y1 = x0 + int(rng.integers(40, w // 3)), y0 + int(rng.integers(40, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    small = small.filter(ImageFilter.GaussianBlur(1.5))
    big = np.asarray(small.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.normal(0.0, 5.0, (HEIGHT, WIDTH, 1)).astype(np.int16)  # luminance noise
    pixels = (big + noise).clip(0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"  # Make, Model
    exif[0x0132] = f"2026:07:14 10:32:{seed % 60:02d}"  # DateTime
    exif[0x0112] = 6 if seed % 3 == 0 else 1  # Orientation: a third are portrait, rotated on display
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = exif[0x0132]  # DateTimeOriginal
    sub[0x829A], sub[0x829D], sub[0x8827], sub[0x920A] = 1 / 250, 4.0, 200, 35.0
    Image.fromarray(pixels).save(path, quality=92, exif=exif)
    return path.stat().st_size


def make_photos(folder: Path, n: int, unique: int) -> list[Path]:
    unique = max(1, min(unique, n))
    originals = [folder / f"IMG_{i:04d}.JPG" for i in range(unique)]
    with ProcessPoolExecutor(max(1, min(unique, os.cpu_count() or 1))) as pool:
        sizes = list(pool.map(make_photo, range(unique), originals))
    paths = list(originals)
    for i in range(unique, n):
        link = folder / f"IMG_{i:04d}.JPG"
        os.link(originals[i % unique], link)
        paths.append(link)
    print(f"photos: {n} files ({unique} distinct), {WIDTH}x{HEIGHT}, mean {np.mean(sizes) / 1e6:.1f} MB")
    return paths


# ------------------------------------------------------------------ memory


class PeakMemory:
    """Samples the proportional set size (PSS) of this process plus its children every 100 ms.

    PSS splits shared pages between the processes that map them, so worker processes that
    share torch's libraries are not counted several times over (Linux; elsewhere: RSS of this
    process only).
    """

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        kids: list[int] = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    kids += [int(c) for c in fh.read().split()]
        except OSError:
            pass
        return kids

    def sample(self) -> int:
        if not os.path.exists("/proc/self/smaps_rollup"):
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        todo, total = [os.getpid()], 0
        while todo:
            pid = todo.pop()
            total += self._pss_kib(pid)
            todo += self._children(pid)
        return total * 1024

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> PeakMemory:
        self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------ pipelines


def naive(model: CaptionModel, paths: list[Path], device: torch.device, beam: int) -> int:
    """The tutorial way: full decode, PIL transforms, one image at a time through everything."""
    transform = T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )
    done = 0
    for path in paths:
        image = Image.open(path).convert("RGB")
        x = transform(image).unsqueeze(0).to(device)
        with torch.no_grad():
            features = model.encode(x)
            hyps = beam_search(model.decoder, features, beam_size=beam, max_len=20)
        done += bool(hyps[0])
    return done


def ours(captioner: Captioner, paths: list[Path]) -> int:
    done = 0
    for results, failures in captioner.iter_batches(paths):
        assert not failures, failures
        done += len(results)
    return done


def nvjpeg(captioner: Captioner, paths: list[Path], batch_size: int, threads: int = 8) -> int:
    """Experiment (CUDA only): full-resolution decoding on the GPU with nvjpeg, resize there.

    Files are read by threads one batch ahead; ``torchvision.io.decode_jpeg(device="cuda")``
    decodes a batch at once; each image is resized (antialiased bilinear) and centre-cropped on
    the GPU, then goes through the same encoder and beam search. EXIF orientation is ignored
    here (the GPU decoder does not apply it), which flatters this path slightly.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    pre = captioner.preprocess
    s = pre.image_size

    def read(batch: list[Path]) -> list[torch.Tensor]:
        return [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in batch]

    batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    done = 0
    with ThreadPoolExecutor(threads) as pool:
        ahead = pool.submit(read, batches[0])
        for index, batch in enumerate(batches):
            data = ahead.result()
            if index + 1 < len(batches):
                ahead = pool.submit(read, batches[index + 1])
            start = time.perf_counter()
            crops = []
            for image in decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda"):
                h, w = image.shape[-2:]
                scale = pre.resize / min(h, w)
                size = (max(s, round(h * scale)), max(s, round(w * scale)))
                small = torch.nn.functional.interpolate(
                    image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
                )
                top, left = (size[0] - s) // 2, (size[1] - s) // 2
                crops.append(small[..., top : top + s, left : left + s])
            pixels = torch.cat(crops).round_().clamp_(0, 255).to(torch.uint8)
            done += len(captioner._caption(pixels, batch, start))
    return done


def measure(label: str, fn, n: int, sync: bool) -> dict:
    with PeakMemory() as mem:
        start = time.perf_counter()
        done = fn()
        if sync:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    assert done == n, f"{label}: {done} of {n} photos captioned"
    row = {
        "pipeline": label,
        "photos": n,
        "seconds": seconds,
        "photos_per_s": n / seconds,
        "peak_mib": mem.peak / 2**20,
    }
    print(
        f"  {label}: {row['photos_per_s']:.1f} photos/s ({n} photos, {seconds:.1f} s, peak {row['peak_mib']:.0f} MiB)"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96, help="photos for our pipeline")
    parser.add_argument("--baseline-images", type=int, default=24, help="photos for the naive baseline")
    parser.add_argument("--unique", type=int, default=16, help="distinct photos written (the rest are links)")
    parser.add_argument("--encoder", default="resnet50")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="decode workers (default: cores - 1)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ablations", action="store_true", help="also time (b) with one choice switched off")
    parser.add_argument("--photos-dir", type=Path, help="reuse (or keep) the generated photos here")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--default-model",
        action="store_true",
        help="also time the shipped default model (EfficientNet-Lite0 + its Flickr8k decoder), same photos",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of the default-model rows")
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    vocab = Vocabulary([f"w{i}" for i in range(9996)])
    config = ModelConfig(vocab_size=len(vocab), encoder=args.encoder, encoder_weights="checkpoint")
    model = CaptionModel(config).to(device).eval()
    sync = device.type == "cuda"
    print(f"device: {machine(device)}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.photos_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("IMG_*.JPG"))
        n_files = max(args.images * (4 if args.ablations else 1), args.baseline_images)
        paths = existing[:n_files] if len(existing) >= n_files else make_photos(folder, n_files, args.unique)

        rows = []
        naive(model, paths[:2], device, args.beam)  # warm-up: first calls allocate and pick kernels
        base_paths = paths[: args.baseline_images]
        rows.append(
            measure(
                "naive baseline", lambda: naive(model, base_paths, device, args.beam), len(base_paths), sync
            )
        )

        def run_ours(label: str, n: int = args.images, **options: object) -> None:
            options = {"workers": args.workers, "precision": args.precision, **options}
            with Captioner(
                model, vocab, device=device, beam_size=args.beam, batch_size=args.batch_size, **options
            ) as c:
                ours(c, paths[: args.batch_size])  # warm-up: starts the workers, picks kernels
                row = measure(label, lambda: ours(c, paths[:n]), n, sync)
                row["options"] = {k: v for k, v in options.items() if v is not None}
                rows.append(row)

        run_ours(f"photoscribe pipeline ({args.encoder}, {len(vocab):,} words)")
        if args.default_model:
            default = bundled_model_path()
            if default is None:
                raise SystemExit("the default model is not installed (resources/models/default.pt)")
            options = {"workers": args.workers, "precision": args.precision}
            with Captioner.load(
                default, device=device, beam_size=args.beam, batch_size=args.batch_size, **options
            ) as c:
                ours(c, paths[: args.batch_size])  # warm-up
                label = f"default model ({c.model.config.encoder}, {len(c.vocab):,} words)"
                # Keywords (the ImageNet classifier), the concept guard and the confidence are timed
                # by switching them off on the same loaded model, interleaved over --repeats runs so
                # a busy machine disturbs both alike; each row is the best of its runs.
                extras = (c.model.classifier, c.model.concepts, c.guard)
                full, bare = [], []
                for _ in range(args.repeats):
                    c.model.classifier, c.model.concepts, c.guard = extras
                    full.append(measure(label, lambda c=c: ours(c, paths[: args.images]), args.images, sync))
                    c.model.classifier, c.model.concepts, c.guard = None, None, False
                    bare.append(
                        measure(
                            "... without keywords, concept guard and confidence",
                            lambda c=c: ours(c, paths[: args.images]),
                            args.images,
                            sync,
                        )
                    )
                c.model.classifier, c.model.concepts, c.guard = extras
                best_full = max(full, key=lambda r: r["photos_per_s"])
                best_bare = max(bare, key=lambda r: r["photos_per_s"])
                rows += [best_full, best_bare]
                print(
                    f"keywords, guard and confidence cost "
                    f"{100 * (best_bare['photos_per_s'] / best_full['photos_per_s'] - 1):.1f} % of captioning time"
                )
        if args.ablations:
            run_ours("... on 4x as many photos (memory must not grow)", n=4 * args.images)
            run_ours("... encoder in float32", precision="fp32")
            run_ours("... plus torch.compile of the encoder", compile=True)
            if (args.workers or default_workers()) > 1:
                run_ours("... decoding in threads, not processes", processes=False)
                run_ours("... one decode worker", workers=1, processes=False)
            else:  # two cores: the default is already one decode thread beside the model
                run_ours("... decoding in a worker process, not a thread", workers=1, processes=True)
            if device.type == "cuda":
                with Captioner(
                    model, vocab, device=device, beam_size=args.beam, batch_size=args.batch_size
                ) as c:
                    nvjpeg(c, paths[: args.batch_size], args.batch_size)  # warm-up
                    rows.append(
                        measure(
                            "... JPEG decoding on the GPU (nvjpeg), not in worker processes",
                            lambda: nvjpeg(c, paths[: args.images], args.batch_size),
                            args.images,
                            sync,
                        )
                    )

    base, best = rows[0]["photos_per_s"], rows[1]["photos_per_s"]
    print()
    print(f"- Machine: {machine(device)}")
    print(f"- Date: {date.today().isoformat()}")
    print(f"- Command: `python bench/caption.py {' '.join(os.sys.argv[1:])}`")
    print()
    print("| pipeline | photos | photos/s | vs baseline | peak memory (MiB, PSS) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['pipeline']} | {row['photos']} | {row['photos_per_s']:.1f} | "
            f"{row['photos_per_s'] / base:.1f}x | {row['peak_mib']:.0f} |"
        )
    print(f"\nratio: {best / base:.1f}x")
    if args.out:
        args.out.write_text(
            json.dumps({"machine": machine(device), "rows": rows, "ratio": best / base}, indent=2)
        )


if __name__ == "__main__":
    main()

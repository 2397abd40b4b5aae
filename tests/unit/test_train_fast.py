"""The fast training path: packed decoder forward, length bucketing, feature-tensor batches."""

from __future__ import annotations

import functools
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from photoscribe.core.errors import CancelledError
from photoscribe.core.model.decoder import Decoder
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.data import (
    EncodedImage,
    FeatureBatches,
    bucket_batches,
    epoch_pairs,
    pad_captions,
)
from photoscribe.training.datasets import ImageRecord
from photoscribe.training.distributed import Ranks
from photoscribe.training.features import extract_features
from photoscribe.training.inputs import SplitInputs
from photoscribe.training.synth import generate_shapes
from photoscribe.training.train import TrainConfig, caption_loss, train
from tests.helpers import unpack


def _batch(
    seed: int = 0, deep_output: bool = False
) -> tuple[Decoder, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small decoder and an unsorted batch with lengths from 2 (<start> <end>) to 9."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    decoder = Decoder(
        30, feature_dim=12, embed_dim=8, hidden_dim=16, attention_dim=10, dropout=0.0, deep_output=deep_output
    )
    lengths = torch.tensor([5, 3, 9, 2, 9, 4, 7])
    captions = torch.randint(4, 30, (len(lengths), 11), generator=gen)
    captions[:, 0] = Vocabulary.start_id
    for i, n in enumerate(lengths.tolist()):
        captions[i, n - 1], captions[i, n:] = Vocabulary.end_id, 0
    return decoder, torch.randn(len(lengths), 6, 12, generator=gen), captions, lengths


def _stepwise(decoder: Decoder, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor):
    """Reference: every caption decoded on its own with ``Decoder.step``, padded with zeros."""
    steps = int(lengths.max()) - 1
    logits = torch.zeros(len(lengths), steps, decoder.vocab_size)
    alphas = torch.zeros(len(lengths), steps, features.shape[1])
    for i, n in enumerate(lengths.tolist()):
        state = decoder.init_state(features[i : i + 1])
        for t in range(n - 1):
            out, state, alpha = decoder.step(captions[i : i + 1, t], state, features[i : i + 1])
            logits[i, t], alphas[i, t] = out[0], alpha[0]
    return logits, alphas


def _padded_loss(logits, alphas, captions, lengths, alpha_c: float = 1.0) -> torch.Tensor:
    """The masked loss over padded outputs that training used before the packed path."""
    targets = captions[:, 1 : logits.shape[1] + 1]
    mask = torch.arange(logits.shape[1]).unsqueeze(0) < (lengths - 1).unsqueeze(1)
    reg = ((1.0 - alphas.sum(dim=1)) ** 2).mean()  # mean over captions and cells, as sgrvinod
    return F.cross_entropy(logits[mask], targets[mask]) + alpha_c * reg


@pytest.mark.parametrize("deep_output", [False, True])
def test_packed_forward_matches_stepwise_decoding_and_padded_loss(deep_output: bool) -> None:
    decoder, features, captions, lengths = _batch(deep_output=deep_output)
    ref_logits, ref_alphas = _stepwise(decoder, features, captions, lengths)
    out = decoder.forward_packed(features, captions, lengths)
    assert out.logits.shape == (int((lengths - 1).sum()), 30)
    assert out.batch_sizes.tolist() == [7, 6, 5, 4, 3, 3, 2, 2]
    torch.testing.assert_close(unpack(out, out.logits), ref_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(unpack(out, out.alphas), ref_alphas, atol=1e-6, rtol=1e-5)
    mask = torch.arange(8).unsqueeze(0) < (lengths - 1).unsqueeze(1)
    assert sorted(out.targets.tolist()) == sorted(captions[:, 1:9][mask].tolist())
    loss, _ = caption_loss(out.logits, out.targets, out.attention_totals(), alpha_c=1.0)
    torch.testing.assert_close(loss, _padded_loss(ref_logits, ref_alphas, captions, lengths))


@pytest.mark.parametrize("deep_output", [False, True])
def test_packed_loss_gradients_match_padded_loss_gradients(deep_output: bool) -> None:
    decoder, features, captions, lengths = _batch(seed=1, deep_output=deep_output)
    out = decoder.forward_packed(features, captions, lengths)
    caption_loss(out.logits, out.targets, out.attention_totals(), alpha_c=1.0)[0].backward()
    packed = {name: p.grad.clone() for name, p in decoder.named_parameters()}
    decoder.zero_grad()
    logits, alphas = _stepwise(decoder, features, captions, lengths)
    _padded_loss(logits, alphas, captions, lengths).backward()
    for name, p in decoder.named_parameters():
        torch.testing.assert_close(packed[name], p.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_attention_penalty_is_a_mean_over_grid_cells_on_the_per_token_scale() -> None:
    """Two captions over N = 49 cells: one attends uniformly for 49 steps (every cell's total is
    exactly 1, no penalty); the other looks at cell 0 for 49 steps (cell 0 totals 49, the other 48
    total 0): sum_i (1 - sum_t alpha_ti)^2 = 48^2 + 48 * 1 = 2352, i.e. 48 per cell. The mean over
    captions and cells is 24 (the old sum over cells gave 1176, 49x more)."""
    totals = torch.stack([torch.ones(49), torch.cat([torch.tensor([49.0]), torch.zeros(48)])])
    logits, targets = torch.zeros(1, 5), torch.tensor([0])
    loss, ce = caption_loss(logits, targets, totals, alpha_c=1.0)
    torch.testing.assert_close(loss - ce, torch.tensor(24.0))


def test_attention_penalty_weighs_against_cross_entropy_as_designed() -> None:
    """A 13-token caption that looks at one cell at every step, over 49 cells, with uniform logits
    over 5 words (cross-entropy ln 5 per token). Paper eq. 14 adds lambda * 192 (12^2 + 48 * 1^2)
    to the caption's summed NLL 13 ln 5: per token, 192 / 13 against ln 5. We add 192 / 49 per
    token: the paper's weight times T / N = 13 / 49, linear in alpha_c."""
    totals = torch.cat([torch.tensor([13.0]), torch.zeros(48)]).unsqueeze(0)
    logits, targets = torch.zeros(13, 5), torch.zeros(13, dtype=torch.long)
    for alpha_c in (0.0, 1.0, 3.0):
        loss, ce = caption_loss(logits, targets, totals, alpha_c=alpha_c)
        torch.testing.assert_close(ce, torch.tensor(math.log(5)))
        torch.testing.assert_close(loss - ce, torch.tensor(alpha_c * 192 / 49))
        paper_per_token = alpha_c * 192 / 13
        torch.testing.assert_close(loss - ce, torch.tensor(paper_per_token * 13 / 49))
    loss, ce = caption_loss(logits, targets, totals, alpha_c=1.0)
    assert (loss - ce) / ce < 3  # was 192 / ln 5 = 119x the cross-entropy before the fix


def _objects_batch(gen: torch.Generator, batch: int, n_cells: int = 49, dim: int = 16, colours: int = 8):
    """Features of a 7x7 grid of faint noise with three objects (a colour code each) in random
    cells, captioned with their colours in cell order: "<start> c1 c2 c3 <end>". The mean of the
    grid (the LSTM's initial state) gives the colours but not their order, so the decoder must
    look at the objects one by one. Returns (features, captions, lengths, object cells (B, 3))."""
    feats = 0.1 * torch.randn(batch, n_cells, dim, generator=gen)
    caps = torch.zeros(batch, 5, dtype=torch.long)
    caps[:, 0], caps[:, 4] = Vocabulary.start_id, Vocabulary.end_id
    cells = torch.stack([torch.randperm(n_cells, generator=gen)[:3].sort().values for _ in range(batch)])
    words = torch.randint(0, colours, (batch, 3), generator=gen)
    rows = torch.arange(batch).unsqueeze(1)
    feats[rows, cells, words] += 1.0
    caps[:, 1:4] = 4 + words
    return feats, caps, torch.full((batch,), 5), cells


def test_short_training_learns_attention_peaked_well_above_uniform() -> None:
    """With the penalty on the per-token scale, a few hundred steps on the objects grid end with
    each colour word's attention peaked on an object: peak weight >= 5x uniform (1/49) on average,
    and on an object's cell for most words. With the old sum over cells (49x stronger) the peak stayed
    near 3x uniform."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    decoder = Decoder(12, feature_dim=16, embed_dim=16, hidden_dim=64, attention_dim=32, dropout=0.0)
    opt = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    for _ in range(500):
        feats, caps, lengths, _ = _objects_batch(gen, 32)
        out = decoder.forward_packed(feats, caps, lengths)
        loss, _ = caption_loss(out.logits, out.targets, out.attention_totals(), alpha_c=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        feats, caps, lengths, cells = _objects_batch(torch.Generator().manual_seed(99), 64)
        out = decoder.forward_packed(feats, caps, lengths)
        alphas = unpack(out, out.alphas)[:, :3]  # (B, 3 colour words, 49)
    peak = alphas.max(dim=-1).values.mean() * 49
    # the most-attended cell of each colour word is one of the three objects (chance: 3 / 49)
    on_object = (alphas.argmax(dim=-1).unsqueeze(-1) == cells.unsqueeze(1)).any(dim=-1).float().mean()
    assert peak >= 5.0, f"attention peak only {peak:.1f}x uniform"
    assert on_object >= 0.8, f"only {on_object:.0%} of colour words attend to an object"


def test_deep_output_logits_see_the_word_embedding_and_the_context() -> None:
    """With the deep output layer the next-word logits change with the input word even for the
    same hidden state (they do not without it)."""
    for deep, expect_change in ((True, True), (False, False)):
        decoder, _, _, _ = _batch(deep_output=deep)
        decoder.eval()
        h, context = torch.randn(1, 16), torch.randn(1, 12)
        a = decoder.output(decoder.embedding(torch.tensor([5])), h, context)
        b = decoder.output(decoder.embedding(torch.tensor([6])), h, context)
        assert (not torch.allclose(a, b)) is expect_change


def test_forward_sorts_nothing_when_the_batch_is_longest_first() -> None:
    decoder, features, captions, lengths = _batch()
    order = torch.argsort(lengths, descending=True, stable=True)
    out = decoder.forward_packed(features[order], captions[order], lengths[order])
    assert out.sorted_indices is None
    unsorted = decoder.forward_packed(features, captions, lengths)
    torch.testing.assert_close(out.logits, unsorted.logits)
    # unsorted, the rows come back in the caller's order
    torch.testing.assert_close(unpack(unsorted, unsorted.logits)[order], unpack(out, out.logits))


def test_bucketing_covers_every_position_once_with_sorted_chunks() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 23, size=1000).tolist()
    batches = bucket_batches(lengths, batch_size=16, seed=3, epoch=2, chunk_batches=8)
    assert sorted(k for b in batches for k in b) == list(range(1000))
    assert [len(b) for b in batches].count(16) == len(batches) - 1  # one short batch at the end
    for b in batches:
        assert [lengths[k] for k in b] == sorted((lengths[k] for k in b), reverse=True)
        assert len({k // 128 for k in b}) == 1  # never mixes chunks (8 batches of 16)
    # within a chunk the batches tile the sorted lengths, so they barely overlap in length
    spread = np.mean([lengths[b[0]] - lengths[b[-1]] for b in batches])
    assert spread <= 3
    assert batches == bucket_batches(lengths, batch_size=16, seed=3, epoch=2, chunk_batches=8)
    assert batches != bucket_batches(lengths, batch_size=16, seed=3, epoch=3, chunk_batches=8)
    assert batches != bucket_batches(lengths, batch_size=16, seed=4, epoch=2, chunk_batches=8)


def _images(n: int) -> list[EncodedImage]:
    """Image i's caption j is <start> (4+i) (4+j) ... <end>, of varying length."""
    return [
        EncodedImage(i, tuple((1, 4 + i, 4 + j, *([5] * ((i + j) % 7)), 2) for j in range(5)))
        for i in range(n)
    ]


def test_feature_batches_equal_per_item_gather_and_padding() -> None:
    rng = np.random.default_rng(1)
    array = rng.normal(size=(12, 6, 8)).astype(np.float16)
    images = _images(10)
    images = [EncodedImage(img.source + 2, img.captions) for img in images]  # rows 0-1 unused
    store = FeatureBatches(torch.from_numpy(array), images, torch.device("cpu"))
    pairs = epoch_pairs(images, epoch=1, seed=0, all_captions=True)
    plan = store.plan(pairs, batch_size=8, seed=0, epoch=1)
    pair_of_row = {store.first[i] + j: (i, j) for i, j in pairs}
    seen = []
    for rows in plan:
        feats, caps, lengths = store.batch(rows)
        # what the per-item Dataset + collate path produced for the same pairs
        chosen = [pair_of_row[int(r)] for r in rows]
        ref_feats = torch.from_numpy(
            np.stack([np.asarray(array[images[i].source], np.float32) for i, _ in chosen])
        )
        ref_caps, ref_lengths = pad_captions([images[i].captions[j] for i, j in chosen])
        assert feats.dtype == torch.float32 and torch.equal(feats, ref_feats)
        assert torch.equal(caps, ref_caps) and torch.equal(lengths, ref_lengths)
        assert lengths.tolist() == sorted(lengths.tolist(), reverse=True)
        seen += chosen
    assert sorted(seen) == sorted(pairs)
    assert torch.equal(store.image_features([2, 5]), torch.from_numpy(array[[2, 5]]).float())


def test_an_epoch_uses_every_caption_of_every_image_by_default(
    tiny_model: CaptionModel, tmp_path: Path
) -> None:
    """The paper's and the baselines' epoch: all five captions of each image, once each."""
    records = [ImageRecord(f"{i}.jpg", tmp_path / f"{i}.jpg", ("x",) * 5, "train") for i in range(6)]
    cfg = TrainConfig(data_dir=tmp_path, out_dir=tmp_path, batch_size=4)
    assert cfg.all_captions
    inputs = SplitInputs(cfg, tiny_model, Vocabulary(["x"]), records)
    inputs.images = _images(6)
    features = torch.zeros(6, 2, 3, dtype=torch.float16)
    inputs.features = FeatureBatches(features, inputs.images, torch.device("cpu"))
    for epoch in (1, 2):
        _, batches = inputs.batches(epoch, 0, True, Ranks(), torch.device("cpu"), torch.float32)
        seen = [(int(c[1]) - 4, int(c[2]) - 4) for _, caps, _ in batches for c in caps]
        assert sorted(seen) == [(i, j) for i in range(6) for j in range(5)]


def test_ranks_get_equal_disjoint_shares_of_the_epoch(tiny_model: CaptionModel, tmp_path: Path) -> None:
    records = [ImageRecord(f"{i}.jpg", tmp_path / f"{i}.jpg", ("x",) * 5, "train") for i in range(11)]
    cfg = TrainConfig(data_dir=tmp_path, out_dir=tmp_path, batch_size=4, all_captions=True)
    inputs = SplitInputs(cfg, tiny_model, Vocabulary(["x"]), records)
    inputs.images = _images(11)  # 55 pairs: 27 per rank, one left out this epoch
    features = torch.arange(11, dtype=torch.float16).view(11, 1, 1).expand(11, 2, 3).contiguous()
    inputs.features = FeatureBatches(features, inputs.images, torch.device("cpu"))
    shares = []
    for rank in (0, 1):
        n, batches = inputs.batches(5, 0, True, Ranks(rank, 2), torch.device("cpu"), torch.float32)
        pairs = []
        for feats, caps, _ in batches:
            assert torch.equal(feats[:, 0, 0].long(), caps[:, 1] - 4)  # features match their captions
            pairs += [(int(c[1]) - 4, int(c[2]) - 4) for c in caps]
        assert n == 7 and len(pairs) == 27
        shares.append(set(pairs))
    assert not shares[0] & shares[1] and len(shares[0] | shares[1]) == 54


@pytest.mark.slow
def test_cached_feature_training_runs_and_its_loss_falls(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    data = generate_shapes(tmp_path / "shapes", 30, image_size=64, seed=4)
    weights = tmp_path / "resnet18-local.pth"
    torch.manual_seed(0)
    torch.save(resnet18(weights=None).state_dict(), weights)
    stages: list[str] = []
    result = train(
        TrainConfig.from_flat(
            data_dir=data,
            out_dir=tmp_path / "run",
            encoder="resnet18",
            encoder_weights=weights,
            encoder_grid=2,
            image_size=64,
            resize=72,
            embed_dim=32,
            hidden_dim=64,
            attention_dim=32,
            dropout=0.0,
            min_word_freq=1,
            epochs=3,
            batch_size=16,
            lr=3e-3,
            all_captions=True,
            workers=1,
            beam_size=1,
            feature_cache=tmp_path / "cache",
        ),
        on_progress=lambda p: stages.append(p.stage),
    )
    assert result.stop_reason == "completed" and "extract" in stages
    losses = [h.train_loss for h in result.history]
    assert all(math.isfinite(x) for x in losses)
    assert losses[2] < losses[1] < losses[0]
    assert math.isfinite(result.history[-1].val_loss)
    # every epoch's weights are kept (no optimiser state: small); last.pt alone can resume
    from photoscribe.core.model.checkpoint import load_checkpoint

    epochs = sorted(p.name for p in (tmp_path / "run").glob("epoch_*.pt"))
    assert epochs == ["epoch_01.pt", "epoch_02.pt", "epoch_03.pt"]
    assert load_checkpoint(tmp_path / "run" / "epoch_02.pt").training_state is None
    assert load_checkpoint(result.last_checkpoint).training_state is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_feature_batches_come_in_the_requested_dtype(dtype: torch.dtype) -> None:
    store = FeatureBatches(torch.ones(3, 2, 4, dtype=torch.float16), _images(3), torch.device("cpu"))
    rows = store.plan(epoch_pairs(_images(3), 1, 0, False), 2, 0, 1)[0]
    assert store.batch(rows, dtype)[0].dtype == dtype


def test_feature_extraction_resumes_after_cancel_and_skips_unreadable_files(
    tiny_model: CaptionModel, tmp_path: Path
) -> None:
    data = generate_shapes(tmp_path / "shapes", 9, image_size=64, seed=5)
    paths = sorted((data / "flickr30k_images").glob("*.jpg"))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    paths.insert(4, bad)
    cpu = torch.device("cpu")
    whole = extract_features(tiny_model, paths, tmp_path / "a", "t", device=cpu, batch_size=3, workers=1)
    assert list(whole.failed) == [str(bad)] and not whole.array[4].any()
    cancel = threading.Event()
    extract_b = functools.partial(
        extract_features, tiny_model, paths, tmp_path / "b", "t", device=cpu, batch_size=3, workers=1
    )
    with pytest.raises(CancelledError):
        extract_b(on_progress=lambda p: cancel.set() if p.done >= 6 else None, cancel=cancel)
    stages: list[int] = []
    resumed = extract_b(on_progress=lambda p: stages.append(p.done))
    assert stages == [9, 10]  # picked up after the two finished batches
    assert resumed.failed == whole.failed
    np.testing.assert_allclose(resumed.array, whole.array, atol=1e-2)


def test_a_flat_config_puts_the_model_fields_in_the_model(tmp_path: Path) -> None:
    """The retrain dialog's form and its advanced settings are one flat dict."""
    cfg = TrainConfig.from_flat(
        data_dir=tmp_path,
        out_dir=tmp_path / "run",
        encoder="resnet18",
        encoder_weights=tmp_path / "r18.pth",  # the run's weights file, not ModelConfig's "imagenet"
        image_size=96,
        hidden_dim=24,
        epochs=2,
    )
    assert (cfg.model.encoder, cfg.model.image_size, cfg.model.hidden_dim) == ("resnet18", 96, 24)
    assert cfg.model.resize_mode == "whole" and cfg.model.embed_dim == 300  # the training defaults
    assert cfg.encoder_weights == tmp_path / "r18.pth" and cfg.epochs == 2 and cfg.pretrained
    assert TrainConfig.from_flat(data_dir=tmp_path, out_dir=tmp_path, encoder="tinyresnet").stores_encoder
    with pytest.raises(TypeError, match="hiden_dim"):
        TrainConfig.from_flat(data_dir=tmp_path, out_dir=tmp_path, hiden_dim=24)


def test_label_smoothing_mixes_the_uniform_target_into_the_cross_entropy(tmp_path: Path) -> None:
    """With epsilon, the loss is (1 - eps) * NLL(target) + eps * mean over the V words of NLL(word);
    0 (the default) is plain cross-entropy. The command line passes --label-smoothing through."""
    from photoscribe.desktop.cli import build_parser
    from photoscribe.training.cli import train_config

    gen = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(6, 9, generator=gen), torch.randint(0, 9, (6,), generator=gen)
    totals = torch.ones(2, 4)
    nll = -torch.log_softmax(logits, dim=-1)
    plain = nll.gather(1, targets[:, None]).mean()
    _, ce = caption_loss(logits, targets, totals, alpha_c=1.0)
    torch.testing.assert_close(ce, plain)
    _, smoothed = caption_loss(logits, targets, totals, alpha_c=1.0, label_smoothing=0.1)
    torch.testing.assert_close(smoothed, 0.9 * plain + 0.1 * nll.mean())
    assert TrainConfig(data_dir=tmp_path, out_dir=tmp_path).label_smoothing == 0.0
    args = build_parser().parse_args(["train", "d", "--out", "r", "--label-smoothing", "0.1"])
    assert train_config(args).label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(data_dir=tmp_path, out_dir=tmp_path, label_smoothing=1.0)


def test_feature_cache_key_takes_file_names_that_are_not_utf8(
    tiny_model: CaptionModel, tmp_path: Path
) -> None:
    from photoscribe.training.features import cache_key

    latin1 = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.jpg"))
    utf8 = tmp_path / "café.jpg"
    assert cache_key(tiny_model, "t", [latin1]) != cache_key(tiny_model, "t", [utf8])

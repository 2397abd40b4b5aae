"""Training the encoder online: frozen batch norms, augmentation as at inference, one set of
loader workers for the whole run, validation decoded in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from photoscribe.core.model.encoder import Encoder
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.training.data import ImagePairs, augment_seed
from photoscribe.training.datasets import ImageRecord
from photoscribe.training.distributed import Ranks
from photoscribe.training.inputs import SplitInputs
from photoscribe.training.train import TrainConfig, _TeacherForced, caption_loss
from tests.helpers import tiny_config


def _bns(modules: list[torch.nn.Module]) -> list[torch.nn.BatchNorm2d]:
    return [m for mod in modules for m in mod.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("name", ["tinyresnet", "efficientnet-lite0"])
def test_a_training_step_leaves_frozen_stages_batch_norm_statistics_alone(name: str) -> None:
    torch.manual_seed(0)
    vocab = Vocabulary(["a", "b"])
    model = CaptionModel(tiny_config(len(vocab), encoder=name))
    model.encoder.fine_tune(1)  # last stage trains, the rest is frozen
    model.train()
    stages = model.encoder._blocks()
    frozen_modules = [m for stage in stages[:-1] for m in stage]
    frozen_modules.append(next(iter(model.encoder.body.children())))  # the stem
    frozen = _bns(frozen_modules)
    trained = _bns(stages[-1])
    assert frozen and trained
    before = [bn.running_mean.clone() for bn in frozen + trained]
    net = _TeacherForced(model.decoder, model.encoder)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    captions = torch.tensor([[1, 4, 5, 2], [1, 5, 4, 2]])
    logits, targets, totals = net(torch.randn(2, 3, 64, 64) * 3 + 1, captions, [4, 4])
    caption_loss(logits, targets, totals, 1.0)[0].backward()
    opt.step()
    for bn, old in zip(frozen, before, strict=False):
        assert not bn.training
        assert torch.equal(bn.running_mean, old)
    assert all(bn.training for bn in trained)
    assert any(
        not torch.equal(bn.running_mean, old) for bn, old in zip(trained, before[len(frozen) :], strict=True)
    )


def test_fine_tune_after_train_mode_refreezes_batch_norms() -> None:
    enc = Encoder("tinyresnet").train()
    enc.fine_tune(5)
    assert all(m.training for m in enc.modules())
    enc.fine_tune(0)
    assert not any(m.training for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d))


def _wide_photo(path: Path) -> Path:
    """A 2:1 photo: a red left third, a blue right third, a gray ramp between them."""
    x = np.zeros((60, 120, 3), np.uint8)
    x[:, :, :] = np.linspace(60, 200, 120, dtype=np.uint8)[None, :, None]
    x[:, :40] = (200, 30, 30)
    x[:, 80:] = (30, 30, 200)
    Image.fromarray(x).save(path)
    return path


@pytest.mark.parametrize("mode", ["whole", "crop"])
def test_augmentation_keeps_the_inference_view_of_the_whole_photo(tmp_path: Path, mode: str) -> None:
    """Each augmented image is the photo as captioning sees it (the model's resize mode),
    possibly mirrored, with brightness and contrast changed a little: never a crop of it."""
    vocab = Vocabulary(["left", "right", "red"])
    model = CaptionModel(tiny_config(len(vocab), resize_mode=mode, image_size=64, resize=72))
    pre = model.preprocessor()
    path = _wide_photo(tmp_path / "wide.png")
    left, right, red = (vocab.stoi[w] for w in ("left", "right", "red"))
    caption = (1, red, left, right, 2)
    from photoscribe.training.data import EncodedImage

    pairs = ImagePairs([str(path)], [EncodedImage(0, (caption,))], pre, vocab)
    reference = pre.load(path)
    flips = 0
    for k in range(12):
        x, cap = pairs[(0, 0, augment_seed(0, 1, k))]
        assert x.shape == reference.shape
        flipped = cap != caption
        flips += flipped
        assert cap == ((1, red, right, left, 2) if flipped else caption)
        view = x.flip(-1) if flipped else x
        corr = np.corrcoef(view.flatten().numpy(), reference.flatten().numpy())[0, 1]
        assert corr > 0.98, f"augmented image {k} is not the inference view (r = {corr:.3f})"
    assert 0 < flips < 12
    x, cap = pairs[(0, 0, -1)]
    assert torch.equal(x, reference) and cap == caption


def _split(tmp_path: Path, n: int, workers: int, batch_size: int = 4) -> tuple[SplitInputs, CaptionModel]:
    vocab = Vocabulary(["x", "y"])
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(len(vocab))).eval()
    records = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((40, 50, 3), 20 * i, np.uint8)).save(path)
        records.append(ImageRecord(f"{i}.png", path, ("x y",) * (1 + i % 2), "train"))
    cfg = TrainConfig(
        data_dir=tmp_path, out_dir=tmp_path, batch_size=batch_size, workers=workers, pretrained=False
    )
    return SplitInputs(cfg, model, vocab, records), model


def test_one_persistent_loader_serves_every_epoch_with_its_own_pairs(tmp_path: Path) -> None:
    inputs, _ = _split(tmp_path, 6, workers=1)
    cpu = torch.device("cpu")
    seen = []
    for epoch in (1, 2):
        n, batches = inputs.batches(epoch, 0, True, Ranks(), cpu, torch.float32)
        rows = [(float(x[k, 0, 0, 0]), tuple(c[k].tolist())) for x, c, _ in batches for k in range(len(c))]
        assert n == 3 and len(rows) == 9  # 6 images, 9 captions, batches of 4
        seen.append(rows)
    loader, _ = inputs._file_loader(cpu)
    assert loader.persistent_workers and loader.num_workers == 1
    assert inputs._file_loader(cpu)[0] is loader  # made once, reused by every epoch
    assert seen[0] != seen[1] and sorted(seen[0]) != sorted(seen[1])  # reshuffled, reaugmented


def test_validation_images_are_encoded_in_batches_equal_to_one_at_a_time(tmp_path: Path) -> None:
    inputs, model = _split(tmp_path, 7, workers=0, batch_size=3)
    calls: list[int] = []
    encode = model.encode
    model.encode = lambda x: calls.append(len(x)) or encode(x)  # type: ignore[method-assign]
    out = list(inputs.image_batches(torch.device("cpu")))
    assert calls == [3, 3, 1]
    pre = model.preprocessor()
    for chunk, feats in out:
        for img, f in zip(chunk, feats, strict=True):
            one = encode(pre.load(inputs.paths[img.source]).unsqueeze(0))[0]
            torch.testing.assert_close(f, one, atol=1e-5, rtol=1e-4)

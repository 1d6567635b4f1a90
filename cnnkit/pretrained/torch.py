"""Pretrained ImageNet models for PyTorch: torchvision's own, through its weights enums.

The same names as ``cnnkit.pretrained.keras``. ``mobilenet_v2(weights="imagenet")`` is the genuine
``torchvision.models.mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)``: it reads
torchvision's file from ``$TORCH_HOME/hub/checkpoints`` (the tests seed it there) or downloads it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnnkit.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Base,
    Classifier,
    check_num_blocks,
    check_num_classes,
    check_weights,
    decode_predictions,
)

__all__ = [
    "extract_features",
    "frozen_classifier",
    "imagenet_classifier",
    "mobilenet_v2",
    "preprocess_input",
    "transfer_base",
    "unfreeze_top",
]  # FrozenClassifier too: the class frozen_classifier builds


def preprocess_input(images):
    """Pixels in [0, 255], ``(batch, 3, height, width)`` → torchvision's ImageNet normalization.

    The same arithmetic as ``cnnkit.pretrained.keras.preprocess_input``, in PyTorch's layout.
    ``weights.transforms()`` does it too, after resizing and cropping.
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(
            f"images must be (batch, 3, height, width) or (3, height, width), got {tuple(images.shape)}"
        )
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (images / 255.0 - mean.to(images.device)) / std.to(images.device)


def mobilenet_v2(*, weights: str | None = "imagenet", include_top: bool = True):
    """torchvision's MobileNetV2; ``weights="imagenet"`` loads ``MobileNet_V2_Weights.IMAGENET1K_V1``.

    With the top, the model outputs 1,000 logits (apply a softmax for probabilities: PyTorch's losses
    take logits). Without it, ``model.features``: feature maps ``(batch, 1280, height / 32, width / 32)``.
    """
    from torchvision.models import MobileNet_V2_Weights
    from torchvision.models import mobilenet_v2 as torchvision_mobilenet_v2

    check_weights(weights)
    enum = MobileNet_V2_Weights.IMAGENET1K_V1 if weights == "imagenet" else None
    model = torchvision_mobilenet_v2(weights=enum)
    return model if include_top else model.features


def imagenet_classifier() -> Classifier:
    """torchvision's MobileNetV2 with its ImageNet weights (the same online and offline).

    Its ``preprocess_input`` is this module's; ``MobileNet_V2_Weights.IMAGENET1K_V1.transforms()``
    also resizes and crops a photo before the same normalization.
    """
    return Classifier(
        mobilenet_v2().eval(), preprocess_input, decode_predictions, 224,
        "torchvision.models.mobilenet_v2 with MobileNet_V2_Weights.IMAGENET1K_V1",
    )  # fmt: skip


def transfer_base(weights: str | None = "imagenet") -> Base:
    """The base of transfer learning: torchvision's MobileNetV2 without its top (the same offline).

    ``base.random()`` builds the same architecture with random weights; ``weights=None`` returns it.
    """
    check_weights(weights)
    return Base(mobilenet_v2(weights=weights, include_top=False), preprocess_input,
                lambda: mobilenet_v2(weights=None, include_top=False),
                f"torchvision.models.mobilenet_v2 with {'MobileNet_V2_Weights.IMAGENET1K_V1' if weights else 'random weights'}")  # fmt: skip


class FrozenClassifier(nn.Module):
    """A new classifier on a frozen pretrained base: base → global average pooling → linear head.

    The base's parameters do not train (``requires_grad_(False)``) and the base stays in eval mode
    even when the model is put in training mode, so that its BatchNorm layers keep normalizing with
    their ImageNet statistics (Keras's ``training=False``), also after ``unfreeze_top``. The head
    outputs logits.
    """

    def __init__(self, base: nn.Module, num_classes: int):
        super().__init__()
        check_num_classes(num_classes)
        with torch.no_grad():
            num_features = base.eval()(torch.zeros(1, 3, 64, 64)).shape[1]
        self.base = base.requires_grad_(False)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, images):  # (batch, 3, height, width)
        return self.head(self.pool(self.base(images)))

    def train(self, mode: bool = True):
        super().train(mode)
        self.base.eval()  # BatchNorm keeps ImageNet's statistics (and dropout, if any, stays off)
        return self


def frozen_classifier(base, num_classes: int) -> FrozenClassifier:
    """The same as ``FrozenClassifier(base, num_classes)``: the name Keras's version has."""
    return FrozenClassifier(base, num_classes)


def unfreeze_top(model: FrozenClassifier, num_blocks: int) -> int:
    """Make the convolutions of the last ``num_blocks`` blocks of the base trainable.

    For MobileNetV2's ``features`` the blocks are the 17 inverted residual blocks and the last
    1 × 1 convolution. BatchNorm layers stay frozen entirely (the base stays in eval mode and their
    scale and offset do not train), as in Keras's version. Returns the number of trainable
    parameters of the base.
    """
    if not isinstance(model, FrozenClassifier):
        raise TypeError(f"model must be a FrozenClassifier, got {type(model).__name__}")
    blocks = list(model.base.children())
    limit = len(blocks) - 1  # the first block (the stem) stays frozen, as in Keras's version
    check_num_blocks(num_blocks, limit)
    model.base.requires_grad_(False)
    for block in blocks[len(blocks) - num_blocks :] if num_blocks else []:
        for module in block.modules():
            if isinstance(module, nn.Conv2d):
                module.requires_grad_(True)
    return sum(p.numel() for p in model.base.parameters() if p.requires_grad)


def extract_features(model, batches):
    """Run ``model`` over ``(images, labels)`` batches in eval mode: ``(outputs, labels)`` arrays.

    The images go to the device of the model's parameters; the outputs come back to the CPU.
    """
    device = next(model.parameters()).device
    model.eval()
    features, labels = [], []
    with torch.no_grad():
        for images, targets in batches:
            features.append(model(images.to(device)).cpu().numpy())
            labels.append(np.asarray(targets))
    if not features:
        raise ValueError("batches yielded nothing")
    return np.concatenate(features), np.concatenate(labels)

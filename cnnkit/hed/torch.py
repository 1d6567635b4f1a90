"""HED's VGG16 in PyTorch (``cnnkit.hed.keras``: the same names in Keras). Images ``(batch, channels,
height, width)``.

- ``vgg16_features``: ``torchvision.models.vgg16().features`` filled with HED's weights (ImageNet
  VGG16 retrained for edges: not pure ImageNet) or with random weights;
- ``feature_extractor``: a module giving the outputs of named layers (Keras's names, e.g.
  ``block4_conv2``) of any torchvision VGG's ``features``;
- ``hed``: the whole edge detector, side outputs at strides 1 to 16, upsampled and fused;
- ``preprocess``: RGB in [0, 1] to HED's input (BGR in 0-255 minus ``cnnkit.hed.MEAN_BGR``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from cnnkit.hed import BLOCKS, FUSE, MEAN_BGR, SIDE_OUTPUTS, SIDE_SOURCES, load_weights

__all__ = ["feature_extractor", "hed", "preprocess", "vgg16_features"]


def layer_indices(features: nn.Sequential) -> dict[str, int]:
    """Keras's layer names of a torchvision VGG ``features`` stack → the index of that output.

    A convolution's output is taken after its ReLU, as in Keras, where the ReLU is part of the layer.
    """
    indices, block, conv = {}, 1, 0
    for index, module in enumerate(features):
        if isinstance(module, nn.Conv2d):
            conv += 1
            indices[f"block{block}_conv{conv}"] = index + 1  # the ReLU that follows
        elif isinstance(module, nn.MaxPool2d):
            indices[f"block{block}_pool"] = index
            block, conv = block + 1, 0
    return indices


def _fill(convs, names, weights: dict) -> None:
    with torch.no_grad():
        for conv, name in zip(convs, names, strict=True):
            kernel, bias = weights[name]
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))  # HWIO → OIHW
            conv.bias.copy_(torch.from_numpy(bias))


def _convs(features: nn.Sequential) -> list[nn.Conv2d]:
    return [module for module in features if isinstance(module, nn.Conv2d)]


def vgg16_features(weights: str = "hed", seed: int = 0) -> nn.Sequential:
    """VGG16's convolutional stack (torchvision) with HED's weights, or random ones (``seed``).

    The input is preprocessed (``preprocess``), of any size; the last pool is at stride 32. Returned
    in evaluation mode.
    """
    features = torchvision.models.vgg16().features
    _fill(
        _convs(features), [name for block in BLOCKS for name in block], load_weights(weights, seed)
    )
    return features.eval()


class _Extractor(nn.Module):
    def __init__(self, features: nn.Sequential, layer_names: list[str]):
        super().__init__()
        indices = layer_indices(features)
        missing = [name for name in layer_names if name not in indices]
        if not layer_names or missing:
            raise ValueError(f"layer_names must name layers of the VGG stack; unknown: {missing}")
        self.taps = [indices[name] for name in layer_names]
        self.features = features[: max(self.taps) + 1]  # nothing after the last layer asked for

    def forward(self, x):
        found = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                found[index] = x
        return [found[index] for index in self.taps]


def feature_extractor(features: nn.Sequential, layer_names) -> nn.Module:
    """A module from ``features``' input to the outputs of ``layer_names`` (a list, in that order).

    Works with any torchvision VGG's ``features`` (``block4_conv2``, ``block3_pool``, ...).
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    return _Extractor(features, names)


def preprocess(images):
    """RGB images with values in [0, 1] → HED's (and Caffe VGG's) input: BGR × 255 minus the mean."""
    images = torch.as_tensor(images, dtype=torch.float32)
    mean = torch.tensor(MEAN_BGR, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return images.flip(1) * 255.0 - mean


class _HED(nn.Module):
    def __init__(self, logits: bool):
        super().__init__()
        self.features = torchvision.models.vgg16().features[:30]  # HED has no fifth pool
        for module in self.features:
            if isinstance(module, nn.MaxPool2d):
                module.ceil_mode = True  # as Keras's padding="same" for a 2 × 2 pool, stride 2
        indices = layer_indices(self.features)
        self.taps = [indices[name] for name in SIDE_SOURCES]
        channels = [self.features[index - 1].out_channels for index in self.taps]
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in channels)
        self.fuse = nn.Conv2d(len(self.sides), 1, 1)
        self.logits = logits

    def forward(self, x):
        size, sides = x.shape[-2:], []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                side = self.sides[len(sides)](x)
                if sides:  # strides 2 to 16: back to the input's size
                    side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
                sides.append(side)
        outputs = [*sides, self.fuse(torch.cat(sides, dim=1))]
        return outputs if self.logits else [torch.sigmoid(output) for output in outputs]


def hed(weights: str = "hed", seed: int = 0, logits: bool = False) -> nn.Module:
    """The HED network: a preprocessed batch → 6 edge maps ``(batch, 1, height, width)``.

    The maps are the five side outputs (strides 1, 2, 4, 8, 16, each upsampled bilinearly to the
    input's size) and their fusion, as probabilities (sigmoid) or, with ``logits``, before it. Pools
    round up (``ceil_mode``), so every input size works. Returned in evaluation mode.
    """
    model = _HED(logits)
    arrays = load_weights(weights, seed)
    names = [name for block in BLOCKS for name in block]
    _fill(
        [*_convs(model.features), *model.sides, model.fuse], [*names, *SIDE_OUTPUTS, FUSE], arrays
    )
    return model.eval()

"""Building blocks of chapter 4 as PyTorch modules: residual and bottleneck units, SE block,
inception module, separable convolution and local response normalization (``cnnkit.blocks.keras``:
the same as Keras layers; there ``keras.layers.SeparableConv2D`` is Keras's own).

Each block takes the number of input channels first (as ``nn.Conv2d`` does). Convolutions followed
by batch normalization have no bias. Inputs and outputs are (batch, channels, height, width).
Importing this module imports PyTorch.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit._checks import non_negative_int, positive_int_args
from cnnkit.blocks import inception_filters

__all__ = [
    "BottleneckUnit",
    "InceptionModule",
    "LocalResponseNormalization",
    "ResidualUnit",
    "SEBlock",
    "SeparableConv2D",
    "batch_norm",
    "count_parameters",
]


def batch_norm(num_features: int, **kwargs) -> nn.BatchNorm2d:
    """``nn.BatchNorm2d`` with the defaults ``cnnkit.blocks.keras.batch_norm`` gives Keras (PyTorch's
    own: momentum 0.1, epsilon 1e-5), written out so that the two visibly agree.
    """
    return nn.BatchNorm2d(num_features, **{"momentum": 0.1, "eps": 1e-5, **kwargs})


def count_parameters(model) -> dict:
    """Trainable and non-trainable values of a module, and their total.

    Non-trainable values are frozen parameters plus floating-point buffers (BatchNorm's running
    mean and variance, Keras's "moving" statistics); the integer batch counter is left out.
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    frozen += sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def _projection(in_channels, out_channels, strides):
    """The skip path: identity, or 1×1 conv + BN when the size or the depth changes."""
    if strides == 1 and in_channels == out_channels:
        return nn.Sequential()  # an empty Sequential returns its input
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=strides, bias=False),
        batch_norm(out_channels),
    )


class _Residual(nn.Module):
    """``main`` plus the ``skip`` path, added, then ReLU."""

    def forward(self, inputs):
        return nn.functional.relu(self.main(inputs) + self.skip(inputs))


class ResidualUnit(_Residual):
    """ResNet's basic unit: conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the skip path, then ReLU.

    The skip path is the identity, or a 1×1 convolution with the unit's stride followed by BN
    when the unit changes the map size or depth.
    """

    def __init__(self, in_channels: int, filters: int, strides: int = 1):
        super().__init__()
        in_channels, filters, strides = positive_int_args(
            in_channels=in_channels, filters=filters, strides=strides
        )
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, filters, 3, stride=strides, padding=1, bias=False),
            batch_norm(filters),
            nn.ReLU(),
            nn.Conv2d(filters, filters, 3, padding=1, bias=False),
            batch_norm(filters),
        )
        self.skip = _projection(in_channels, filters, strides)


class BottleneckUnit(_Residual):
    """The unit of deeper ResNets: 1×1 (filters) → 3×3 (filters) → 1×1 (filters · expansion), with BN.

    ReLU follows the first two BNs and the addition; the stride sits on the 3×3 convolution. The
    skip path is projected (1×1 conv + BN) when the size or depth changes.
    """

    def __init__(self, in_channels: int, filters: int, strides: int = 1, expansion: int = 4):
        super().__init__()
        in_channels, filters, strides, expansion = positive_int_args(
            in_channels=in_channels, filters=filters, strides=strides, expansion=expansion
        )
        out_channels = filters * expansion
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, filters, 1, bias=False),
            batch_norm(filters),
            nn.ReLU(),
            nn.Conv2d(filters, filters, 3, stride=strides, padding=1, bias=False),
            batch_norm(filters),
            nn.ReLU(),
            nn.Conv2d(filters, out_channels, 1, bias=False),
            batch_norm(out_channels),
        )
        self.skip = _projection(in_channels, out_channels, strides)


class SEBlock(nn.Module):
    """Squeeze-and-excitation: global average pool → dense (channels // ratio, ReLU) → dense
    (channels, sigmoid) → multiply each map by its weight. Output shape = input shape.
    """

    def __init__(self, channels: int, ratio: int = 16):
        super().__init__()
        channels, ratio = positive_int_args(channels=channels, ratio=ratio)
        self.squeeze = nn.Linear(channels, max(1, channels // ratio))
        self.excite = nn.Linear(max(1, channels // ratio), channels)

    def forward(self, inputs):
        weights = inputs.mean(dim=(2, 3))  # (batch, channels)
        weights = self.excite(self.squeeze(weights).relu()).sigmoid()
        return inputs * weights[:, :, None, None]


class InceptionModule(nn.Module):
    """GoogLeNet's module: four branches concatenated along the depth, all stride 1, "same", ReLU.

    Branches: 1×1; 1×1 → 3×3; 1×1 → 5×5; max pool 3×3 → 1×1. Output depth:
    ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool``.
    """

    def __init__(
        self,
        in_channels: int,
        filters_1x1: int,
        filters_3x3_reduce: int,
        filters_3x3: int,
        filters_5x5_reduce: int,
        filters_5x5: int,
        filters_pool: int,
    ):
        super().__init__()
        (c,) = positive_int_args(in_channels=in_channels)
        n = inception_filters(
            filters_1x1,
            filters_3x3_reduce,
            filters_3x3,
            filters_5x5_reduce,
            filters_5x5,
            filters_pool,
        )

        def conv(inputs, filters, size):
            return [nn.Conv2d(inputs, filters, size, padding=size // 2), nn.ReLU()]

        self.branches = nn.ModuleList(
            [
                nn.Sequential(*conv(c, n["filters_1x1"], 1)),
                nn.Sequential(
                    *conv(c, n["filters_3x3_reduce"], 1),
                    *conv(n["filters_3x3_reduce"], n["filters_3x3"], 3),
                ),
                nn.Sequential(
                    *conv(c, n["filters_5x5_reduce"], 1),
                    *conv(n["filters_5x5_reduce"], n["filters_5x5"], 5),
                ),
                nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *conv(c, n["filters_pool"], 1)),
            ]
        )

    def forward(self, inputs):
        return torch.cat([branch(inputs) for branch in self.branches], dim=1)


class SeparableConv2D(nn.Module):
    """Depthwise separable convolution, as Keras's ``SeparableConv2D``: one k×k filter per input
    channel (no bias), then a 1×1 convolution across channels (with bias if ``use_bias``).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding="valid",
        use_bias: bool = True,
    ):
        super().__init__()
        in_channels, filters, kernel_size = positive_int_args(
            in_channels=in_channels, filters=filters, kernel_size=kernel_size
        )
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel_size, stride=strides, padding=padding,
            groups=in_channels, bias=False,
        )  # fmt: skip
        self.pointwise = nn.Conv2d(in_channels, filters, 1, bias=use_bias)

    def forward(self, inputs):
        return self.pointwise(self.depthwise(inputs))


class LocalResponseNormalization(nn.LocalResponseNorm):
    """LRN with TensorFlow's parameters, mapped onto ``nn.LocalResponseNorm``.

    TF sums over ``depth_radius`` maps on each side and multiplies by ``alpha``; PyTorch's window
    has ``size = 2 · depth_radius + 1`` maps and divides its alpha by ``size``, so PyTorch's alpha
    is ``alpha · size``.
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5):
        depth_radius = non_negative_int(depth_radius, "depth_radius")
        size = 2 * depth_radius + 1
        super().__init__(size=size, alpha=alpha * size, beta=beta, k=bias)
        self.depth_radius = depth_radius

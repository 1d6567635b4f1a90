"""Whole networks of chapter 4 in PyTorch: the Fashion-MNIST CNN and ResNets built from
``cnnkit.blocks.torch`` (``cnnkit.models.keras``: the same networks in Keras), and ``summary``, a
Keras-style table of a module. The builders take the number of input channels; the models return
logits (no softmax), as ``nn.CrossEntropyLoss`` expects. Inputs are (batch, channels, height, width).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.blocks.torch import BottleneckUnit, ResidualUnit, batch_norm, count_parameters
from cnnkit.models import resnet_units

__all__ = ["fashion_mnist_cnn", "resnet", "resnet34", "resnet50", "summary"]


def fashion_mnist_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """The chapter's CNN for 28×28 images: conv 64 7×7, then two pairs of 3×3 convs (128, 256), a
    pool after each stage, and a dense top (128, 64) with 50 % dropout. 1,413,834 parameters.
    """

    def conv(inputs, filters, size=3):
        return [nn.Conv2d(inputs, filters, size, padding="same"), nn.ReLU()]

    return nn.Sequential(
        *conv(in_channels, 64, 7),
        nn.MaxPool2d(2),  # 28×28 → 14×14
        *conv(64, 128),
        *conv(128, 128),
        nn.MaxPool2d(2),  # → 7×7
        *conv(128, 256),
        *conv(256, 256),
        nn.MaxPool2d(2),  # → 3×3
        nn.Flatten(),
        nn.Linear(256 * 3 * 3, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(64, num_classes),
    )


def resnet(
    stage_sizes, bottleneck: bool = False, num_classes: int = 1000, in_channels: int = 3
) -> nn.Sequential:
    """A ResNet: stem (conv 64 7×7 stride 2, BN, ReLU, max pool 3×3 stride 2), then
    ``stage_sizes[i]`` units of ``cnnkit.models.STAGE_FILTERS[i]`` filters, stride 2 whenever the
    filter count changes; global average pooling and a dense head (logits).
    """
    units = resnet_units(stage_sizes)
    layers = [
        nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
        batch_norm(64),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    unit, expansion = (BottleneckUnit, 4) if bottleneck else (ResidualUnit, 1)
    channels = 64
    for filters, strides in units:
        layers.append(unit(channels, filters, strides))
        channels = filters * expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def resnet34(num_classes: int = 1000, in_channels: int = 3) -> nn.Sequential:
    """ResNet-34: 3, 4, 6 and 3 residual units of 64, 128, 256 and 512 filters."""
    return resnet((3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels)


def resnet50(num_classes: int = 1000, in_channels: int = 3) -> nn.Sequential:
    """ResNet-50: the same stages with bottleneck units (outputs 256, 512, 1,024, 2,048 deep)."""
    return resnet((3, 4, 6, 3), bottleneck=True, num_classes=num_classes, in_channels=in_channels)


def summary(model, input_shape=None) -> None:
    """Print a Keras-style table of a model's top-level layers: name (type), output shape, parameters.

    ``input_shape`` is (channels, height, width); with it, one zero image is passed through the
    model (in eval mode, without gradients) to find the output shapes. Without it, nothing is
    computed and the shape column stays empty.
    """
    shapes = {}
    children = list(model.named_children()) or [(type(model).__name__, model)]
    if input_shape is not None:
        hooks = [
            child.register_forward_hook(
                lambda module, args, output, name=name: shapes.__setitem__(
                    name, tuple(output.shape)
                )
            )
            for name, child in children
        ]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                model(torch.zeros(1, *input_shape, device=device))
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
    rows = []
    for name, child in children:
        shape = shapes.get(name)
        shape_text = "(N, " + ", ".join(map(str, shape[1:])) + ")" if shape else ""
        params = sum(p.numel() for p in child.parameters())
        rows.append((f"{name} ({type(child).__name__})", shape_text, f"{params:,}"))
    widths = [
        max(len(row[i]) for row in [("Layer (type)", "Output shape", "Param #"), *rows])
        for i in range(3)
    ]
    header = (
        f"{'Layer (type)':<{widths[0]}}  {'Output shape':<{widths[1]}}  {'Param #':>{widths[2]}}"
    )
    print(header)
    print("-" * len(header))
    for layer, shape, params in rows:
        print(f"{layer:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}")
    print("-" * len(header))
    counts = count_parameters(model)
    print(
        f"Total params: {counts['total']:,} (trainable: {counts['trainable']:,}, "
        f"non-trainable: {counts['non_trainable']:,})"
    )

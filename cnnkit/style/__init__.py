"""Neural style transfer, framework-free: the reference losses in NumPy and the records both halves share.

``cnnkit.style.keras`` and ``cnnkit.style.torch`` export the same loss functions on their own tensors
(``(batch, height, width, channels)`` and ``(batch, channels, height, width)``), plus
``feature_network`` and ``stylize``. The NumPy versions here take the layout as an argument and are the
reference the halves are tested against.

- ``gram_matrix``: channels × channels inner products of a feature map, divided by its positions;
- ``content_loss``: mean squared difference of two feature maps;
- ``style_loss``: weighted sum over layers of the mean squared difference of Gram matrices;
- ``total_variation_loss``: absolute differences of neighbouring pixels, per value of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnkit._checks import array_4d, one_of

LAYOUTS = ("nhwc", "nchw")
CONTENT_LAYERS = ("block4_conv2",)  # Gatys et al.'s conv4_2
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications' VGG16/VGG19 ("caffe" mode)
TORCH_MEAN_RGB, TORCH_STD_RGB = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's VGGs


def _channels_last(features, layout: str, name: str) -> np.ndarray:
    axes = (
        "batch, height, width, channels" if layout == "nhwc" else "batch, channels, height, width"
    )
    array = array_4d(np.asarray(features, dtype=np.float64), name, axes)
    return array if layout == "nhwc" else array.transpose(0, 2, 3, 1)


def gram_matrix(features, layout: str = "nhwc") -> np.ndarray:
    """``(batch, channels, channels)``: ``G[b, c, d]`` = mean over positions of ``F[b, c] * F[b, d]``."""
    x = _channels_last(features, one_of(layout, LAYOUTS, "layout"), "features")
    batch, height, width, channels = x.shape
    flat = x.reshape(batch, height * width, channels)  # (batch, positions, channels)
    return flat.transpose(0, 2, 1) @ flat / (height * width)


def content_loss(generated, target) -> float:
    """The mean squared difference between two feature maps of the same shape (any layout)."""
    generated, target = np.asarray(generated, np.float64), np.asarray(target, np.float64)
    if generated.shape != target.shape:
        raise ValueError(f"generated {generated.shape} and target {target.shape} differ in shape")
    return float(np.mean((generated - target) ** 2))


def check_layers(features, targets, weights) -> tuple[list, list, list]:
    """The three per-layer lists of a style loss, checked to have one entry per layer."""
    features, targets, weights = list(features), list(targets), [float(w) for w in weights]
    if not len(features) == len(targets) == len(weights) or not features:
        raise ValueError(
            f"style_loss needs one target and one weight per layer: got {len(features)} feature "
            f"maps, {len(targets)} targets and {len(weights)} weights"
        )
    return features, targets, weights


def style_loss(features, targets, weights, layout: str = "nhwc") -> float:
    """Σ over layers of ``weights[l]`` × mean((gram(features[l]) - targets[l])²).

    ``targets`` are the style image's Gram matrices, ``(batch or 1, channels, channels)``.
    """
    features, targets, weights = check_layers(features, targets, weights)
    total = 0.0
    for maps, target, weight in zip(features, targets, weights, strict=True):
        total += weight * float(np.mean((gram_matrix(maps, layout) - np.asarray(target)) ** 2))
    return total


def total_variation_loss(images, layout: str = "nhwc") -> float:
    """Σ |vertical neighbour differences| + Σ |horizontal ones|, divided by the number of values.

    That is ``tf.reduce_sum(tf.image.total_variation(x)) / tf.size(x)``: the mean jump per value.
    """
    x = _channels_last(images, one_of(layout, LAYOUTS, "layout"), "images")
    vertical = np.abs(np.diff(x, axis=1)).sum()
    horizontal = np.abs(np.diff(x, axis=2)).sum()
    return float((vertical + horizontal) / x.size)


@dataclass(frozen=True)
class Recipe:
    """What to match and how much each term counts.

    Each style layer's weight is divided by the mean square of its target Gram matrix, and the
    content weight by the mean square of the content features (``scaled``), so that every term
    starts near 1 whatever the network: one recipe suits pretrained and random weights alike.
    """

    content_layers: tuple = CONTENT_LAYERS
    style_layers: tuple = STYLE_LAYERS
    style_layer_weights: tuple = (0.2, 0.2, 0.2, 0.2, 0.2)
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0

    def __post_init__(self):
        if len(self.style_layer_weights) != len(self.style_layers):
            raise ValueError("style_layer_weights needs one weight per style layer")
        if not self.content_layers or not self.style_layers:
            raise ValueError("a recipe needs at least one content layer and one style layer")

    @property
    def layer_names(self) -> tuple:
        """The layers a feature network must output: content layers first, then style layers."""
        return (*self.content_layers, *self.style_layers)

    def scaled(self, content_targets, style_targets) -> tuple[list, list]:
        """(content weights, style weights) per layer, divided by their targets' mean squares."""
        content = [
            self.content_weight / max(float(np.mean(np.square(t))), 1e-12) for t in content_targets
        ]
        style = [
            self.style_weight * w / max(float(np.mean(np.square(t))), 1e-12)
            for w, t in zip(self.style_layer_weights, style_targets, strict=True)
        ]
        return content, style


@dataclass
class FeatureNetwork:
    """A VGG stack that maps RGB images in [0, 1] to the feature maps of ``layer_names``."""

    model: object  # a keras.Model or a torch.nn.Module, preprocessing included
    architecture: str  # "vgg19" or "vgg16"
    weights: str  # "imagenet", "hed" or "random"
    description: str  # one line, for titles: says plainly what the weights are
    layer_names: tuple


@dataclass
class Result:
    """A stylized image ``(height, width, 3)`` in [0, 1] and the loss terms at every evaluation."""

    image: np.ndarray
    optimizer: str
    losses: dict = field(default_factory=dict)  # "total", "content", "style", "tv": lists of floats
    seconds: float = 0.0

    @property
    def evaluations(self) -> int:
        """How many times the loss and its gradient were computed."""
        return len(self.losses.get("total", []))


@dataclass(frozen=True)
class InputConvention:
    """How a VGG wants its input: ``(x[, ::-1 if bgr] * scale - mean) / std``, per channel."""

    bgr: bool
    scale: float
    mean: tuple
    std: tuple = (1.0, 1.0, 1.0)


def input_convention(framework: str, weights: str) -> InputConvention:
    """Keras's ImageNet VGGs and random stacks: Caffe's BGR minus a mean; HED: its own mean;
    torchvision's ImageNet VGGs: RGB in [0, 1] standardized."""
    one_of(framework, ("keras", "torch"), "framework")
    if one_of(weights, ("imagenet", "hed", "random"), "weights") == "hed":
        from cnnkit.hed import MEAN_BGR

        return InputConvention(True, 255.0, MEAN_BGR)
    if weights == "imagenet" and framework == "torch":
        return InputConvention(False, 1.0, TORCH_MEAN_RGB, TORCH_STD_RGB)
    return InputConvention(True, 255.0, CAFFE_MEAN_BGR)


def describe(architecture: str, weights: str, seed: int = 0) -> str:
    """The line that says what a feature network's weights are."""
    name = architecture.upper()
    if weights == "imagenet":
        return f"{name}, ImageNet weights"
    if weights == "hed":
        return f"{name}, HED's weights (ImageNet, then retrained for edges: not pure ImageNet)"
    return f"{name}, random weights (He-normal, seed {seed})"


__all__ = [
    "CONTENT_LAYERS",
    "LAYOUTS",
    "STYLE_LAYERS",
    "FeatureNetwork",
    "InputConvention",
    "Recipe",
    "Result",
    "content_loss",
    "describe",
    "gram_matrix",
    "input_convention",
    "style_loss",
    "total_variation_loss",
]

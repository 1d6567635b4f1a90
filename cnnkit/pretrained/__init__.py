"""Pretrained ImageNet classifiers: what both frameworks share (NumPy only, no framework at import).

``cnnkit.pretrained.keras`` and ``cnnkit.pretrained.torch`` export the same names: ``mobilenet_v2``
(torchvision's MobileNetV2 and its ImageNet weights, in each framework), ``preprocess_input`` and
``imagenet_classifier``. This module holds the facts they share: the ImageNet normalization of
torchvision's weights, MobileNetV2's block table, the 1,000 class names and ``decode_predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# torchvision's ImageNet normalization (per RGB channel, on pixels scaled to [0, 1])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS = ("imagenet", None)
MOBILENET_V2_WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"  # torchvision's IMAGENET1K_V1
# MobileNetV2's inverted residual blocks: (expansion, output channels, repeats, first stride)
MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


@dataclass
class Classifier:
    """A pretrained ImageNet classifier and how to feed it (``imagenet_classifier`` returns one).

    ``preprocess_input`` turns pixels in [0, 255] into the model's input, in the framework's layout;
    ``decode_predictions(probabilities, top=3)`` lists the top classes of each image as
    ``(class id, name, probability)``; ``description`` says plainly which weights are in use.
    """

    model: object
    preprocess_input: object
    decode_predictions: object
    image_size: int
    description: str


@dataclass
class Base:
    """A pretrained base for transfer learning (``transfer_base`` returns one).

    ``model`` outputs feature maps; ``preprocess`` turns pixels in [0, 255] into its input;
    ``random()`` builds the same architecture with random weights; ``description`` says plainly which
    weights are in use.
    """

    model: object
    preprocess: object
    random: object
    description: str


def check_weights(weights) -> None:
    """``weights`` must be ``"imagenet"`` (the real pretrained weights) or ``None`` (random)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")


def check_num_classes(num_classes) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")


def check_num_blocks(num_blocks, limit: int) -> None:
    if (
        isinstance(num_blocks, bool)
        or not isinstance(num_blocks, int)
        or not 0 <= num_blocks <= limit
    ):
        raise ValueError(f"num_blocks must be an int between 0 and {limit}, got {num_blocks!r}")


def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, in the order of the models' outputs.

    Read from torchvision's weights metadata (``weights.meta["categories"]``), which ships inside
    the torchvision wheel and so works offline, unlike Keras's downloaded class-index file.
    """
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def decode_predictions(probabilities, top: int = 3) -> list[list[tuple[int, str, float]]]:
    """The ``top`` most likely classes of each row: ``(class index, class name, probability)``.

    Like ``keras.applications.*.decode_predictions``, with the class index where Keras gives the
    WordNet id. ``probabilities`` has shape ``(batch, 1000)`` (or ``(1000,)`` for one image).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 1:
        probabilities = probabilities[np.newaxis]
    if probabilities.ndim != 2 or probabilities.shape[1] != 1000:
        raise ValueError(f"probabilities must have shape (batch, 1000), got {probabilities.shape}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= 1000:
        raise ValueError(f"top must be an int between 1 and 1000, got {top!r}")
    names = imagenet_classes()
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    return [
        [(int(i), names[i], float(row[i])) for i in indices]
        for row, indices in zip(probabilities, order, strict=True)
    ]


def softmax(logits, axis: int = -1) -> np.ndarray:
    """Probabilities from logits (PyTorch's classifiers output logits, Keras's probabilities)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)

"""Datasets through the genuine library calls, with clearly labelled stand-ins where offline.

Every loader returns NumPy arrays in the TensorFlow layout (images ``(batch, height, width,
channels)``); ``to_torch_layout`` turns them into PyTorch's ``(batch, channels, height, width)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SAMPLE_IMAGE_NAMES = ("china.jpg", "flower.jpg")


def data_dir() -> Path:
    """Where cnnkit keeps datasets that a library needs a folder for (torchvision's ``root``).

    ``CNNKIT_DATA_DIR`` overrides the default ``~/.cache/cnnkit``.
    """
    return Path(os.environ.get("CNNKIT_DATA_DIR", Path.home() / ".cache" / "cnnkit"))


def announce_stand_in(what: str, instead: str, online: str) -> None:
    """Print the banner every offline stand-in shows, so that it is never a silent fake."""
    print(f"OFFLINE STAND-IN: {what} could not be loaded, so {instead} is used instead.")
    print(f"  Online you would see: {online}")


def load_sample_images(names=SAMPLE_IMAGE_NAMES) -> np.ndarray:
    """The real photos shipped with scikit-learn, as float32 in [0, 1]: ``(n, 427, 640, 3)``."""
    from sklearn.datasets import load_sample_image

    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if name not in SAMPLE_IMAGE_NAMES]
    if unknown:
        raise ValueError(f"unknown sample image {unknown[0]!r}; expected one of {SAMPLE_IMAGE_NAMES}")
    return np.stack([load_sample_image(name) for name in names]).astype(np.float32) / 255.0


def to_torch_layout(images: np.ndarray) -> np.ndarray:
    """``(batch, height, width, channels)`` → ``(batch, channels, height, width)``."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be 4-D (batch, height, width, channels), got shape {images.shape}"
        )
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def to_tf_layout(images: np.ndarray) -> np.ndarray:
    """``(batch, channels, height, width)`` → ``(batch, height, width, channels)``."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be 4-D (batch, channels, height, width), got shape {images.shape}"
        )
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))

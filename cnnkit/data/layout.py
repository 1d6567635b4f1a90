"""Image batches between the two frameworks' layouts, and as the float arrays both batchers take.

TensorFlow and Keras keep images as ``(batch, height, width, channels)`` ("NHWC"), PyTorch as
``(batch, channels, height, width)`` ("NCHW"). (Kernels have their own layouts: ``cnnkit.conv``.)
"""

from __future__ import annotations

import numpy as np

from cnnkit._checks import array_4d


def nhwc_to_nchw(images) -> np.ndarray:
    """``(batch, height, width, channels)`` → ``(batch, channels, height, width)``."""
    images = array_4d(images, "images", "batch, height, width, channels")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def nchw_to_nhwc(images) -> np.ndarray:
    """``(batch, channels, height, width)`` → ``(batch, height, width, channels)``."""
    images = array_4d(images, "images", "batch, channels, height, width")
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def float_images(images, labels) -> np.ndarray:
    """Images ``(n, height, width[, channels])`` as float32 NHWC; uint8 pixels scaled to [0, 1].

    ``labels`` must have one entry per image.
    """
    images = np.asarray(images)
    if images.ndim == 3:  # (n, height, width) grayscale: add the channel axis
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(f"images must be (n, height, width[, channels]), got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)

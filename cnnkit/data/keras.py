"""Arrays to batches for Keras: ``batches`` makes a ``tf.data.Dataset`` (``cnnkit.data.torch``: the same
for PyTorch). Importing this module imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cnnkit._checks import positive_int
from cnnkit.data.layout import float_images

__all__ = ["batches"]


def batches(images, labels, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches: float images ``(batch, height, width,
    channels)`` in [0, 1] (uint8 pixels are scaled), int64 labels; reshuffled every epoch if ``shuffle``.
    """
    x = float_images(images, labels)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.asarray(labels, dtype=np.int64)))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(positive_int(batch_size, "batch_size")).prefetch(tf.data.AUTOTUNE)

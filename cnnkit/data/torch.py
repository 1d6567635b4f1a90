"""Arrays to batches for PyTorch: ``batches`` makes a ``DataLoader`` (``cnnkit.data.keras``: the same
for Keras). Importing this module imports PyTorch.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnkit._checks import positive_int
from cnnkit.data.layout import float_images, nhwc_to_nchw

__all__ = ["batches"]


def batches(images, labels, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0):
    """A ``DataLoader`` of ``(images, labels)`` batches: float images ``(batch, channels, height,
    width)`` in [0, 1] (uint8 pixels are scaled), int64 labels; reshuffled every epoch if ``shuffle``.
    """
    x = nhwc_to_nchw(float_images(images, labels))
    dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x), torch.from_numpy(np.asarray(labels, dtype=np.int64))
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=positive_int(batch_size, "batch_size"),
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )

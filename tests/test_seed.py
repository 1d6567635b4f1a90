"""cnnkit.seed: one call seeds Python, NumPy, TensorFlow and PyTorch."""

import random

import numpy as np
import pytest
import tensorflow as tf
import torch

import cnnkit


def draw():
    return (
        random.random(),
        np.random.rand(),
        float(tf.random.uniform(())),
        float(torch.rand(())),
    )


def test_same_seed_same_numbers_in_every_library():
    assert cnnkit.seed_everything(7) == ["python", "numpy", "tensorflow", "torch"]
    first = draw()
    cnnkit.seed_everything(7)
    assert draw() == first
    cnnkit.seed_everything(8)
    second = draw()
    assert all(a != b for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("bad", [-1, 1.5, "42", True])
def test_bad_seed_is_rejected(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        cnnkit.seed_everything(bad)

"""Seeding Python, NumPy, TensorFlow and PyTorch in one call."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

from cnnkit._checks import non_negative_int


def seed_everything(seed: int = 42, *, deterministic: bool = False) -> list[str]:
    """Seed every random number generator the course uses; return the names of those seeded.

    TensorFlow and PyTorch are seeded only if they are already imported, so call this after the
    imports of the setup cell. With ``deterministic=True`` both frameworks are also asked for
    deterministic kernels, which can be slower and makes some GPU operations raise an error instead
    of running.
    """
    seed = non_negative_int(seed, "seed")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    seeded = ["python", "numpy"]
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow at once
        if deterministic:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        seeded.append("tensorflow")
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # CPU and every CUDA device
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by cuBLAS
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        seeded.append("torch")
    return seeded

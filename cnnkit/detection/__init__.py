"""Detection models of chapter 6: ``cnnkit.detection.keras`` and ``cnnkit.detection.torch`` (same names).

This file holds what both need: MTCNN's trained weights, read once from where they are.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from cnnkit.data import data_dir

MTCNN_NETS = ("pnet", "rnet", "onet")


@functools.cache
def mtcnn_weights(name: str) -> tuple[np.ndarray, ...]:
    """MTCNN's trained arrays for ``name`` (pnet, rnet, onet), in layer order, Keras layouts.

    Looks for ``<CNNKIT_DATA_DIR>/mtcnn/<name>.npz`` (the offline caches of the tests hold it), then
    for the weight files inside the ``mtcnn`` package (``pip install mtcnn`` brings them).
    """
    if name not in MTCNN_NETS:
        raise ValueError(f"name must be one of {MTCNN_NETS}, got {name!r}")
    cached = Path(data_dir()) / "mtcnn" / f"{name}.npz"
    if cached.exists():
        with np.load(cached) as arrays:
            return tuple(arrays[key].astype(np.float32) for key in sorted(arrays.files))
    try:
        import importlib.resources

        import joblib

        packaged = importlib.resources.files("mtcnn.assets.weights") / f"{name}.lz4"
        return tuple(np.asarray(a, np.float32) for a in joblib.load(packaged))
    except (ImportError, FileNotFoundError) as error:
        raise RuntimeError(
            f"MTCNN's {name} weights are neither in {cached} nor in an installed `mtcnn` package: "
            "run `pip install mtcnn` (its wheel carries them)"
        ) from error

"""Detection models of chapter 6: ``cnnkit.detection.keras`` and ``cnnkit.detection.torch`` (same names).

This file holds what both need: MTCNN's trained weights, read once from where they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnkit.data import data_dir

MTCNN_NETS = ("pnet", "rnet", "onet")


def warmup_cosine_rates(total_steps: int, peak: float, *, warmup_fraction: float = 0.1,
                        start_fraction: float = 0.1, alpha: float = 0.01) -> np.ndarray:  # fmt: skip
    """The learning rate of each step: a linear warm-up, then a cosine decay (Keras's formula).

    From ``start_fraction · peak`` up to ``peak`` over the first ``warmup_fraction`` of the steps,
    then down along a half cosine towards ``alpha · peak``: what
    ``keras.optimizers.schedules.CosineDecay`` computes with ``warmup_target=peak``. Both halves of
    ``cnnkit.detection`` build their schedule from it (``warmup_cosine``), so the two frameworks
    step through the same rates.
    """
    if total_steps < 2 or not 0 <= warmup_fraction < 1:
        raise ValueError(
            f"need total_steps >= 2 and 0 <= warmup_fraction < 1, got {total_steps}, {warmup_fraction}"
        )
    warmup = int(total_steps * warmup_fraction)
    step = np.arange(total_steps, dtype=np.float64)
    rising = start_fraction * peak + (peak - start_fraction * peak) * step / max(warmup, 1)
    progress = np.minimum(step - warmup, total_steps - warmup) / (total_steps - warmup)
    falling = peak * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * progress)) + alpha)
    return np.where(step < warmup, rising, falling)


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


@dataclass(frozen=True)
class GridData:
    """Scenes for a grid detector, with their anchors and training targets."""

    train: object  # cnnkit.scenes.Scenes
    test: object
    anchors: np.ndarray  # (num_anchors, 2) widths and heights, by K-Means with 1 - IoU
    targets: np.ndarray  # (num_train, rows, columns, num_anchors, 6), cnnkit.boxes.encode_yolo
    stride: int

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.targets.shape[1], self.targets.shape[2]


def grid_data(num_train: int, num_test: int, *, num_anchors: int = 3, stride: int = 8, seed: int = 0,
              **scene_options) -> GridData:  # fmt: skip
    """Training and test scenes (``cnnkit.scenes.make_scenes`` options), anchors and targets.

    The anchors come from the training boxes only; the test scenes hold MNIST test digits.
    """
    from cnnkit import boxes, scenes

    train = scenes.make_scenes(num_train, "train", seed=seed, **scene_options)
    test = scenes.make_scenes(num_test, "test", seed=seed, **scene_options)
    sizes = np.concatenate([b[:, 2:] - b[:, :2] for b in train.boxes])
    anchors = boxes.kmeans_anchors(sizes, num_anchors, seed=seed)
    height, width = train.images.shape[1:3]
    if height % stride or width % stride:
        raise ValueError(
            f"the image size {height} × {width} must be a multiple of the stride {stride}"
        )
    grid = (height // stride, width // stride)
    targets = np.stack([boxes.encode_yolo(b, c, anchors, grid, stride)
                        for b, c in zip(train.boxes, train.labels, strict=True)])  # fmt: skip
    return GridData(train, test, anchors, targets, stride)

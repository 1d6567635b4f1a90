"""Chapter 7's ladder of FCNs, trained the same way in either framework.

Three networks on one budget of steps, on the maps of a MobileNetV2 encoder computed once
beforehand (``compute_maps``): FCN-32s and FCN-8s with the encoder frozen (the head alone trains,
at ``head_learning_rate``, for all the epochs), and FCN-8s fine-tuned (the same head training for
``head_epochs``, then the head and the encoder's stages at strides 16 and 32 together at
``tune_learning_rate`` for ``tune_epochs``). ``climb`` takes the framework's half of
``cnnkit.segmentation`` (``keras`` or ``torch``), whose ``FCN``, ``train_fcn`` and
``predict_masks`` have the same names and arguments, so both frameworks run this very code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit._checks import positive_int
from cnnkit.results import Stopwatch
from cnnkit.segmentation import Scores, score

RUNGS = ("FCN-8s, fine-tuned", "FCN-8s, frozen", "FCN-32s, frozen")  # best expected first
VARIANTS = {"FCN-8s, fine-tuned": "8s", "FCN-8s, frozen": "8s", "FCN-32s, frozen": "32s"}
FINE_TUNED = RUNGS[0]


@dataclass(frozen=True)
class Budget:
    """How every rung trains (the recipe of ``train_fcn``, with its two learning rates)."""

    head_epochs: int
    tune_epochs: int
    head_learning_rate: float = 1e-2
    tune_learning_rate: float = 1e-3
    batch_size: int = 16
    background_weight: float = 0.3

    def __post_init__(self):
        positive_int(self.head_epochs, "head_epochs")
        positive_int(self.tune_epochs, "tune_epochs")

    @property
    def num_epochs(self) -> int:
        return self.head_epochs + self.tune_epochs


@dataclass(frozen=True)
class Rung:
    """One trained network: its test scores, loss per epoch, training time and test masks."""

    scores: Scores
    history: dict  # {"loss": [...]}, one value per epoch, the two phases one after the other
    cpu_seconds: float  # CPU time of the training, all threads of the process
    seconds: float  # wall-clock time of the training
    masks: np.ndarray  # (n, height, width) predicted classes of the test scenes


def twin_heads(keras_kit, torch_kit, num_classes: int = 11, rungs=RUNGS) -> tuple[dict, dict]:
    """For every rung a new Keras head and a new PyTorch head that start from the same weights:
    the Keras head's random scoring layers copied into the PyTorch head (the skips' start at zero
    and the ×2 upsamplings at bilinear in both anyway). Returns ``(keras_heads, torch_heads)``."""
    from cnnkit.conv import copy_conv2d_weights

    keras_heads, torch_heads = {}, {}
    for rung in rungs:
        keras_head = keras_kit.FCNHead(num_classes, VARIANTS[rung])
        keras_head([np.zeros((1, size, size, c), np.float32)  # builds its weights
                    for size, c in zip((4, 2, 1), keras_kit.STAGE_CHANNELS, strict=True)])  # fmt: skip
        torch_head = torch_kit.FCNHead(num_classes=num_classes, variant=VARIANTS[rung])
        for keras_score, torch_score in zip(keras_head.scores, torch_head.scores, strict=True):
            copy_conv2d_weights(keras_score, torch_score)
        keras_heads[rung], torch_heads[rung] = keras_head, torch_head
    return keras_heads, torch_heads


def climb(kit, heads: dict, stages, train_maps, train_masks, test_maps, test_masks, budget: Budget,
          num_classes: int = 11, device=None) -> dict[str, Rung]:  # fmt: skip
    """Train and score the rungs of ``heads`` (rung name → a new ``kit.FCNHead``), cheapest first.

    ``stages``: the encoder's three stages; ``train_maps``/``test_maps``: their three maps of the
    training/test scenes, from ``kit.compute_maps``; the masks are ``(n, height, width)`` classes.
    """
    unknown = set(heads) - set(RUNGS)
    if unknown:
        raise ValueError(f"heads must be named after the rungs {RUNGS}, got {sorted(unknown)}")
    recipe = dict(batch_size=budget.batch_size, background_weight=budget.background_weight,
                  device=device)  # fmt: skip
    results = {}
    for rung in [rung for rung in reversed(RUNGS) if rung in heads]:
        with Stopwatch() as watch:
            model, inputs = kit.FCN(heads[rung]), test_maps
            epochs = budget.head_epochs if rung == FINE_TUNED else budget.num_epochs
            history = kit.train_fcn(model, train_maps, train_masks, num_epochs=epochs,
                                    learning_rate=budget.head_learning_rate, **recipe)  # fmt: skip
            if rung == FINE_TUNED:  # the encoder's stages at strides 16 and 32 train too
                model, inputs = kit.FCN(heads[rung], stages[1:]), test_maps[0]
                tuned = kit.train_fcn(model, train_maps[0], train_masks, num_epochs=budget.tune_epochs,
                                      learning_rate=budget.tune_learning_rate, **recipe)  # fmt: skip
                history = {"loss": list(history["loss"]) + list(tuned["loss"])}
        cpu_seconds, seconds = watch.cpu, watch.wall
        masks = kit.predict_masks(model, inputs, device=device)
        results[rung] = Rung(score(test_masks, masks, num_classes), {"loss": list(history["loss"])},
                             cpu_seconds, seconds, masks)  # fmt: skip
    return results


__all__ = ["FINE_TUNED", "RUNGS", "VARIANTS", "Budget", "Rung", "climb", "twin_heads"]

"""Semantic segmentation scores, framework-free: the confusion matrix, IoU per class and mean IoU.

A segmentation is scored pixel by pixel. The confusion matrix counts, for every pair of classes
``(true, predicted)``, the pixels of that true class predicted as that class; everything else
follows from it:

- IoU of class ``c`` = ``C[c, c] / (row c + column c - C[c, c])``: the pixels both call ``c`` over
  the pixels either calls ``c``;
- a class that is neither in the truth nor in the predictions has no IoU (``nan``): it is left out
  of the mean instead of counting as a 0 or a 1 (``keras.metrics.MeanIoU`` and torchmetrics'
  ``MulticlassJaccardIndex`` do the same);
- pixels whose true label is ``ignore_index`` (e.g. 255 on the uncertain borders of PASCAL VOC's
  objects) are not counted at all, whatever was predicted there.

Matrices add up, so a test set is scored batch by batch: sum the batches' matrices, then score.
``cnnkit.segmentation.keras`` and ``cnnkit.segmentation.torch`` hold the FCN models (same names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit._checks import is_int, positive_int


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=None) -> np.ndarray:
    """``(num_classes, num_classes)`` int64 counts: rows the true classes, columns the predicted.

    ``y_true`` and ``y_pred`` are integer masks of the same shape (any number of axes). Pixels
    whose true label is ``ignore_index`` are skipped; any other label outside ``0 …
    num_classes - 1`` is an error, in the truth or in the predictions.
    """
    num_classes = positive_int(num_classes, "num_classes")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    for name, mask in (("y_true", y_true), ("y_pred", y_pred)):
        if mask.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integer class labels, got dtype {mask.dtype}")
    if ignore_index is not None:
        if not is_int(ignore_index) or 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index must be an int outside the classes 0..{num_classes - 1} "
                f"(e.g. 255), got {ignore_index!r}"
            )
        kept = y_true != ignore_index
        y_true, y_pred = y_true[kept], y_pred[kept]
    y_true, y_pred = y_true.ravel().astype(np.int64), y_pred.ravel().astype(np.int64)
    for name, mask in (("y_true", y_true), ("y_pred", y_pred)):
        outside = mask[(mask < 0) | (mask >= num_classes)]
        if outside.size:
            raise ValueError(
                f"{name} holds label {int(outside[0])}, outside the classes 0..{num_classes - 1}"
            )
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _square(confusion) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] < 1:
        raise ValueError(f"confusion must be a square matrix, got shape {confusion.shape}")
    return confusion.astype(np.float64)


def iou_per_class(confusion) -> np.ndarray:
    """The IoU of every class; ``nan`` for a class absent from both the truth and the predictions."""
    confusion = _square(confusion)
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def mean_iou(confusion) -> float:
    """The mean of the IoUs of the classes present (in the truth or the predictions)."""
    iou = iou_per_class(confusion)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")


def foreground_confusion(confusion, background=0) -> np.ndarray:
    """The 2 × 2 matrix of background (row/column 0) against all the other classes merged (1)."""
    confusion = _square(confusion)
    if not is_int(background) or not 0 <= background < len(confusion):
        raise ValueError(f"background must be a class index of the matrix, got {background!r}")
    objects = np.ones(len(confusion), bool)
    objects[background] = False
    groups = [~objects, objects]
    return np.array([[confusion[np.ix_(r, c)].sum() for c in groups] for r in groups])


@dataclass(frozen=True)
class Scores:
    """How well predicted masks match the truth (``score`` makes one; ``+`` pools two)."""

    confusion: np.ndarray  # (classes, classes) pixel counts: rows true, columns predicted

    @property
    def iou(self) -> np.ndarray:
        return iou_per_class(self.confusion)

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.confusion)

    @property
    def foreground_mean_iou(self) -> float:
        """The mean IoU of the two classes background / any object (here: digit vs background)."""
        return mean_iou(foreground_confusion(self.confusion))

    @property
    def pixel_accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.confusion.sum(), 1))

    def __add__(self, other: Scores) -> Scores:
        return Scores(self.confusion + other.confusion)


def score(y_true, y_pred, num_classes, ignore_index=None) -> Scores:
    """``Scores`` of integer masks: ``.iou``, ``.mean_iou``, ``.foreground_mean_iou``, ..."""
    return Scores(confusion_matrix(y_true, y_pred, num_classes, ignore_index))


__all__ = [
    "Scores",
    "confusion_matrix",
    "foreground_confusion",
    "iou_per_class",
    "mean_iou",
    "score",
]

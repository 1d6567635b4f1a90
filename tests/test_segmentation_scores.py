"""cnnkit.segmentation's scores: confusion matrix, IoU per class and mean IoU, checked by hand and
against keras.metrics.MeanIoU and torchmetrics' MulticlassJaccardIndex."""

import numpy as np
import pytest

from cnnkit import segmentation

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
classification = pytest.importorskip("torchmetrics.classification")


def keras_mean_iou(y_true, y_pred, num_classes, ignore_index=None):
    metric = keras.metrics.MeanIoU(num_classes=num_classes, ignore_class=ignore_index)
    metric.update_state(y_true.ravel(), y_pred.ravel())
    return float(metric.result())


def torchmetrics_mean_iou(y_true, y_pred, num_classes, ignore_index=None):
    metric = classification.MulticlassJaccardIndex(
        num_classes, average="macro", ignore_index=ignore_index
    )
    return float(
        metric(torch.from_numpy(y_pred.astype(np.int64)), torch.from_numpy(y_true.astype(np.int64)))
    )


def test_a_worked_example():
    y_true = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0]])
    y_pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0], [2, 0, 0, 0]])
    confusion = segmentation.confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(confusion, [[5, 1, 0], [1, 3, 0], [1, 0, 1]])
    # class 0: 5 / (7 + 6 - 5); class 1: 3 / (4 + 4 - 3); class 2: 1 / (2 + 1 - 1)
    np.testing.assert_allclose(segmentation.iou_per_class(confusion), [5 / 8, 3 / 5, 1 / 2])
    assert segmentation.mean_iou(confusion) == pytest.approx((5 / 8 + 3 / 5 + 1 / 2) / 3)
    scores = segmentation.score(y_true, y_pred, 3)
    assert scores.pixel_accuracy == pytest.approx(9 / 12)
    # background (0) against classes 1 and 2 merged: [[5, 1], [2, 4]]
    np.testing.assert_array_equal(segmentation.foreground_confusion(confusion), [[5, 1], [2, 4]])
    assert scores.foreground_mean_iou == pytest.approx((5 / 8 + 4 / 7) / 2)


def test_absent_classes_are_left_out_of_the_mean():
    y_true = np.array([0, 0, 1, 1, 3])
    y_pred = np.array([0, 1, 1, 1, 0])  # class 2 appears nowhere, class 3 is never predicted
    iou = segmentation.iou_per_class(segmentation.confusion_matrix(y_true, y_pred, 4))
    assert np.isnan(iou[2]) and iou[3] == 0
    assert segmentation.score(y_true, y_pred, 4).mean_iou == pytest.approx(
        np.mean([1 / 3, 2 / 3, 0])
    )


def test_ignored_pixels_count_for_nothing():
    y_true = np.array([0, 255, 1, 255, 1])
    y_pred = np.array([0, 1, 1, 0, 0])
    confusion = segmentation.confusion_matrix(y_true, y_pred, 2, ignore_index=255)
    np.testing.assert_array_equal(confusion, [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match="255"):  # not declared as ignored
        segmentation.confusion_matrix(y_true, y_pred, 2)
    with pytest.raises(ValueError, match="ignore_index"):
        segmentation.confusion_matrix(y_true, y_pred, 2, ignore_index=1)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="shape"):
        segmentation.confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 2)
    with pytest.raises(ValueError, match="y_pred holds label 5"):
        segmentation.confusion_matrix(np.zeros(3, int), np.array([0, 5, 1]), 3)
    with pytest.raises(ValueError, match="integer"):
        segmentation.confusion_matrix(np.zeros(3), np.zeros(3), 3)
    with pytest.raises(ValueError, match="square"):
        segmentation.iou_per_class(np.zeros((2, 3)))


def test_matrices_of_batches_add_up():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, (2, 6, 8, 8)), rng.integers(0, 5, (2, 6, 8, 8))
    parts = segmentation.score(y_true[0], y_pred[0], 5) + segmentation.score(
        y_true[1], y_pred[1], 5
    )
    np.testing.assert_array_equal(parts.confusion, segmentation.score(y_true, y_pred, 5).confusion)


@pytest.mark.parametrize("seed", range(6))
def test_mean_iou_equals_keras_and_torchmetrics(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 12))
    y_true = rng.integers(0, num_classes, (3, 16, 16))
    y_pred = np.where(
        rng.random(y_true.shape) < 0.6, y_true, rng.integers(0, num_classes, y_true.shape)
    )
    if seed % 2:  # a class missing from truth and predictions, and ignored pixels
        missing = num_classes - 1
        y_true[y_true == missing], y_pred[y_pred == missing] = 0, 0
        y_true[rng.random(y_true.shape) < 0.1] = 255
    ignore = 255 if seed % 2 else None
    ours = segmentation.score(y_true, y_pred, num_classes, ignore_index=ignore).mean_iou
    assert ours == pytest.approx(keras_mean_iou(y_true, y_pred, num_classes, ignore), abs=1e-6)
    assert ours == pytest.approx(
        torchmetrics_mean_iou(y_true, y_pred, num_classes, ignore), abs=1e-6
    )

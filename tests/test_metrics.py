"""cnnkit.metrics: AP by hand, and COCO mAP equal to pycocotools, faster-coco-eval and torchmetrics."""

import contextlib
import io

import numpy as np
import pytest
import torch

from cnnkit import metrics


def detections_and_truths(seed, num_images=40, num_classes=4):
    """Ground truths, and detections that find most of them (moved a little), duplicates and misses."""
    rng = np.random.default_rng(seed)
    detections, truths = [], []
    for _ in range(num_images):
        k = int(rng.integers(0, 6))
        corner = rng.uniform(0, 200, (k, 2))
        truth = np.hstack([corner, corner + rng.uniform(5, 60, (k, 2))])
        classes = rng.integers(0, num_classes, k)
        found = rng.random(k) < 0.8
        moved = truth[found] + rng.normal(0, rng.uniform(0.5, 8), (found.sum(), 4))
        wrong = rng.uniform(0, 200, (int(rng.integers(0, 4)), 2))
        wrong = np.hstack([wrong, wrong + rng.uniform(5, 60, wrong.shape)])
        boxes = np.vstack([moved, wrong])
        labels = np.concatenate([classes[found], rng.integers(0, num_classes, len(wrong))])
        twice = rng.random(len(boxes)) < 0.2
        boxes = np.vstack([boxes, boxes[twice] + rng.normal(0, 2, (twice.sum(), 4))])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        labels = np.concatenate([labels, labels[twice]])
        scores = rng.random(len(boxes)).astype(np.float32)
        detections.append((boxes.astype(np.float32), scores, labels))
        truths.append((truth.astype(np.float32), classes))
    return detections, truths


def coco_eval(detections, truths, library):
    """COCO mAP, mAP@0.5 and mAP@0.75 by pycocotools or faster-coco-eval."""
    if library == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    annotations, results = [], []
    for image, ((boxes, labels), (d_boxes, d_scores, d_labels)) in enumerate(
        zip(truths, detections, strict=True)
    ):
        for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
            x0, y0, x1, y1 = box
            annotations.append({"id": len(annotations) + 1, "image_id": image + 1, "category_id": label,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                "iscrowd": 0})  # fmt: skip
        for box, score, label in zip(
            d_boxes.tolist(), d_scores.tolist(), d_labels.tolist(), strict=True
        ):
            x0, y0, x1, y1 = box
            results.append({"image_id": image + 1, "category_id": label, "score": score,
                            "bbox": [x0, y0, x1 - x0, y1 - y0]})  # fmt: skip
    ground_truth = COCO()
    ground_truth.dataset = {
        "images": [{"id": i + 1} for i in range(len(truths))],
        "annotations": annotations,
        "categories": [{"id": c} for c in range(4)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return dict(zip(("map", "map_50", "map_75"), evaluation.stats[:3], strict=True))


def torchmetrics_map(detections, truths, **thresholds):
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", **thresholds)
    metric.update(
        [
            {"boxes": torch.tensor(b), "scores": torch.tensor(s), "labels": torch.tensor(c)}
            for b, s, c in detections
        ],
        [{"boxes": torch.tensor(b), "labels": torch.tensor(c)} for b, c in truths],
    )
    result = metric.compute()
    return {key: float(result[key]) for key in ("map", "map_50", "map_75")}


@pytest.mark.parametrize("seed", range(3))
def test_coco_map_equals_pycocotools_and_faster_coco_eval(seed):
    detections, truths = detections_and_truths(seed)
    ours = metrics.coco_map(detections, truths)
    assert 0.05 < ours["map"] < ours["map_50"] < 1
    for library in ("pycocotools", "faster_coco_eval"):
        theirs = coco_eval(detections, truths, library)
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key], abs=1e-12), (library, key)


def test_coco_map_equals_torchmetrics():
    detections, truths = detections_and_truths(0)
    ours = metrics.coco_map(detections, truths)
    # torchmetrics builds its IoU and recall thresholds with torch.linspace, in float32: a recall of
    # exactly 0.35 then falls on the other side of the threshold 0.35. With the same float64
    # thresholds as COCO the numbers agree to float32 precision.
    same = torchmetrics_map(detections, truths, iou_thresholds=np.linspace(0.5, 0.95, 10).tolist(),
                            rec_thresholds=np.linspace(0, 1, 101).tolist())  # fmt: skip
    default = torchmetrics_map(detections, truths)
    for key in ours:
        assert ours[key] == pytest.approx(same[key], abs=1e-6)
        assert ours[key] == pytest.approx(default[key], abs=2e-3)


def test_average_precision_by_hand():
    hits = np.array(
        [True, False, True, False, True]
    )  # five detections, best first; 3 boxes to find
    precision, recall = metrics.precision_recall(hits, 3)
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 2 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    # interpolated precision: 1 up to recall 1/3, 2/3 up to recall 2/3, 3/5 up to recall 1
    expected = {
        "all": (1 + 2 / 3 + 3 / 5) / 3,
        "voc11": (4 * 1 + 3 * 2 / 3 + 4 * 3 / 5) / 11,  # recall levels 0-0.3, 0.4-0.6, 0.7-1
        "coco101": (34 * 1 + 33 * 2 / 3 + 34 * 3 / 5) / 101,  # 0-0.33, 0.34-0.66, 0.67-1
    }
    for method, value in expected.items():
        assert metrics.average_precision(precision, recall, method) == pytest.approx(value)
    without = float(np.mean(precision))  # no interpolation: a different (wrong) number
    assert abs(without - expected["all"]) > 0.1
    # VOC's 11 levels are np.linspace(0, 1, 11), as its devkit makes them: the level "0.6" is
    # 0.6000000000000001, above the recall 3 / 5 = 0.6 of 3 boxes found out of 5, which therefore
    # does not reach it (np.arange(11) / 10 gives exactly 0.6, and 7 / 11 instead of 6 / 11)
    precision, recall = metrics.precision_recall([True, True, True], 5)
    assert metrics.average_precision(precision, recall, "voc11") == pytest.approx(6 / 11, abs=1e-12)
    precision, recall = metrics.precision_recall([True] * 4, 10)  # recall 0.4: no such quirk
    assert metrics.average_precision(precision, recall, "voc11") == pytest.approx(5 / 11, abs=1e-12)


def test_mean_average_precision_cases():
    truth = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([1, 2]))]
    perfect = [(truth[0][0], np.array([0.9, 0.8]), truth[0][1])]
    assert metrics.mean_average_precision(perfect, truth) == pytest.approx(1.0)
    assert metrics.coco_map(perfect, truth) == pytest.approx({"map": 1, "map_50": 1, "map_75": 1})
    nothing = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))]
    assert metrics.mean_average_precision(nothing, truth) == 0.0
    swapped = [(truth[0][0], np.array([0.9, 0.8]), np.array([2, 1]))]  # right places, wrong classes
    assert metrics.mean_average_precision(swapped, truth) == 0.0
    # a second detection of the first box: a false positive, ranked above the second box
    twice = [(np.array([[0, 0, 10, 10], [1, 0, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.85, 0.8]),
              np.array([1, 1, 2]))]  # fmt: skip
    per_class = metrics.average_precision_per_class(twice, truth)
    assert per_class == pytest.approx({1: 1.0, 2: 1.0})  # the duplicate comes after the only box
    shifted = [
        (np.array([[0, 0, 10, 10], [24, 20, 34, 30]]), np.array([0.9, 0.8]), np.array([1, 2]))
    ]
    assert metrics.mean_average_precision(shifted, truth, 0.5) == pytest.approx(0.5)  # IoU 6/14
    assert metrics.mean_average_precision(shifted, truth, 0.4) == pytest.approx(1.0)
    # a class with detections but no ground truth does not count
    extra = [
        (
            np.vstack([truth[0][0], [[50, 50, 60, 60]]]),
            np.array([0.9, 0.8, 0.7]),
            np.array([1, 2, 5]),
        )
    ]
    assert set(metrics.average_precision_per_class(extra, truth)) == {1, 2}
    many = [(np.tile([[0, 0, 10, 10]], (3, 1)), np.array([0.1, 0.2, 0.3]), np.array([1, 1, 1]))]
    kept = metrics.match(many, [(np.array([[0, 0, 10, 10]]), np.array([1]))], max_detections=2)
    np.testing.assert_allclose(kept[1][0], [0.3, 0.2])


def test_bad_inputs_are_named():
    truth = [(np.array([[0, 0, 10, 10]]), np.array([1]))]
    with pytest.raises(ValueError, match="1 images of detections but 2 of truths"):
        metrics.match([(np.zeros((0, 4)), [], [])], truth * 2)
    with pytest.raises(ValueError, match="x_max < x_min"):
        metrics.match([(np.array([[10, 0, 0, 10]]), [0.5], [1])], truth)
    with pytest.raises(ValueError, match="2 boxes, 1 scores and 2 labels"):
        metrics.match([(np.zeros((2, 4)), [0.5], [1, 1])], truth)
    with pytest.raises(ValueError, match="method must be one of"):
        metrics.average_precision([1.0], [1.0], "voc07")
    with pytest.raises(ValueError, match="at least one ground-truth box"):
        metrics.precision_recall([True], 0)


def test_errors_lists_false_detections_and_missed_truths_at_one_operating_point():
    truths = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([1, 2]))]
    detections = [(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]]),
        np.array([0.9, 0.8, 0.7, 0.6, 0.2]),
        np.array([1, 3, 1, 2, 2]),  # right; wrong class; duplicate; nothing there; below 0.5
    )]  # fmt: skip
    ((false, missed),) = metrics.errors(detections, truths, score_threshold=0.5)
    assert false.tolist() == [1, 2, 3] and missed.tolist() == [1]
    ((false, missed),) = metrics.errors(detections, truths, score_threshold=0.1)
    assert false.tolist() == [1, 2, 3] and missed.tolist() == []
    with pytest.raises(ValueError, match="images"):
        metrics.errors(detections, truths * 2)

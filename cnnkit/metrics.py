"""Detection metrics in NumPy: precision and recall, average precision (VOC and COCO), mAP.

Inputs, one entry per image: ``detections[i] = (boxes, scores, labels)`` and
``truths[i] = (boxes, labels)``, boxes in ``"xyxy"`` pixels. A detection is a true positive when its
IoU with a ground-truth box of its class is at least the threshold and that box is not taken yet by a
higher-scoring detection; it takes the box it overlaps most among those still free (as
``pycocotools`` does, whose numbers ``coco_map`` reproduces).
"""

from __future__ import annotations

import numpy as np

from cnnkit.boxes import iou

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AP_METHODS = ("voc11", "all", "coco101")


def match(detections, truths, iou_thresholds=0.5, max_detections: int = 100) -> dict:
    """Score every detection as true or false positive, per class and IoU threshold.

    Returns ``{class: (scores, hits, num_truths)}``: the scores of the class's detections (best
    first; the ``max_detections`` best of each image count), ``hits`` of shape (thresholds,
    detections), True for a true positive, and the number of ground-truth boxes of the class.
    """
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} images of detections but {len(truths)} of truths")
    thresholds = np.atleast_1d(np.asarray(iou_thresholds, np.float64))
    per_class: dict = {}
    for image, (det, truth) in enumerate(zip(detections, truths, strict=True)):
        d_boxes, d_scores, d_labels = (np.asarray(x) for x in det)
        t_boxes, t_labels = np.asarray(truth[0]).reshape(-1, 4), np.asarray(truth[1]).reshape(-1)
        d_boxes = d_boxes.reshape(-1, 4)
        for what, b in (("detection", d_boxes), ("ground-truth", t_boxes)):
            if (b[:, 2:] < b[:, :2]).any():
                raise ValueError(f"image {image}: a {what} box has x_max < x_min or y_max < y_min "
                                 "(boxes must be 'xyxy')")  # fmt: skip
        if not len(d_boxes) == len(d_scores) == len(d_labels):
            raise ValueError(f"image {image}: detections have {len(d_boxes)} boxes, "
                             f"{len(d_scores)} scores and {len(d_labels)} labels")  # fmt: skip
        for c in np.union1d(d_labels, t_labels).tolist():
            gt = t_boxes[t_labels == c]
            order = np.argsort(-d_scores[d_labels == c], kind="mergesort")[:max_detections]
            boxes, scores = d_boxes[d_labels == c][order], d_scores[d_labels == c][order]
            overlaps = iou(boxes, gt) if len(gt) else np.zeros((len(boxes), 0))
            hits = np.zeros((len(thresholds), len(boxes)), bool)
            for t, threshold in enumerate(thresholds):
                taken = np.zeros(len(gt), bool)
                for k in range(len(boxes)):
                    free = np.where(taken, -1.0, overlaps[k])
                    best = len(gt) - 1 - np.argmax(free[::-1]) if len(gt) else 0  # the last best
                    if len(gt) and free[best] >= min(threshold, 1 - 1e-10):
                        taken[best] = hits[t, k] = True
            entry = per_class.setdefault(c, ([], [], [0]))
            entry[0].append(scores)
            entry[1].append(hits)
            entry[2][0] += len(gt)
    result = {}
    for c, (scores, hits, count) in sorted(per_class.items()):
        scores, hits = np.concatenate(scores), np.concatenate(hits, axis=1)
        order = np.argsort(-scores, kind="mergesort")
        result[c] = (scores[order], hits[:, order], count[0])
    return result


def precision_recall(hits, num_truths: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection, for detections sorted best first.

    ``hits``: True for a true positive; ``num_truths``: the number of ground-truth boxes.
    """
    hits = np.asarray(hits, bool)
    if num_truths < 1:
        raise ValueError(f"recall needs at least one ground-truth box, got num_truths={num_truths}")
    true_positives = np.cumsum(hits, axis=-1)
    false_positives = np.cumsum(~hits, axis=-1)
    precision = true_positives / (true_positives + false_positives + np.spacing(1))
    return precision, true_positives / num_truths


def average_precision(precision, recall, method: str = "all") -> float:
    """The area under a precision–recall curve, interpolated.

    The interpolated precision at recall r is the best precision at any recall ≥ r.
    ``"voc11"``: its mean at recall 0, 0.1, …, 1 (PASCAL VOC 2007); ``"all"``: the exact area under
    it (VOC 2010 and later); ``"coco101"``: its mean at recall 0, 0.01, …, 1 (COCO).
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    if precision.shape != recall.shape or precision.ndim != 1:
        raise ValueError(
            f"precision and recall must be 1-D and alike, got {precision.shape} and {recall.shape}"
        )
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision from here on
    if method == "all":
        steps = np.diff(np.concatenate([[0.0], recall]))
        return float((steps * envelope).sum())
    # COCO's levels as pycocotools makes them (np.linspace: 0.35 becomes 0.35000000000000003)
    levels = np.linspace(0, 1, 11 if method == "voc11" else 101)
    found = np.searchsorted(recall, levels, side="left")  # the first point reaching each level
    padded = np.concatenate([envelope, [0.0]])
    return float(padded[found].mean())


def average_precision_per_class(detections, truths, iou_threshold=0.5, method="all",
                                max_detections=100) -> dict:  # fmt: skip
    """``{class: AP}`` at one IoU threshold, for every class with at least one ground-truth box."""
    matched = match(detections, truths, iou_threshold, max_detections)
    return {
        c: average_precision(*precision_recall(hits[0], count), method)
        for c, (_, hits, count) in matched.items()
        if count
    }


def mean_average_precision(detections, truths, iou_threshold=0.5, method="all", max_detections=100):
    """mAP: the mean AP over the classes that have ground-truth boxes (``method`` as above)."""
    per_class = average_precision_per_class(
        detections, truths, iou_threshold, method, max_detections
    )
    return float(np.mean(list(per_class.values()))) if per_class else 0.0


def coco_map(detections, truths, max_detections: int = 100) -> dict:
    """COCO's box mAP: 101-point AP averaged over classes and IoU 0.50, 0.55, …, 0.95.

    Returns ``{"map": ..., "map_50": ..., "map_75": ...}`` (the names torchmetrics uses), like
    ``pycocotools``' COCOeval for all areas and ``max_detections`` detections per image and class.
    """
    matched = match(detections, truths, COCO_IOU_THRESHOLDS, max_detections)
    table = np.zeros((0, len(COCO_IOU_THRESHOLDS)))  # (classes, thresholds)
    for _, hits, count in matched.values():
        if count:
            row = [average_precision(*precision_recall(h, count), "coco101") for h in hits]
            table = np.vstack([table, row])
    if not len(table):
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    return {
        "map": float(table.mean()),
        "map_50": float(table[:, 0].mean()),
        "map_75": float(table[:, 5].mean()),
    }


def errors(detections, truths, iou_threshold=0.5, score_threshold=0.5) -> list:
    """What a detector got wrong at one operating point, per image: ``(false, missed)`` indices.

    Only detections scoring above ``score_threshold`` count. Best score first, each takes the free
    ground-truth box of its class that it overlaps most, if that IoU reaches ``iou_threshold``;
    ``false`` lists the detections that took none, ``missed`` the ground-truth boxes left free.
    """
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} images of detections but {len(truths)} of truths")
    found = []
    for (d_boxes, d_scores, d_labels), (t_boxes, t_labels) in zip(detections, truths, strict=True):
        d_boxes, d_scores = np.asarray(d_boxes).reshape(-1, 4), np.asarray(d_scores).reshape(-1)
        t_boxes, t_labels = np.asarray(t_boxes).reshape(-1, 4), np.asarray(t_labels).reshape(-1)
        overlaps = iou(d_boxes, t_boxes) if len(t_boxes) else np.zeros((len(d_boxes), 0))
        taken, false = np.zeros(len(t_boxes), bool), []
        for k in np.argsort(-d_scores, kind="mergesort"):
            if d_scores[k] <= score_threshold:
                break
            free = np.where(taken | (t_labels != np.asarray(d_labels)[k]), -1.0, overlaps[k])
            best = int(np.argmax(free)) if len(free) else -1
            if best >= 0 and free[best] >= iou_threshold:
                taken[best] = True
            else:
                false.append(int(k))
        found.append((np.array(false, np.int64), np.flatnonzero(~taken)))
    return found

"""Bounding boxes in NumPy: formats, IoU, non-max suppression, K-Means anchors, YOLO decoding.

Boxes are arrays whose last axis holds 4 numbers. Pixel coordinates are continuous: a box
``(x_min, y_min, x_max, y_max)`` has width ``x_max - x_min`` (no "+ 1"), as in COCO, torchvision and
Keras. The formats follow Keras's names (``keras.utils.bounding_boxes``):

- ``"xyxy"``: corners ``x_min, y_min, x_max, y_max``; ``"yxyx"``: the same, rows first (TensorFlow's
  ``tf.image`` functions);
- ``"xywh"``: top-left corner and size (COCO's annotations);
- ``"center_xywh"``: centre and size (YOLO);
- ``"rel_xyxy"``, ``"rel_center_xywh"``: the same divided by the image's width and height (0 to 1).
"""

from __future__ import annotations

import numpy as np

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "rel_xyxy", "rel_center_xywh")


def convert_format(boxes, source: str, target: str, *, height=None, width=None) -> np.ndarray:
    """Convert boxes between the formats of ``FORMATS`` (``height``/``width`` for the ``rel_`` ones)."""
    for name, value in (("source", source), ("target", target)):
        if value not in FORMATS:
            raise ValueError(f"{name} format must be one of {FORMATS}, got {value!r}")
    b = _as_boxes(boxes, "boxes").astype(np.float64)
    if "rel_" in source + target and (height is None or width is None):
        raise ValueError(f"converting {source!r} to {target!r} needs the image's height and width")
    scale = np.array([width, height, width, height], np.float64) if "rel_" in source + target else 1
    if source.startswith("rel_"):
        b, source = b * scale, source[4:]
    a, c, d, e = np.moveaxis(b, -1, 0)
    if source == "yxyx":
        corners = (c, a, e, d)
    elif source == "xywh":
        corners = (a, c, a + d, c + e)
    elif source == "center_xywh":
        corners = (a - d / 2, c - e / 2, a + d / 2, c + e / 2)
    else:
        corners = (a, c, d, e)
    x0, y0, x1, y1 = corners
    plain = target.removeprefix("rel_")
    out = {
        "xyxy": (x0, y0, x1, y1),
        "yxyx": (y0, x0, y1, x1),
        "xywh": (x0, y0, x1 - x0, y1 - y0),
        "center_xywh": ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0),
    }[plain]
    out = np.stack(out, axis=-1)
    return out / scale if target.startswith("rel_") else out


def area(boxes) -> np.ndarray:
    """The areas of ``"xyxy"`` boxes (0 for an empty or inverted box)."""
    b = _as_boxes(boxes, "boxes")
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every box of ``boxes_a`` (n, 4) with every one of ``boxes_b`` (m, 4).

    Both in ``"xyxy"`` (a single box may be given as (4,)); returns (n, m). Two empty boxes have an
    IoU of 0.
    """
    a = np.atleast_2d(_as_boxes(boxes_a, "boxes_a"))[:, None, :]
    b = np.atleast_2d(_as_boxes(boxes_b, "boxes_b"))[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = area(a) + area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def nms(boxes, scores, iou_threshold=0.5, *, score_threshold=None, max_output=None, classes=None):
    """Greedy non-max suppression; returns the indices of the kept boxes, best score first.

    Boxes scoring ``score_threshold`` or less are dropped first (as ``tf.image.non_max_suppression``). Then the best remaining box is kept
    and every remaining box whose IoU with it is above ``iou_threshold`` is dropped, until none is
    left (or ``max_output`` are kept). Equal scores keep the lower index first. With ``classes``,
    boxes of different classes never suppress each other.
    """
    b, s = _as_boxes(boxes, "boxes"), np.asarray(scores, np.float64)
    if b.ndim != 2 or s.shape != b.shape[:1]:
        raise ValueError(f"boxes must be (n, 4) and scores (n,), got {b.shape} and {s.shape}")
    order = np.argsort(-s, kind="stable")
    if score_threshold is not None:
        order = order[s[order] > score_threshold]
    if classes is not None:  # move each class far away from the others: they never overlap
        offset = (np.asarray(classes, np.float64) * (np.abs(b).max(initial=0) * 2 + 1))[:, None]
        b = b + offset
    keep = []
    while order.size and (max_output is None or len(keep) < max_output):
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[iou(b[best : best + 1], b[order])[0] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def size_iou(sizes, anchors) -> np.ndarray:
    """IoU of boxes of ``sizes`` (n, 2: width, height) with ``anchors`` (k, 2), all centred together."""
    w = np.minimum(sizes[:, None, 0], anchors[None, :, 0])
    h = np.minimum(sizes[:, None, 1], anchors[None, :, 1])
    inter = w * h
    return inter / (sizes[:, None].prod(-1) + anchors[None].prod(-1) - inter)


def kmeans_anchors(sizes, k: int, *, num_iterations=100, num_restarts=4, seed=0) -> np.ndarray:
    """K-Means on box sizes (n, 2) with the distance 1 − IoU; returns k anchors sorted by area.

    Each centre is the mean width and height of its cluster. Each of the ``num_restarts`` runs
    starts from k sizes picked with K-Means++ (with the same distance); the run whose anchors fit
    the boxes best (largest mean IoU of each box with its nearest anchor) wins.
    """
    sizes = np.asarray(sizes, np.float64)
    if sizes.ndim != 2 or sizes.shape[1] != 2 or (sizes <= 0).any():
        raise ValueError(
            f"sizes must be (n, 2) positive widths and heights, got shape {sizes.shape}"
        )
    if not 1 <= k <= len(np.unique(sizes, axis=0)):
        raise ValueError(f"k must be between 1 and the number of distinct sizes, got {k}")
    rng = np.random.default_rng(seed)
    best, best_fit = None, -1.0
    for _ in range(num_restarts):
        anchors = sizes[[rng.integers(len(sizes))]]
        while len(anchors) < k:  # K-Means++: the farther a size, the likelier its pick
            distance = (1 - size_iou(sizes, anchors)).min(axis=1) ** 2
            anchors = np.vstack(
                [anchors, sizes[rng.choice(len(sizes), p=distance / distance.sum())]]
            )
        for _ in range(num_iterations):
            nearest = size_iou(sizes, anchors).argmax(axis=1)
            updated = np.array([sizes[nearest == j].mean(axis=0) if (nearest == j).any()
                                else anchors[j] for j in range(k)])  # fmt: skip
            if np.allclose(updated, anchors):
                break
            anchors = updated
        fit = size_iou(sizes, anchors).max(axis=1).mean()
        if fit > best_fit:
            best, best_fit = anchors, fit
    return best[np.argsort(best.prod(axis=1), kind="stable")]


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # no overflow for large |x|


def decode_yolo(outputs, anchors, stride):
    """Turn a raw grid output into boxes, objectness and class probabilities.

    ``outputs``: (batch, rows, columns, num_anchors, 5 + num_classes): per anchor, the box's
    ``t_x, t_y, t_w, t_h``, the objectness logit and the class logits. The centre is
    ``(column + sigmoid(t_x)) · stride`` (the same for rows with ``t_y``), so it stays inside its
    cell; the size is the anchor's times ``exp(t_w)`` and ``exp(t_h)``. ``anchors``: (num_anchors, 2)
    widths and heights in pixels. Returns ``"xyxy"`` boxes (batch, rows, columns, num_anchors, 4),
    objectness (sigmoid) and class probabilities (softmax) with the same leading axes.
    """
    out, anchors = np.asarray(outputs, np.float64), np.asarray(anchors, np.float64)
    if out.ndim != 5 or out.shape[3] != len(anchors) or out.shape[4] < 5:
        raise ValueError(
            f"outputs must be (batch, rows, columns, {len(anchors)} anchors, 5 + classes), got {out.shape}"
        )
    rows, columns = np.meshgrid(np.arange(out.shape[1]), np.arange(out.shape[2]), indexing="ij")
    cx = (columns[..., None] + _sigmoid(out[..., 0])) * stride
    cy = (rows[..., None] + _sigmoid(out[..., 1])) * stride
    scales = np.exp(np.minimum(out[..., 2:4], 10.0))  # at most e^10 times the anchor: no overflow
    w, h = anchors[:, 0] * scales[..., 0], anchors[:, 1] * scales[..., 1]
    boxes = convert_format(np.stack([cx, cy, w, h], axis=-1), "center_xywh", "xyxy")
    logits = out[..., 5:] - out[..., 5:].max(axis=-1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return boxes, _sigmoid(out[..., 4]), probabilities


def grid_detections(outputs, anchors, stride, *, score_threshold=0.001, iou_threshold=0.5,
                    max_candidates=300, max_detections=100) -> list:  # fmt: skip
    """Detections per image, ``(boxes, scores, labels)``, from a raw grid output (``decode_yolo``).

    Every (anchor, class) pair is a candidate, scored by the anchor's objectness times that class's
    probability: an anchor unsure between a 3 and an 8 proposes both, and the evaluation ranks them.
    The ``max_candidates`` best pairs scoring above ``score_threshold`` go through non-max
    suppression per class, and the ``max_detections`` best survivors are kept. For mAP keep the
    threshold low (a detection ranked last costs nothing); for a figure, filter the scores after.
    """
    decoded, objectness, probabilities = decode_yolo(outputs, anchors, stride)
    found = []
    for b, o, p in zip(decoded, objectness, probabilities, strict=True):
        num_classes = p.shape[-1]
        b, scores = b.reshape(-1, 4), (o[..., None] * p).reshape(-1)  # (anchors · classes,)
        best = np.argsort(-scores, kind="stable")[:max_candidates]
        best = best[scores[best] > score_threshold]
        candidates, labels = b[best // num_classes], best % num_classes
        keep = nms(candidates, scores[best], iou_threshold, max_output=max_detections,
                   classes=labels)  # fmt: skip
        found.append((candidates[keep], scores[best][keep], labels[keep]))
    return found


def encode_yolo(boxes, labels, anchors, grid_shape, stride) -> np.ndarray:
    """Training targets of a grid detector for the ``"xyxy"`` boxes of one image.

    Each box goes to the cell holding its centre and to the anchor of most similar shape (largest
    ``size_iou``); of two boxes given the same cell and anchor, the later one wins. Returns (rows, columns, num_anchors, 6): objectness (1 or 0), the centre's
    offsets inside the cell (0 to 1), ``log`` of width and height over the anchor's, the class.
    """
    rows, columns = grid_shape
    target = np.zeros((rows, columns, len(anchors), 6), np.float32)
    b = convert_format(boxes, "xyxy", "center_xywh").reshape(-1, 4)
    if not len(b):
        return target
    best = size_iou(b[:, 2:], np.asarray(anchors, np.float64)).argmax(axis=1)
    for (cx, cy, w, h), label, a in zip(b, labels, best, strict=True):
        column = min(int(cx // stride), columns - 1)
        row = min(int(cy // stride), rows - 1)
        offsets = [cx / stride - column, cy / stride - row]
        scales = np.log([w / anchors[a][0], h / anchors[a][1]])
        target[row, column, a] = [1, *offsets, *scales, label]
    return target


def _as_boxes(boxes, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 0 or b.shape[-1] != 4:
        raise ValueError(f"{name} must have 4 numbers on its last axis, got shape {b.shape}")
    return b

"""cnnkit.boxes against the libraries: Keras's formats and IoU, torchvision's and TensorFlow's NMS."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torchvision
from keras.utils import bounding_boxes
from sklearn.cluster import KMeans

from cnnkit import boxes


def random_boxes(rng, n, size=200.0, largest=60.0):
    corner = rng.uniform(0, size, (n, 2))
    return np.hstack([corner, corner + rng.uniform(1, largest, (n, 2))]).astype(np.float32)


@pytest.mark.parametrize("source", boxes.FORMATS)
@pytest.mark.parametrize("target", boxes.FORMATS)
def test_formats_agree_with_keras_and_round_trip(source, target):
    xyxy = random_boxes(np.random.default_rng(0), 7)
    given = boxes.convert_format(xyxy, "xyxy", source, height=80, width=120)
    ours = boxes.convert_format(given, source, target, height=80, width=120)
    theirs = bounding_boxes.convert_format(
        given.astype("float32"), source, target, height=80, width=120
    )
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-4)
    back = boxes.convert_format(ours, target, "xyxy", height=80, width=120)
    np.testing.assert_allclose(back, xyxy, atol=1e-4)


def test_formats_on_a_worked_example_and_bad_formats():
    box = np.array([[10.0, 20.0, 50.0, 40.0]])  # x from 10 to 50, y from 20 to 40
    assert boxes.convert_format(box, "xyxy", "xywh").tolist() == [[10, 20, 40, 20]]
    assert boxes.convert_format(box, "xyxy", "center_xywh").tolist() == [[30, 30, 40, 20]]
    assert boxes.convert_format(box, "xyxy", "yxyx").tolist() == [[20, 10, 40, 50]]
    rel = boxes.convert_format(box, "xyxy", "rel_center_xywh", height=100, width=200)
    np.testing.assert_allclose(rel, [[0.15, 0.3, 0.2, 0.2]])
    with pytest.raises(ValueError, match="target format must be one of"):
        boxes.convert_format(box, "xyxy", "cxcywh")
    with pytest.raises(ValueError, match="needs the image's height and width"):
        boxes.convert_format(box, "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="4 numbers on its last axis"):
        boxes.convert_format(np.zeros((3, 5)), "xyxy", "xywh")


def test_iou_equals_torchvision_and_keras_on_random_and_special_boxes():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 300), random_boxes(rng, 200)
    special = np.array(
        [[0, 0, 10, 10], [2, 2, 5, 5], [10, 0, 20, 10], [0, 0, 10, 10], [3, 3, 3, 8]]
    )
    a, b = np.vstack([a, special]).astype(np.float32), np.vstack([b, special]).astype(np.float32)
    ours = boxes.iou(a, b)
    assert ours.shape == (305, 205)
    torch_iou = torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.isnan(torch_iou[-1, -1])  # torchvision divides 0 by 0 for two empty boxes; we give 0
    np.testing.assert_allclose(ours, np.nan_to_num(torch_iou), atol=1e-6)
    keras_iou = keras.ops.convert_to_numpy(bounding_boxes.compute_iou(a, b, "xyxy"))
    np.testing.assert_allclose(ours, keras_iou, atol=1e-6)
    same, inside, touching = ours[-5, -5], ours[-5, -4], ours[-5, -3]
    assert same == 1 and inside == 9 / 100 and touching == 0
    assert ours[-1, -1] == 0  # an empty box overlaps nothing, not even itself
    np.testing.assert_allclose(boxes.iou(special[0], special[1:2]), [[0.09]])  # one box: (4,)
    assert 0 <= ours.min() and ours.max() <= 1


def test_area_ignores_inverted_boxes():
    np.testing.assert_array_equal(boxes.area([[0, 0, 4, 3], [5, 5, 2, 9]]), [12, 0])


def test_nms_equals_torchvision_and_tensorflow_with_ties_and_thresholds():
    rng = np.random.default_rng(2)
    for n, threshold in [(50, 0.3), (2000, 0.5), (3000, 0.7)]:
        b = random_boxes(rng, n, size=400)
        scores = rng.choice(np.linspace(0.05, 1, 40), n).astype(np.float32)  # many equal scores
        ours = boxes.nms(b, scores, threshold)
        torch_kept = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(scores), threshold)
        tf_kept = tf.image.non_max_suppression(b[:, [1, 0, 3, 2]], scores, n, threshold)
        np.testing.assert_array_equal(ours, torch_kept.numpy())
        np.testing.assert_array_equal(ours, tf_kept.numpy())
        assert 0 < len(ours) < n and (np.diff(scores[ours]) <= 0).all()
        with_score = boxes.nms(b, scores, threshold, score_threshold=0.5, max_output=20)
        tf_score = tf.image.non_max_suppression(
            b[:, [1, 0, 3, 2]], scores, 20, threshold, score_threshold=0.5
        )
        np.testing.assert_array_equal(with_score, tf_score.numpy())
        assert len(with_score) == 20 and (scores[with_score] > 0.5).all()
        # per class: torchvision's batched_nms sorts its result with an unstable sort, so compare
        # with distinct scores
        classes, distinct = rng.integers(0, 4, n), rng.permutation(n).astype(np.float32)
        batched = torchvision.ops.batched_nms(
            torch.from_numpy(b), torch.from_numpy(distinct), torch.from_numpy(classes), threshold
        )
        per_class = boxes.nms(b, distinct, threshold, classes=classes)
        np.testing.assert_array_equal(per_class, batched.numpy())
        assert len(per_class) > len(boxes.nms(b, distinct, threshold))


def test_nms_threshold_is_strict_and_bad_shapes_are_named():
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 20], [50, 50, 60, 60]], np.float32)
    s = np.array([0.875, 0.75, 0.625, 0.25], np.float32)  # exact in binary
    assert boxes.nms(b, s, 0.5).tolist() == [0, 1, 2, 3]  # IoU exactly 0.5 is kept
    assert boxes.nms(b, s, 0.49).tolist() == [0, 3]
    assert boxes.nms(b, s, 0.5, score_threshold=0.25).tolist() == [0, 1, 2]
    assert boxes.nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    with pytest.raises(ValueError, match=r"boxes must be \(n, 4\) and scores \(n,\)"):
        boxes.nms(b, s[:3])


def test_kmeans_anchors_find_clusters_and_beat_euclidean_distance():
    rng = np.random.default_rng(3)
    centres = np.array([[8, 10], [20, 40], [60, 30]], float)
    sizes = np.vstack([c * rng.uniform(0.9, 1.1, (200, 2)) for c in centres])
    anchors = boxes.kmeans_anchors(sizes, 3, seed=0)
    np.testing.assert_allclose(anchors, centres, rtol=0.05)  # sorted by area, like the centres
    np.testing.assert_array_equal(anchors, boxes.kmeans_anchors(sizes, 3, seed=0))
    # many small boxes and a few large ones: Euclidean K-Means spends its centres on the large ones
    skewed = np.vstack([rng.uniform(4, 16, (900, 2)), rng.uniform(80, 200, (100, 2))])
    ours = boxes.kmeans_anchors(skewed, 4, seed=0)
    euclidean = KMeans(4, n_init=10, random_state=0).fit(skewed).cluster_centers_
    best_ours = boxes.size_iou(skewed, ours).max(1).mean()
    best_euclidean = boxes.size_iou(skewed, euclidean).max(1).mean()
    assert best_ours > best_euclidean + 0.03
    with pytest.raises(ValueError, match="k must be between 1"):
        boxes.kmeans_anchors(sizes[:2], 3)
    with pytest.raises(ValueError, match="positive widths and heights"):
        boxes.kmeans_anchors(-sizes, 3)


@pytest.mark.filterwarnings("error")  # e.g. an overflow in exp
def test_yolo_decoding_the_anchor_example_and_cells():
    anchors = np.array([[100.0, 50.0], [30.0, 30.0]])
    out = np.zeros((1, 2, 3, 2, 5 + 4))
    out[0, 1, 2, 0, :4] = [0.0, 0.0, np.log(1.5), np.log(0.9)]  # row 1, column 2, first anchor
    out[0, 1, 2, 0, 4] = 3.0
    out[0, 1, 2, 0, 5:] = [0, 0, 5, 0]
    decoded, objectness, probabilities = boxes.decode_yolo(out, anchors, stride=32)
    assert decoded.shape == (1, 2, 3, 2, 4) and objectness.shape == (1, 2, 3, 2)
    centre_size = boxes.convert_format(decoded[0, 1, 2, 0], "xyxy", "center_xywh")
    np.testing.assert_allclose(
        centre_size, [2.5 * 32, 1.5 * 32, 150, 45]
    )  # a 100×50 anchor → 150×45
    np.testing.assert_allclose(objectness[0, 1, 2, 0], 1 / (1 + np.exp(-3)))
    assert probabilities[0, 1, 2, 0].argmax() == 2
    np.testing.assert_allclose(probabilities.sum(-1), 1)
    extreme = boxes.decode_yolo(np.full((1, 1, 1, 1, 6), 1e4), [[10, 10]], 8)  # no overflow warning
    assert np.isfinite(extreme[1]).all()
    centres = boxes.convert_format(
        boxes.decode_yolo(np.random.default_rng(4).normal(0, 9, out.shape), anchors, 32)[0],
        "xyxy",
        "center_xywh",
    )
    columns, rows = np.meshgrid(np.arange(3), np.arange(2))
    assert (centres[0, ..., 0] // 32 == columns[..., None]).all() and (
        centres[0, ..., 1] // 32 == rows[..., None]
    ).all()
    with pytest.raises(ValueError, match=r"outputs must be \(batch, rows, columns, 2 anchors"):
        boxes.decode_yolo(out[..., :4], anchors, 32)


def test_encoding_then_decoding_gives_the_boxes_back():
    anchors = np.array([[12.0, 16.0], [24.0, 32.0], [40.0, 30.0]])
    truth = np.array([[3.0, 5.0, 15.0, 25.0], [40.0, 40.0, 80.0, 70.0], [60.0, 2.0, 72.0, 14.0]])
    target = boxes.encode_yolo(truth, [7, 1, 3], anchors, (12, 12), stride=8)
    assert target.shape == (12, 12, 3, 6) and target[..., 0].sum() == 3
    cells = np.argwhere(target[..., 0] == 1)  # (row, column, anchor) of each box
    assert cells.tolist() == [[1, 1, 0], [1, 8, 0], [6, 7, 2]]
    logits = np.zeros((1, 12, 12, 3, 5 + 10))
    offsets = target[..., 1:3].clip(1e-6, 1 - 1e-6)
    logits[0, ..., :2] = np.log(offsets / (1 - offsets))  # the inverse of the sigmoid
    logits[0, ..., 2:4] = target[..., 3:5]
    decoded = boxes.decode_yolo(logits, anchors, 8)[0][0]
    found = decoded[tuple(cells.T)]
    np.testing.assert_allclose(found, truth[[0, 2, 1]], atol=1e-4)
    assert target[tuple(cells.T)][:, 5].tolist() == [7, 3, 1]
    assert boxes.encode_yolo(np.zeros((0, 4)), [], anchors, (12, 12), 8).sum() == 0


def test_grid_detections_score_suppress_and_keep_classes_apart():
    anchors = np.array([[16.0, 16.0], [18.0, 18.0]])
    out = np.full((1, 4, 4, 2, 5 + 3), -10.0)
    out[..., :4] = 0.0
    out[0, 1, 1, :, 4] = 10.0  # both anchors of cell (1, 1) see an object of class 2
    out[0, 1, 1, :, 5 + 2] = 10.0
    out[0, 1, 1, 1, 4] = 9.0  # the second one a little less sure
    out[0, 3, 0, 0, 4], out[0, 3, 0, 0, 5 + 1] = 10.0, 10.0  # another object, class 1
    ((found, scores, labels),) = boxes.grid_detections(out, anchors, 8, score_threshold=0.5)
    assert labels.tolist() == [2, 1] and (scores > 0.99).all()
    np.testing.assert_allclose(found[0], [4, 4, 20, 20])  # centre (12, 12), the 16 × 16 anchor
    assert (
        len(boxes.grid_detections(out, anchors, 8, iou_threshold=0.95, score_threshold=0.5)[0][0])
        == 3
    )


def test_grid_detections_rank_every_class_of_an_unsure_anchor():
    anchors = np.array([[16.0, 16.0]])
    out = np.full((1, 4, 4, 1, 5 + 3), -10.0)
    out[..., :4] = 0.0
    out[0, 1, 1, 0, 4] = 10.0  # an object, class 0 or 2: the anchor is unsure
    out[0, 1, 1, 0, 5 + 0], out[0, 1, 1, 0, 5 + 2] = 1.0, 0.0
    ((found, scores, labels),) = boxes.grid_detections(out, anchors, 8, score_threshold=0.1)
    assert labels.tolist() == [0, 2]  # both classes, best first; NMS keeps classes apart
    np.testing.assert_allclose(found[0], found[1])
    assert scores[0] > scores[1] > 0.1
    assert (
        len(boxes.grid_detections(out, anchors, 8, score_threshold=0.1, max_candidates=1)[0][0])
        == 1
    )

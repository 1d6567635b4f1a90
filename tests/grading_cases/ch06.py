"""Chapter 6 (object detection): the grading proof's data. One batch of 5 submissions.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. The
exercises stand alone (Soft-NMS gets the IoU matrix, true positives get IoUs, AP gets the
detections' outcomes), so a mistake in one costs no points in another. Nothing trains: the batch
takes about two minutes on 2 cores (two workers). Written for the judge grader (grading v2): the answers of
exercises 1, 2, 4, 5 and 6 may not reach the frameworks or cnnkit, nor may exercise 3's reach cnnkit.
"""

from grading_proofs import Assignment

ASSIGNMENT = "06_object_detection"
POINTS = {
    "iou_visible": 1,
    "iou_library_hidden": 2,
    "iou_edges_hidden": 1,
    "giou_visible": 1,
    "giou_hidden": 1,
    "soft_nms_visible": 1,
    "soft_nms_reference_hidden": 2,
    "soft_nms_edges_hidden": 1,
    "my_boxes_visible": 1,
    "my_boxes_ious_hidden": 1,
    "my_boxes_kept_hidden": 1,
    "dense_to_conv_keras_test": 2,
    "dense_to_conv_torch_test": 2,
    "decode_yolo_visible": 1,
    "decode_yolo_hidden": 2,
    "encode_box_visible": 1,
    "encode_box_hidden": 1,
    "size_distance_test": 1,
    "kmeans_anchors_visible": 1,
    "kmeans_anchors_iou_hidden": 2,
    "true_positives_visible": 1,
    "true_positives_map_hidden": 2,
    "average_precision_visible": 1,
    "average_precision_hidden": 1,
    "average_precision_map_hidden": 1,
}
TOTAL = 32
MANUAL = "fcn_answer"
WORKERS, TIMEOUT = 2, 1500

variant = Assignment(ASSIGNMENT).variant

IOU_CELLS = {"iou_visible", "iou_library_hidden", "iou_edges_hidden"}

# Tricks (issue 10): the libraries' and the course's versions as the answers. Each reaches a
# forbidden module, so every test cell that uses the answer's names scores 0.
BORROWED_IOU = """
import torch
import torchvision


def iou(boxes_a, boxes_b):
    return torchvision.ops.box_iou(torch.as_tensor(boxes_a), torch.as_tensor(boxes_b)).numpy()
"""

BORROWED_DENSE_TO_CONV = """
from cnnkit.detection import keras as course_keras
from cnnkit.detection import torch as course_torch


def dense_to_conv_keras(dense, in_channels, height, width):
    return course_keras.dense_to_conv(dense, in_channels, height, width)


def dense_to_conv_torch(linear, in_channels, height, width):
    return course_torch.dense_to_conv(linear, in_channels, height, width)
"""

BORROWED_DECODE = """
from cnnkit import boxes


def decode_yolo(outputs, anchors, stride):
    decoded, objectness, _ = boxes.decode_yolo(outputs, anchors, stride)
    return decoded, objectness
"""

BORROWED_AP = """
from cnnkit import metrics


def average_precision(outcomes, num_truths, num_levels=101):
    outcomes = np.asarray(outcomes)
    precision, recall = metrics.precision_recall(outcomes[outcomes >= 0] == 1, num_truths)
    return metrics.average_precision(precision, recall, "voc11" if num_levels == 11 else "coco101")
"""

COVERED = """
def covered(box, truth):
    inter = max(min(box[2], truth[2]) - max(box[0], truth[0]), 0) * max(
        min(box[3], truth[3]) - max(box[1], truth[1]), 0
    )
    return inter / ((truth[2] - truth[0]) * (truth[3] - truth[1]))


"""

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "careless": (
        {
            "iou": variant(  # the old "+ 1" of pixel-index boxes
                "iou",
                (
                    "a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0",
                    "a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1, 0",
                ),
                (
                    "a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0",
                    "a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1, 0",
                ),
                (
                    "area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])",
                    "area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)",
                ),
                (
                    "area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])",
                    "area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)",
                ),
            ),  # fmt: skip
            "soft_nms": variant(  # the next box by its first score, not by its lowered one
                "soft_nms",
                (
                    "best = int(np.argmax(current))",
                    "best = int(np.flatnonzero(np.isfinite(current))[np.argmax(np.asarray(scores)[np.isfinite(current)])])",
                ),
            ),  # fmt: skip
            "my_boxes": variant(  # the same mistake by hand: the detections in index order
                "my_boxes",
                ("for k in sorted(range(3), key=lambda k: -SCORES[k]):", "for k in range(3):"),
            ),
            "dense_to_conv": variant(  # PyTorch's weights read in Keras's (height, width, channels) order
                "dense_to_conv",
                (
                    "linear.weight.reshape(linear.out_features, in_channels, height, width)",
                    "linear.weight.reshape(linear.out_features, height, width, in_channels).permute(0, 3, 1, 2)",
                ),
            ),  # fmt: skip
            "kmeans_anchors": variant(  # the union without the intersection taken off
                "kmeans_anchors",
                (
                    "union = sizes[:, None].prod(-1) + anchors[None].prod(-1) - inter",
                    "union = sizes[:, None].prod(-1) + anchors[None].prod(-1)",
                ),
            ),  # fmt: skip
            "average_precision": variant(  # the raw precision, not interpolated
                "average_precision",
                ("envelope = np.maximum.accumulate(precision[::-1])[::-1]", "envelope = precision"),
            ),
        },
        IOU_CELLS
        | {"soft_nms_visible", "soft_nms_reference_hidden"}  # the edge cases never lower a score
        | {"my_boxes_visible", "my_boxes_kept_hidden"}
        | {"dense_to_conv_torch_test", "size_distance_test"}
        | {"average_precision_visible", "average_precision_hidden", "average_precision_map_hidden"},
    ),
    "sloppy": (
        {
            "iou": variant(  # boxes read as (x, y, width, height)
                "iou",
                (
                    "area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])",
                    "area_a = a[..., 2] * a[..., 3]",
                ),
                (
                    "area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])",
                    "area_b = b[..., 2] * b[..., 3]",
                ),
            ),  # fmt: skip
            "soft_nms": variant(  # the decay of the linear IoU, not of its square
                "soft_nms",
                ("np.exp(-ious[best, alive] ** 2 / sigma)", "np.exp(-ious[best, alive] / sigma)"),
            ),
            "dense_to_conv": variant(  # Keras's weights read in PyTorch's (channels, height, width) order
                "dense_to_conv",
                (
                    "kernel.reshape(height, width, in_channels, -1)",
                    "kernel.reshape(in_channels, height, width, -1).transpose(1, 2, 0, 3)",
                ),
            ),  # fmt: skip
            "kmeans_anchors": variant(  # means as centres, as the course package takes them
                "kmeans_anchors",
                ("np.median(sizes[nearest == j], axis=0)", "sizes[nearest == j].mean(axis=0)"),
            ),
            "decode_yolo": variant(  # rows and columns swapped
                "decode_yolo",
                (
                    "x = (columns[..., None] + sigmoid(out[..., 0])) * stride",
                    "x = (rows[..., None] + sigmoid(out[..., 0])) * stride",
                ),
                (
                    "y = (rows[..., None] + sigmoid(out[..., 1])) * stride",
                    "y = (columns[..., None] + sigmoid(out[..., 1])) * stride",
                ),
            ),  # fmt: skip
            "true_positives": variant(  # a true box never taken: duplicates count as hits
                "true_positives", ("taken[np.argmax(free)] = True", "pass")
            ),
            "my_boxes": COVERED  # the part of the true box covered, not the IoU
            + variant(
                "my_boxes", ("my_ious = [overlap(box, TRUTH)", "my_ious = [covered(box, TRUTH)")
            ),
        },
        IOU_CELLS
        | {"soft_nms_visible", "soft_nms_reference_hidden"}  # IoUs of 0 and 1 decay alike
        | {"dense_to_conv_keras_test", "decode_yolo_visible", "decode_yolo_hidden"}
        | {"true_positives_visible", "true_positives_map_hidden"}
        | {"my_boxes_ious_hidden", "kmeans_anchors_visible", "kmeans_anchors_iou_hidden"},
    ),
    "euclidean": (
        {
            "kmeans_anchors": variant(  # the Euclidean distance that the exercise warns about
                "kmeans_anchors",
                (
                    "nearest = size_distance(sizes, anchors).argmin(axis=1)",
                    "nearest = ((sizes[:, None] - anchors[None]) ** 2).sum(-1).argmin(axis=1)",
                ),
            ),  # fmt: skip
            "decode_yolo": variant(  # the objectness logit returned as it is
                "decode_yolo", ("return boxes, sigmoid(out[..., 4])", "return boxes, out[..., 4]")
            ),
            "encode_box": variant(  # the offsets inside the cell, not their logits
                "encode_box",
                ("t = [logit(x - column), logit(y - row),", "t = [x - column, y - row,"),
            ),
            "true_positives": variant(  # crowds taken as ordinary boxes
                "true_positives",
                (
                    "free = np.where(taken | crowd, -1.0, overlaps)",
                    "free = np.where(taken, -1.0, overlaps)",
                ),
            ),
            "average_precision": variant(  # the ignored detections counted as false positives
                "average_precision",
                ("hits = outcomes[outcomes >= 0] == 1", "hits = outcomes == 1"),
            ),
            "giou": variant(  # the enclosing box's extra area divided by the union, not by its own
                "giou",
                (
                    "return inter / union - (enclosing - union) / enclosing",
                    "return inter / union - (enclosing - union) / union",
                ),
            ),
        },
        {
            "giou_visible",
            "giou_hidden",
            "kmeans_anchors_iou_hidden",
            "decode_yolo_visible",
            "decode_yolo_hidden",
            "encode_box_visible",
            "encode_box_hidden",
            "true_positives_visible",
            "true_positives_map_hidden",
            "average_precision_visible",
            "average_precision_hidden",
            "average_precision_map_hidden",
        },
    ),
    "borrowed": (
        {
            "iou": BORROWED_IOU,
            "dense_to_conv": BORROWED_DENSE_TO_CONV,
            "decode_yolo": BORROWED_DECODE,
            "average_precision": BORROWED_AP,
        },
        IOU_CELLS
        | {"dense_to_conv_keras_test", "dense_to_conv_torch_test"}
        | {"decode_yolo_visible", "decode_yolo_hidden"}
        | {"average_precision_visible", "average_precision_hidden", "average_precision_map_hidden"},
    ),
}

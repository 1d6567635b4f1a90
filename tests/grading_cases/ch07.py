"""Chapter 7 (semantic segmentation): the grading proof's data. One batch of 6 submissions.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. Exercise
4's two details have a mistake each: skip scores left at their random start ("borrowed"), ×2
upsamplings left at their random start ("delegated").
A trick must score no more than honest work: "delegated" computes the right mean IoU with
torchmetrics, a reach its cell forbids, and loses every mean-IoU cell; "borrowed" calls the
course's own transposed convolution in ``cnnkit`` and loses every transposed-convolution cell.
Written for the judge grader (grading v2): the answers of exercises 1-3 may not reach the
frameworks or cnnkit.
"""

from grading_proofs import Assignment

ASSIGNMENT = "07_semantic_segmentation"
POINTS = {
    "conv_transpose_visible": 1,
    "conv_transpose_hidden": 2,
    "conv_transpose_padding_hidden": 1,
    "conv_transpose_speed_hidden": 1,
    "dilate_visible": 1,
    "dilate_hidden": 2,
    "mean_iou_visible": 1,
    "confusion_hidden": 1,
    "absent_classes_hidden": 2,
    "ignore_index_hidden": 2,
    "fusion_shapes_visible": 1,
    "fusion_shapes_hidden": 1,
    "fcn8s_head_visible": 1,
    "fcn8s_head_shapes_hidden": 1,
    "fcn8s_head_skips_hidden": 1,
    "fcn8s_head_zero_skips_hidden": 1,
    "fcn8s_head_bilinear_hidden": 1,
}
TOTAL = 21
MANUAL = "difficulty_answer"
WORKERS, TIMEOUT = 1, 1200

variant = Assignment(ASSIGNMENT).variant

BORROWED_TRANSPOSE = """
from cnnkit.upsampling import conv_transpose2d as course_version


def conv_transpose2d(inputs, kernels, stride=1, padding=0):
    return course_version(inputs, kernels, stride, padding)
"""

DELEGATED_MEAN_IOU = """
from torchmetrics.classification import MulticlassJaccardIndex


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=None):
    y_true, y_pred = np.ravel(y_true).astype(np.int64), np.ravel(y_pred).astype(np.int64)
    if ignore_index is not None:
        kept = y_true != ignore_index
        y_true, y_pred = y_true[kept], y_pred[kept]
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(confusion):
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    iou = np.full(len(confusion), np.nan)
    iou[union > 0] = hits[union > 0] / union[union > 0]
    return iou


def mean_iou(y_true, y_pred, num_classes, ignore_index=None):
    metric = MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index)
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return float(metric(torch.from_numpy(y_pred), torch.from_numpy(y_true)))
"""

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "careless": (
        {
            "conv_transpose2d": variant(  # the kernel not turned by 180 degrees
                "conv_transpose2d",
                (
                    "turned = w[::-1, ::-1].transpose(0, 1, 3, 2)",
                    "turned = w.transpose(0, 1, 3, 2)",
                ),
            ),
            "dilate_filter": variant(  # rate zeros between the taps instead of rate - 1
                "dilate_filter",
                (
                    "(w.shape[0] - 1) * r_h + 1, (w.shape[1] - 1) * r_w + 1",
                    "(w.shape[0] - 1) * (r_h + 1) + 1, (w.shape[1] - 1) * (r_w + 1) + 1",
                ),
                ("dilated[::r_h, ::r_w] = w", "dilated[:: r_h + 1, :: r_w + 1] = w"),
            ),  # fmt: skip
            "mean_iou": variant(  # an absent class counted as an IoU of 0
                "mean_iou",
                ("iou = np.full(len(confusion), np.nan)", "iou = np.zeros(len(confusion))"),
            ),
            "fusion_shapes": variant(
                "fusion_shapes",
                (
                    '"fused_8": (CLASSES, height // 8, width // 8)',
                    '"fused_8": (CLASSES, height // 4, width // 4)',
                ),
            ),
            "fcn8s_head": variant(  # FCN-16s: the stride-8 map is never added
                "fcn8s_head",
                ("fused8 = self.up16(fused16) + self.score8(map8)", "fused8 = self.up16(fused16)"),
            ),
        },
        {
            "conv_transpose_visible",
            "conv_transpose_hidden",
            "conv_transpose_padding_hidden",
            "dilate_visible",
            "dilate_hidden",
            "absent_classes_hidden",
            "fusion_shapes_hidden",
            "fcn8s_head_skips_hidden",
        },
    ),
    "sloppy": (
        {
            "conv_transpose2d": variant(  # the padding cut from the top and left only
                "conv_transpose2d",
                (
                    "return full[:, padding : full.shape[1] - padding, padding : full.shape[2] - padding]",
                    "return full[:, padding:, padding:]",
                ),
            ),  # fmt: skip
            "mean_iou": variant(  # ignore_index not applied: 255 lands outside the matrix
                "mean_iou",
                (
                    "    if ignore_index is not None:\n        kept = y_true != ignore_index\n"
                    "        y_true, y_pred = y_true[kept], y_pred[kept]\n",
                    "",
                ),
            ),  # fmt: skip
            "fcn8s_head": variant(  # the last upsampling by 4 instead of 8
                "fcn8s_head",
                (
                    'F.interpolate(fused8, scale_factor=8, mode="bilinear", align_corners=False)',
                    'F.interpolate(fused8, scale_factor=4, mode="bilinear", align_corners=False)',
                ),
            ),  # fmt: skip
        },
        {
            "conv_transpose_padding_hidden",
            "conv_transpose_speed_hidden",
            "ignore_index_hidden",
            "fcn8s_head_visible",
            "fcn8s_head_shapes_hidden",
        },
    ),
    "borrowed": (
        {
            "conv_transpose2d": BORROWED_TRANSPOSE,  # the course's answer: a forbidden reach
            "mean_iou": variant(  # rows and columns swapped: rows the predictions
                "mean_iou",
                (
                    "return counts.reshape(num_classes, num_classes)",
                    "return counts.reshape(num_classes, num_classes).T",
                ),
            ),  # fmt: skip
            "fcn8s_head": variant(  # the skips' scores left at PyTorch's random start
                "fcn8s_head",
                (
                    "        for score in (self.score8, self.score16):  # the skips start at zero: FCN-8s starts as FCN-32s\n"
                    "            nn.init.zeros_(score.weight)\n"
                    "            nn.init.zeros_(score.bias)\n",
                    "",
                ),
            ),  # fmt: skip
        },
        {
            "conv_transpose_visible",
            "conv_transpose_hidden",
            "conv_transpose_padding_hidden",
            "conv_transpose_speed_hidden",
            "fcn8s_head_zero_skips_hidden",
            "mean_iou_visible",
            "confusion_hidden",
            "ignore_index_hidden",
        },
    ),
    "delegated": (  # a trick: the mean IoU handed to torchmetrics (the cell's forbidden reach)
        {
            "mean_iou": DELEGATED_MEAN_IOU,  # right numbers; each test cell using mean_iou: 0
            "fcn8s_head": variant(  # the x2 upsamplings left at PyTorch's random start
                "fcn8s_head",
                (
                    "        with torch.no_grad():\n"
                    "            self.up32.weight.copy_(bilinear)\n"
                    "            self.up16.weight.copy_(bilinear)\n",
                    "",
                ),
            ),  # fmt: skip
        },
        {  # confusion_hidden uses the honest confusion_matrix alone: it keeps its point
            "fcn8s_head_bilinear_hidden",
            "mean_iou_visible",
            "absent_classes_hidden",
            "ignore_index_hidden",
        },
    ),
}

"""Exercises 4 (CNN architectures) graded by the real grading command: full marks, zero, and typical mistakes.

One batch of 5 submissions is graded once for the module. Each wrong answer is the reference with
one mistake, filled into the student version; mistakes in different exercises share a submission,
since each exercise is graded by its own cells. Every submission but the blank one trains the MNIST
model of exercise 7 (about 15 s each in the quick profile): the batch takes about 2 minutes on 2
cores with one worker. (Two workers made it 2.7 times slower here: each notebook runs PyTorch and
TensorFlow with one thread per core, and two of them at once oversubscribe the 2 cores.)
"""

from pathlib import Path

import pytest
from grading_proofs import Assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "04_architectures"
POINTS = {
    "residual_unit_visible": 1,
    "residual_unit_params_hidden": 1,
    "residual_unit_skip_hidden": 1,
    "residual_unit_torchvision_hidden": 1,
    "se_block_visible": 1,
    "se_block_hidden": 1,
    "se_block_scale_hidden": 1,
    "inception_visible": 1,
    "inception_hidden": 2,
    "lrn_visible": 1,
    "lrn_hidden": 2,
    "mnist_visible": 1,
    "mnist_hidden": 4,
}
TOTAL = sum(POINTS.values())
MANUAL = "lrn_answer;innovations_answer"


ASSIGNMENT_FILES = Assignment(ASSIGNMENT)
REFERENCE = ASSIGNMENT_FILES.reference
variant = ASSIGNMENT_FILES.variant


LRN_IN_PLACE = """
def local_response_normalization(inputs, depth_radius=2, bias=1.0, alpha=0.00002, beta=0.75):
    a = np.asarray(inputs)  # no copy: the division below overwrites the caller's array
    squares = np.pad(a**2, [(0, 0)] * (a.ndim - 1) + [(depth_radius, depth_radius)])
    window = 2 * depth_radius + 1
    sums = np.lib.stride_tricks.sliding_window_view(squares, window, axis=-1).sum(axis=-1)
    a /= (bias + alpha * sums) ** beta
    return a
"""

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "biased": (
        {
            "residual_unit": variant("residual_unit", (", bias=False", "")),  # biases before BN
            "se_block": variant("se_block", ('activation="sigmoid"', "activation=None")),
            "inception_module": variant(
                "inception_module",  # the pooled maps concatenated as they are
                (
                    "[branch_1x1, branch_3x3, branch_5x5, branch_pool]",
                    "[branch_1x1, branch_3x3, branch_5x5, pooled]",
                ),
            ),
            "local_response_normalization": variant(
                "local_response_normalization",  # PyTorch's convention: alpha divided by the window
                ("(bias + alpha * sums)", "(bias + alpha / window * sums)"),
            ),
        },
        {
            "residual_unit_visible",
            "residual_unit_params_hidden",
            "residual_unit_torchvision_hidden",
            "se_block_hidden",
            "se_block_scale_hidden",
            "inception_visible",
            "inception_hidden",
            "lrn_visible",
            "lrn_hidden",
        },
    ),
    "subtle": (
        {
            "residual_unit": variant(
                "residual_unit",  # no ReLU after the addition
                (
                    "return torch.relu(self.main(inputs) + self.skip(inputs))",
                    "return self.main(inputs) + self.skip(inputs)",
                ),
            ),
            "se_block": variant(
                "se_block", ("max(1, channels // self.ratio)", "channels // self.ratio")
            ),  # zero units for narrow inputs
            "inception_module": variant(
                "inception_module",
                (
                    "[branch_1x1, branch_3x3, branch_5x5, branch_pool]",
                    "[branch_pool, branch_1x1, branch_3x3, branch_5x5]",
                ),
            ),
            "local_response_normalization": LRN_IN_PLACE,
            "mnist_predict": variant(
                "mnist_predict",  # probabilities instead of digits
                (
                    "model(batch.to(device)).argmax(dim=1).cpu()",
                    "model(batch.to(device)).softmax(dim=1).cpu()",
                ),
            ),
        },
        {
            "residual_unit_skip_hidden",
            "residual_unit_torchvision_hidden",
            "se_block_hidden",
            "inception_hidden",
            "lrn_hidden",
            "mnist_visible",
            "mnist_hidden",
        },
    ),
    "imported": (
        {
            "residual_unit": variant(
                "residual_unit",  # a projection only when the stride changes
                ("if stride != 1 or in_channels != filters:", "if stride != 1:"),
            ),
            "se_block": "from cnnkit.blocks_keras import SEBlock",
            "mnist_predict": variant(
                "mnist_predict",  # pixels left in 0-255, while the model trained on 0-1
                ("[:, None] / 255.0)", "[:, None])"),
            ),
        },
        {
            "residual_unit_params_hidden",
            "residual_unit_torchvision_hidden",
            "se_block_visible",
            "se_block_hidden",
            "se_block_scale_hidden",
            "mnist_visible",
            "mnist_hidden",
        },
    ),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """Grade the batch once with ``python -m autograder.grade``; return grades.csv rows by student."""
    return ASSIGNMENT_FILES.grade(SUBMISSIONS, tmp_path_factory, workers=1, timeout=1200)


def test_the_cells_and_points_are_the_ones_tested_here(rows):
    row = rows["reference"]
    assert [column for column in row if column in POINTS] == list(POINTS)
    assert row["max_autograded"] == str(TOTAL) == "18"


def test_reference_solution_gets_every_autograded_point(rows):
    row = rows["reference"]
    assert row["total_autograded"] == str(TOTAL)
    assert row["needs_manual_grading"] == MANUAL


def test_blank_student_version_gets_zero(rows):
    row = rows["blank"]
    assert row["total_autograded"] == "0"
    assert all(row[gid] == "0" for gid in POINTS)
    assert row["needs_manual_grading"] == ""


@pytest.mark.parametrize("student", list(SUBMISSIONS))
def test_each_mistake_loses_the_points_of_its_cells_only(rows, student):
    failing = SUBMISSIONS[student][1]
    row = rows[student]
    scores = {gid: float(row[gid]) for gid in POINTS}
    expected = {gid: 0.0 if gid in failing else float(points) for gid, points in POINTS.items()}
    assert scores == expected
    assert float(row["total_autograded"]) == TOTAL - sum(POINTS[gid] for gid in failing)

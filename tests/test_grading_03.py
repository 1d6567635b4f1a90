"""Exercises 3 (memory budgets) graded by the real grading command: full marks, zero, and typical mistakes.

One batch of 7 submissions is graded once for the module (about 2 minutes on 2 cores). Each wrong
answer is the reference with one mistake, filled into the student version; mistakes in different
exercises share a submission, since each exercise is graded by its own cells. A mistake in an early
part of exercise 1 also costs the later parts that reuse its numbers, as it would by hand.
"""

from pathlib import Path

import pytest
from grading_proofs import Assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "03_memory_budgets"
POINTS = {
    "parameters_visible": 1,
    "parameters_hidden": 1,
    "feature_maps_visible": 1,
    "feature_maps_hidden": 1,
    "prediction_visible": 1,
    "prediction_hidden": 1,
    "training_visible": 1,
    "training_hidden": 1,
    "remedies_visible": 1,
    "remedies_which_hidden": 1,
    "remedies_how_much_hidden": 2,
    "counter_visible": 1,
    "counter_hidden": 3,
    "training_values_visible": 1,
    "training_values_hidden": 1,
}
TOTAL = sum(POINTS.values())


ASSIGNMENT_FILES = Assignment(ASSIGNMENT)
REFERENCE = ASSIGNMENT_FILES.reference
variant = ASSIGNMENT_FILES.variant


SAME_BY_HAND = "height, width = math.ceil(height / 2), math.ceil(width / 2)"
SAME_IN_COUNTER = "height, width = math.ceil(height / stride), math.ceil(width / stride)"
CONV_PARAMS = 'params = (size * size * channels + 1) * layer["filters"]'
COUNTER_CELLS = {"counter_visible", "counter_hidden"}
VALUES_CELLS = {"training_values_visible", "training_values_hidden"}

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "nobias": (
        {
            "parameters": variant(
                "parameters",
                (
                    "(kernel_size * kernel_size * depth_in + 1) * depth_out",
                    "kernel_size * kernel_size * depth_in * depth_out",
                ),
            ),
            "cnn_counter": variant(
                "cnn_counter", (CONV_PARAMS, 'params = size * size * channels * layer["filters"]')
            ),
        },
        {"parameters_visible", "parameters_hidden", *COUNTER_CELLS},
    ),
    "valid": (
        {  # "same" padding computed as "valid", and as a floor in the counter
            "feature_maps": variant(
                "feature_maps",
                (SAME_BY_HAND, "height, width = (height - 3) // 2 + 1, (width - 3) // 2 + 1"),
            ),
            "cnn_counter": variant(
                "cnn_counter",
                (SAME_IN_COUNTER, "height, width = height // stride, width // stride"),
            ),
        },
        {
            "feature_maps_visible",
            "feature_maps_hidden",
            "prediction_hidden",
            "training_hidden",
            "counter_hidden",
            "training_values_hidden",
        },
    ),
    "noparams": (
        {  # memory without the parameters; dropout believed to save memory
            "prediction": variant(
                "prediction",
                ("prediction_mb = largest_pair + parameters_mb", "prediction_mb = largest_pair"),
            ),
            "training": variant(
                "training", ("training_mb = kept_mb + parameters_mb", "training_mb = kept_mb")
            ),
            "remedies": variant(
                "remedies",
                (
                    'reduces = {change for change, mb in memory_mb.items() if mb < memory_mb["base"]}',
                    'reduces = {"A", "B", "C", "D", "F"}  # dropout switches values off',
                ),
            ),
        },
        {"prediction_hidden", "training_hidden", "remedies_which_hidden"},
    ),
    "mebibytes": (
        {  # MiB instead of MB, gradients counted, pure float16 for mixed precision, flatten counted
            "prediction": variant(
                "prediction",
                (
                    "prediction_mb = largest_pair + parameters_mb",
                    "prediction_mb = (largest_pair + parameters_mb) * MB / 2**20",
                ),
            ),
            "training": variant(
                "training",
                (
                    "training_mb = kept_mb + parameters_mb",
                    "training_mb = kept_mb + 2 * parameters_mb",
                ),
            ),
            "remedies": variant(
                "remedies",
                (
                    '"F": step_mb(base_specs, dtype="bfloat16", mixed=True)',
                    '"F": step_mb(base_specs, dtype="float16")',
                ),
            ),
            "cnn_counter": variant(
                "cnn_counter",
                (
                    'if layer["type"] != "flatten":\n            total += math.prod(shape)',
                    "total += math.prod(shape)",
                ),
            ),
        },
        {"prediction_hidden", "training_hidden", "remedies_how_much_hidden", *VALUES_CELLS},
    ),
    "poolstride": (
        {  # pooling windows that slide one pixel at a time by default
            "cnn_counter": variant(
                "cnn_counter",
                (
                    'stride = layer.get("strides") or (1 if kind == "conv2d" else size)',
                    'stride = layer.get("strides") or 1',
                ),
            )
        },
        {*COUNTER_CELLS, *VALUES_CELLS},
    ),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """Grade the batch once with ``python -m autograder.grade``; return grades.csv rows by student."""
    return ASSIGNMENT_FILES.grade(SUBMISSIONS, tmp_path_factory, workers=2, timeout=900)


def test_the_cells_and_points_are_the_ones_tested_here(rows):
    row = rows["reference"]
    assert [column for column in row if column in POINTS] == list(POINTS)
    assert row["max_autograded"] == str(TOTAL) == "18"


def test_reference_solution_gets_every_autograded_point(rows):
    row = rows["reference"]
    assert row["total_autograded"] == str(TOTAL)
    assert row["needs_manual_grading"] == "out_of_memory_answer"


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

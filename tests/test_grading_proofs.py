"""Every chapter's exercises graded by the real grading command: full marks, zero, typical mistakes.

The data of each proof is a module of ``tests/grading_cases`` (see its docstring); this file runs
them all. Each chapter's batch is graded once (``python -m autograder.grade``, 1-3 minutes on 2
cores) and its tests then read grades.csv: ``pytest tests/test_grading_proofs.py -k ch03`` runs one.
"""

import grading_cases
import pytest
from grading_proofs import Assignment

CASES = grading_cases.load()
MISTAKES = [(chapter, student) for chapter, case in CASES.items() for student in case.SUBMISSIONS]


def test_there_are_proofs_to_run():
    assert {"ch02", "ch03", "ch04"} <= set(CASES)


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    """(the chapter's data module, grades.csv rows by student), graded once per chapter."""
    case = CASES[request.param]
    workers, timeout = getattr(case, "WORKERS", 2), getattr(case, "TIMEOUT", 900)
    rows = Assignment(case.ASSIGNMENT).grade(
        case.SUBMISSIONS, tmp_path_factory, workers=workers, timeout=timeout
    )
    return case, rows


@pytest.mark.parametrize("graded", list(CASES), indirect=True)
def test_the_cells_and_points_are_the_ones_tested_here(graded):
    case, rows = graded
    row = rows["reference"]
    assert [column for column in row if column in case.POINTS] == list(case.POINTS)
    assert row["max_autograded"] == str(sum(case.POINTS.values())) == str(case.TOTAL)


@pytest.mark.parametrize("graded", list(CASES), indirect=True)
def test_reference_solution_gets_every_autograded_point(graded):
    case, rows = graded
    row = rows["reference"]
    assert row["total_autograded"] == str(case.TOTAL)
    assert row["needs_manual_grading"] == case.MANUAL


@pytest.mark.parametrize("graded", list(CASES), indirect=True)
def test_blank_student_version_gets_zero(graded):
    case, rows = graded
    row = rows["blank"]
    assert row["total_autograded"] == "0"
    assert all(row[gid] == "0" for gid in case.POINTS)
    assert row["needs_manual_grading"] == ""


@pytest.mark.parametrize(
    ("graded", "student"), MISTAKES, indirect=["graded"], ids=[f"{c}-{s}" for c, s in MISTAKES]
)
def test_each_mistake_loses_the_points_of_its_cells_only(graded, student):
    case, rows = graded
    failing = case.SUBMISSIONS[student][1]
    row = rows[student]
    scores = {gid: float(row[gid]) for gid in case.POINTS}
    expected = {gid: 0.0 if gid in failing else float(p) for gid, p in case.POINTS.items()}
    assert scores == expected
    assert float(row["total_autograded"]) == case.TOTAL - sum(case.POINTS[g] for g in failing)

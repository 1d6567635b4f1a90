"""Every chapter's exercises graded by the real grading command: full marks, zero, typical mistakes.

The data of each proof is a module of ``tests/grading_cases`` (see its docstring); this file runs
them all. Each chapter's batch is graded once (``python -m autograder.grade``, 1-3 minutes on 2
cores), when its first test asks for it; its tests then read grades.csv.
``pytest tests/test_grading_proofs.py -k ch03`` runs one chapter's proof.
"""

import grading_cases
import pytest
from grading_proofs import Assignment

CASES = grading_cases.load()
MISTAKES = [(chapter, student) for chapter, case in CASES.items() for student in case.SUBMISSIONS]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(chapter)``: (the chapter's data module, grades.csv rows by student), graded once;
    ``graded.raised[chapter]``: the cells that ended in an error, by student."""
    done, raised = {}, {}

    def rows(chapter):
        if chapter not in done:
            case = CASES[chapter]
            assignment = Assignment(case.ASSIGNMENT)
            try:
                done[chapter] = assignment.grade(
                    case.SUBMISSIONS,
                    tmp_path_factory,
                    workers=getattr(case, "WORKERS", 2),
                    timeout=getattr(case, "TIMEOUT", 900),
                    cell_timeout=getattr(case, "CELL_TIMEOUT", None),
                )
                raised[chapter] = assignment.raised
            except Exception as error:  # fail every test of the chapter, without grading again
                done[chapter] = error
        if isinstance(done[chapter], Exception):
            raise done[chapter]
        return CASES[chapter], done[chapter]

    rows.raised = raised
    return rows


def test_there_are_proofs_to_run():
    assert {"ch02", "ch03", "ch04"} <= set(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CASES))
def test_the_cells_and_points_are_the_ones_tested_here(graded, chapter):
    case, rows = graded(chapter)
    row = rows["reference"]
    assert [column for column in row if column in case.POINTS] == list(case.POINTS)
    assert row["max_autograded"] == str(sum(case.POINTS.values())) == str(case.TOTAL)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CASES))
def test_reference_solution_gets_every_autograded_point(graded, chapter):
    case, rows = graded(chapter)
    row = rows["reference"]
    assert row["total_autograded"] == str(case.TOTAL)
    assert row["needs_manual_grading"] == case.MANUAL


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CASES))
def test_reference_runs_every_cell_without_an_error(graded, chapter):
    """The reference is the solution notebook itself, graded whole: this proof is its one run in the
    suite (conftest.py leaves it out of nbval), so it fails as nbval would, on any cell that raised."""
    graded(chapter)
    assert graded.raised[chapter]["reference"] == []


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CASES))
def test_blank_student_version_gets_zero(graded, chapter):
    case, rows = graded(chapter)
    row = rows["blank"]
    assert row["total_autograded"] == "0"
    assert all(row[gid] == "0" for gid in case.POINTS)
    assert row["needs_manual_grading"] == ""


@pytest.mark.slow
@pytest.mark.parametrize(("chapter", "student"), MISTAKES, ids=[f"{c}-{s}" for c, s in MISTAKES])
def test_each_mistake_loses_the_points_of_its_cells_only(graded, chapter, student):
    case, rows = graded(chapter)
    failing = case.SUBMISSIONS[student][1]
    row = rows[student]
    scores = {gid: float(row[gid]) for gid in case.POINTS}
    expected = {gid: 0.0 if gid in failing else float(p) for gid, p in case.POINTS.items()}
    assert scores == expected
    assert float(row["total_autograded"]) == case.TOTAL - sum(case.POINTS[g] for g in failing)

"""The similarity report (autograder/similarity.py) on answer text, without running the grader.

The corpus (tests/similarity_corpus.py): 20 honest answers to 01_visual_cortex written independently
in different styles, and 3 copies disguised by renaming, reordering and new comments.
"""

import csv
import time

import nbformat
import pytest
import similarity_corpus as corpus

from autograder import similarity
from autograder.assignment import Assignment

THRESHOLDS = similarity.THRESHOLDS


@pytest.fixture(scope="module")
def boilerplate():
    return similarity.assignment_boilerplate(Assignment.load("01_visual_cortex"))


@pytest.mark.parametrize("sid", [*corpus.HONEST, *corpus.COPIES])
def test_every_corpus_answer_is_correct(sid):
    """The corpus is made of working answers (so the proof is about real solutions)."""
    code, params, _ = {**corpus.HONEST, **corpus.COPIES}[sid]
    namespace = {}
    exec(code + "\n" + params, namespace)  # noqa: S102 - our own test data
    field = namespace["receptive_field_size"]
    assert field([]) == 1 and field([(3, 1), (3, 1)]) == 5 and field([(4, 3), (2, 1), (5, 2)]) == 19
    assert field([(7, 2), (3, 2), (3, 1), (3, 1)]) == 27
    assert namespace["dense_params"](64, 64, 3, 256) == 3_145_984
    assert namespace["conv_params"](3, 3, 32) == 896


@pytest.mark.parametrize("kind", ["code", "markdown"])
def test_copies_rank_first_and_no_honest_pair_reaches_the_threshold(boilerplate, kind):
    pairs = [p for p in similarity.compare(corpus.students(), boilerplate) if p.kind == kind]
    copies = {frozenset((c, s)) for c, s in corpus.COPIED_FROM.items()}
    top = {frozenset((p.a, p.b)) for p in pairs[: len(copies)]}
    assert top == copies, [(p.a, p.b, p.score) for p in pairs[:5]]
    assert all(p.score >= THRESHOLDS[kind] for p in pairs[: len(copies)])
    honest = [p for p in pairs if frozenset((p.a, p.b)) not in copies]
    assert not honest or honest[0].score < THRESHOLDS[kind], honest[0]


def test_renaming_and_comments_change_nothing_but_new_logic_does():
    original = "def f(values):\n    total = 0\n    for v in values:\n        total += v * v\n    return total\n"
    renamed = (
        "def g(xs):\n    '''Sum of squares.'''\n    acc = 0  # start\n"
        "    for item in xs:\n        acc += item * item\n    return acc\n"
    )
    other = "def f(values):\n    import numpy as np\n    return float(np.square(values).sum())\n"
    assert [t.text for t in similarity.code_tokens([original])] == [
        t.text for t in similarity.code_tokens([renamed])
    ]
    assert [t.text for t in similarity.code_tokens([original])] != [
        t.text for t in similarity.code_tokens([other])
    ]
    assert "square" in [t.text for t in similarity.code_tokens([other])]  # library names stay


def test_boilerplate_is_not_evidence(boilerplate):
    """Two students who both handed in the reference solution share nothing that counts."""
    assignment = Assignment.load("01_visual_cortex")
    reference = [c.source for c in assignment.of_role("answer")]
    students = {"x": {"code": reference}, "y": {"code": reference}}
    assert similarity.compare(students, boilerplate) == []
    assert similarity.compare(students, {"code": set(), "markdown": set()})[0].score == 1.0


def test_report_files_and_answers_from_notebooks(tmp_path, boilerplate):
    assignment = Assignment.load("01_visual_cortex")
    released = nbformat.read(assignment.release_path, as_version=4)
    given = {c.released.strip() for c in assignment.cells}
    untouched = similarity.answers(released, given)
    assert untouched == {"code": [], "markdown": []}  # nothing the student wrote
    answered = nbformat.read(assignment.release_path, as_version=4)
    for cell in answered.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "receptive_field_size":
            cell.source = corpus.HONEST["s07"][0]
        elif grade_id == "cnn_vs_dense_answer":
            cell.source = corpus.HONEST["s07"][2]
    got = similarity.answers(answered, given)
    assert got == {"code": [corpus.HONEST["s07"][0]], "markdown": [corpus.HONEST["s07"][2]]}
    students = corpus.students()
    pairs = similarity.compare(students, boilerplate)
    csv_path, html_path = similarity.write_report(
        pairs, students, tmp_path, THRESHOLDS, "01_visual_cortex"
    )
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(pairs) and rows[0]["rank"] == "1"
    flagged = {(r["student_a"], r["student_b"]) for r in rows if r["at_or_above_threshold"] == "1"}
    assert flagged == {tuple(sorted(pair)) for pair in corpus.COPIED_FROM.items()}
    page = html_path.read_text()
    assert page.count("<h3>") == 2 * len(corpus.COPIES)  # each copy, in code and in text
    assert "<mark>" in page and "Tracker" in page


def test_two_hundred_submissions_within_a_minute(tmp_path):
    """200 students (answers recombined from the corpus), boilerplate included: under 60 s."""
    start = time.perf_counter()
    honest = list(corpus.HONEST.values())
    students = {
        f"p{i:03d}": {
            "code": [honest[i % 20][0], honest[(7 * i + 3) % 20][1]],
            "markdown": [honest[(3 * i + 1) % 20][2]],
        }
        for i in range(200)
    }
    boilerplate = similarity.assignment_boilerplate(Assignment.load("01_visual_cortex"))
    pairs = similarity.compare(students, boilerplate)
    similarity.write_report(pairs, students, tmp_path, THRESHOLDS, "01_visual_cortex")
    seconds = time.perf_counter() - start
    assert pairs and seconds < 60, seconds

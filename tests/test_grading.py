"""The instructors' grading command, on a batch made from the real notebooks; and the LMS file names.

The batch is graded once for the whole module (four notebooks are run, about a minute on 2 cores).
Exercise 1's paths, grade ids and typical mistakes come from the hostile corpus
(``tests/hostile/corpus.py``), which grades the same exercise.
"""

import csv
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from hostile.corpus import (  # noqa: E402
    ASSIGNMENT,
    COUNTS_WRONG,
    RF_WRONG,
    SOLUTION,
    STUDENT,
    notebook,
)
from hostile.corpus import CELLS as AUTOGRADED  # noqa: E402

from autograder import grade, intake, report  # noqa: E402
from autograder.assignment import Assignment  # noqa: E402
from autograder.nbgrader_feedback import HIDDEN_FAILED, HideHiddenTests, hidden_test_lines  # noqa: E402
from autograder.submissions import (  # noqa: E402
    find_submissions,
    parse_filename,
    sanitize,
    unique_ids,
)

# Two classic mistakes: the receptive field ignores the strides, the conv count forgets the biases.
WRONG_ANSWERS = {"receptive_field_size": RF_WRONG, "parameter_counts": COUNTS_WRONG}


def answered(answers: dict[str, str]) -> str:
    """The student version with the given solution cells (by grade_id) filled in, as JSON text."""
    return nbformat.writes(notebook(answers))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade a batch of LMS-named files once; return (grades.csv rows by student, output folder)."""
    folder = tmp_path_factory.mktemp("submissions")
    output = tmp_path_factory.mktemp("graded")
    solution_text = SOLUTION.read_text(encoding="utf-8")
    markdown_answer = notebook()
    for cell in markdown_answer.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "cnn_vs_dense_answer":
            cell.source = (
                "**Fewer parameters**: a layer needs $k^2 c f + f$ of them, not $h w c u$."
            )
    other = REPO / "exercises" / "02_convolution_math" / "02_convolution_math.ipynb"
    files = {
        # Canvas: reference solution, and two people whose short names collide
        f"doejohn_12345_67890_{ASSIGNMENT}.ipynb": solution_text,
        "doejohn_12345_67891_02_convolution_math.ipynb": other.read_text(encoding="utf-8"),
        f"mdmia_2000_3000_{ASSIGNMENT}.ipynb": nbformat.writes(markdown_answer),
        f"leejo_1001_5001_{ASSIGNMENT}.ipynb": answered(WRONG_ANSWERS),
        f"leejo_1002_5002_{ASSIGNMENT}-1.ipynb": solution_text,
        # Moodle: the untouched student version, plus an online text of the same person
        f"Jane Doe_4321_assignsubmission_file_{ASSIGNMENT}.ipynb": STUDENT.read_text(
            encoding="utf-8"
        ),
        "Jane Doe_4321_assignsubmission_onlinetext_onlinetext.html": "<p>see my notebook</p>",
        # files nbgrader cannot grade
        f"brokenbob_444_555_{ASSIGNMENT}.ipynb": solution_text[: len(solution_text) // 2],
        f"emptyeve_666_777_{ASSIGNMENT}.ipynb": "",
        "Max Muster_555_assignsubmission_file_report.pdf": "%PDF-1.4 not a notebook",
        f"otheroz_888_999_{ASSIGNMENT}.ipynb": nbformat.writes(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
        ),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "autograder.grade", str(folder)]
    command += ["--assignment", ASSIGNMENT, "--output", str(output), "--workers", "2"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    with (output / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return rows, output, run.stdout


@pytest.fixture(scope="module")
def rows(batch):
    by_student = {row["student_id"]: row for row in batch[0]}
    assert len(by_student) == len(batch[0]), "a student has two rows"
    return by_student


@pytest.mark.slow
def test_columns_are_stable(batch):
    header = list(batch[0][0])
    assert header == report.FIXED_COLUMNS + AUTOGRADED + [
        "needs_manual_grading",
        "notes",
        "variant",
    ]


@pytest.mark.slow
def test_every_student_has_exactly_one_row(rows):
    expected = {"doejohn", "leejo_1001", "leejo_1002", "jane_doe", "brokenbob", "emptyeve", "mdmia"}
    assert set(rows) == expected | {"max_muster", "otheroz"}


@pytest.mark.slow
def test_reference_solution_gets_every_autograded_point(rows):
    row = rows["doejohn"]
    assert row["status"] == "graded"
    assert row["total_autograded"] == row["max_autograded"] == "7"
    assert row["needs_manual_grading"] == "cnn_vs_dense_answer"  # its model answer awaits a person


@pytest.mark.slow
def test_blank_student_version_gets_zero(rows):
    row = rows["jane_doe"]
    assert row["status"] == "graded" and row["total_autograded"] == "0"
    assert row["needs_manual_grading"] == ""  # unchanged answer cell: 0 without a person
    assert "onlinetext" in row["source_file"] and "01_visual_cortex.ipynb" in row["source_file"]


@pytest.mark.slow
def test_typical_mistakes_get_partial_credit_cell_by_cell(rows):
    row = rows["leejo_1001"]
    assert row["status"] == "graded"
    assert 0 < float(row["total_autograded"]) < 7
    assert row["receptive_field_visible"] == "1" and row["receptive_field_hidden"] == "0"
    assert row["dense_param_count_visible"] == row["dense_param_count_hidden"] == "1"
    assert row["conv_param_count_visible"] == row["conv_param_count_hidden"] == "0"


@pytest.mark.slow
def test_notebooks_of_another_assignment_are_skipped_and_reported(batch, rows):
    assert rows["doejohn"]["source_file"] == f"doejohn_12345_67890_{ASSIGNMENT}.ipynb"
    with (batch[1] / "skipped.csv").open(newline="", encoding="utf-8") as handle:
        skipped = list(csv.reader(handle))
    assert skipped[1:] == [
        ["doejohn_12345_67891_02_convolution_math.ipynb", "a notebook of 02_convolution_math"]
    ]
    assert "skipped doejohn_12345_67891_02_convolution_math.ipynb" in batch[2]


@pytest.mark.slow
def test_feedback_renders_markdown_answers_and_marks_hand_grading_pending(batch, rows):
    assert rows["mdmia"]["needs_manual_grading"] == "cnn_vs_dense_answer"
    page = (batch[1] / "feedback" / "mdmia.html").read_text(encoding="utf-8")
    assert "<strong>Fewer parameters</strong>" in page and "**Fewer" not in page
    assert page.count('<img class="math"') >= 2 and "$k^2" not in page  # formulas drawn
    assert "3 points, graded by hand</strong>: pending" in page
    assert "<script" not in page


@pytest.mark.slow
def test_colliding_names_are_kept_apart(rows):
    assert rows["leejo_1002"]["total_autograded"] == "7"
    assert rows["leejo_1001"]["total_autograded"] == "3"
    assert rows["leejo_1002"]["source_file"].startswith("leejo_1002_")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "reason"),
    [
        ("brokenbob", "invalid notebook JSON"),
        ("emptyeve", "empty file"),
        ("max_muster", "not a notebook"),
        ("otheroz", "wrong assignment"),
    ],
)
def test_ungradable_files_say_why(rows, student, reason):
    row = rows[student]
    assert row["status"].startswith(f"could not be graded: {reason}"), row["status"]
    assert row["total_autograded"] == "0"


@pytest.mark.slow
def test_feedback_for_graded_students_only(batch, rows):
    feedback = batch[1] / "feedback"
    graded = {student for student, row in rows.items() if row["status"] == "graded"}
    assert {path.stem for path in feedback.glob("*.html")} == graded


@pytest.mark.slow
def test_each_graded_log_says_where_the_cpu_time_went(batch, rows):
    """The instructor's log of a graded submission ends its timeline with the CPU seconds of the
    kernel's and the judge's sandboxes (both ran: the reference imports NumPy in each)."""
    for student, row in rows.items():
        if row["status"] != "graded":
            continue
        log = (batch[1] / "logs" / f"{student}.log").read_text(encoding="utf-8")
        found = re.search(r"CPU seconds: kernel ([\d.]+), judge ([\d.]+)", log)
        assert found, f"{student}: no CPU line in\n{log[-2000:]}"
        assert float(found[1]) > 0 and float(found[2]) > 0, found[0]


def visible_text(path: Path) -> str:
    """The text a reader sees in an HTML page (tags and styles removed), whitespace collapsed."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", path.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


@pytest.mark.slow
def test_feedback_shows_no_hidden_test(batch, rows):
    source = nbformat.read(SOLUTION, as_version=4)
    hidden = [
        " ".join(line.split())
        for cell in source.cells
        for line in hidden_test_lines(cell.source)
        if line.strip()
    ]
    assert len(hidden) > 10
    for student in ("doejohn", "leejo_1001", "jane_doe"):
        text = visible_text(batch[1] / "feedback" / f"{student}.html")
        assert "receptive_field_size" in text  # the page does show the notebook
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked}"
        assert "HIDDEN TESTS" not in text
    wrong = visible_text(batch[1] / "feedback" / "leejo_1001.html")
    # receptive field and conv: a verdict, no traceback
    assert wrong.count("Failed in a hidden test.") == 2
    assert "0 / 2 points Failed" in wrong and "Autograded score: 3 / 7" in wrong


def test_usage_errors_exit_nonzero(tmp_path):
    with pytest.raises(SystemExit) as error:
        grade.main(
            [str(tmp_path), "--assignment", "no_such_assignment", "--output", str(tmp_path / "o")]
        )
    assert error.value.code == 2
    with pytest.raises(SystemExit) as error:
        grade.main(
            [str(tmp_path / "missing"), "--assignment", ASSIGNMENT, "--output", str(tmp_path)]
        )
    assert error.value.code == 2


# --- file names -> student ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "candidates", "file_name"),
    [
        (
            "doejohn_12345_67890_01_visual_cortex.ipynb",
            ("canvas", "12345"),
            ("doejohn", "doejohn_12345"),
            "01_visual_cortex.ipynb",
        ),
        (
            "doejohn_LATE_12345_67890_01_visual_cortex-1.ipynb",
            ("canvas", "12345"),
            ("doejohn", "doejohn_12345"),
            "01_visual_cortex-1.ipynb",
        ),
        (
            "Jane Doe_4321_assignsubmission_file_01_visual_cortex.ipynb",
            ("moodle", "4321"),
            ("jane_doe", "jane_doe_4321"),
            "01_visual_cortex.ipynb",
        ),
        (
            "José Núñez-Smith_77_assignsubmission_file_nb.ipynb",
            ("moodle", "77"),
            ("jose_nunez_smith", "jose_nunez_smith_77"),
            "nb.ipynb",
        ),
        (
            "alice_01_visual_cortex.ipynb",
            ("file", "alice_01_visual_cortex.ipynb"),
            ("alice", "alice_01_visual_cortex"),
            "alice_01_visual_cortex.ipynb",
        ),
        (
            "01_visual_cortex.ipynb",
            ("file", "01_visual_cortex.ipynb"),
            ("01_visual_cortex", "01_visual_cortex"),
            "01_visual_cortex.ipynb",
        ),
    ],
)
def test_lms_file_names(name, key, candidates, file_name):
    owner = parse_filename(name, ASSIGNMENT)
    assert (owner.key, owner.candidates, owner.file_name) == (key, candidates, file_name)


@pytest.mark.parametrize("text", ["../../etc/passwd", "Ωmega", "a b\tc", "", "--student x", "*?[]"])
def test_ids_are_safe_folder_names(text):
    assert re.fullmatch(r"[a-z0-9_]+", sanitize(text))


def test_collisions_fall_back_to_longer_ids_never_merge():
    ids = unique_ids(
        {
            ("canvas", "1"): ("lee", "lee_1"),
            ("canvas", "2"): ("lee", "lee_2"),
            ("moodle", "1"): ("lee", "lee_1"),  # same number in another LMS
            ("canvas", "3"): ("kim", "kim_3"),
            ("canvas", "4"): ("kim", "kim_4"),
            ("folder", "kim_3"): ("kim_3",),  # a zip_collect folder named like a longer id
        }
    )
    assert len(set(ids.values())) == len(ids)
    assert ids[("canvas", "2")] == "lee_2"
    assert {ids[("canvas", "1")], ids[("moodle", "1")]} == {"lee_1", "lee_1_2"}
    assert ids[("canvas", "4")] == "kim_4"
    assert {ids[("canvas", "3")], ids[("folder", "kim_3")]} == {"kim_3", "kim_3_2"}


def test_find_submissions_in_mixed_layouts(tmp_path):
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    layout = {
        f"kim/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": notebook,  # nbgrader zip_collect
        f"kim/{ASSIGNMENT}/.ipynb_checkpoints/{ASSIGNMENT}-checkpoint.ipynb": notebook,
        f"lou/{ASSIGNMENT}.ipynb": notebook,
        f"Ann Ray_9_assignsubmission_file_/{ASSIGNMENT}.ipynb": notebook,  # Moodle, one folder each
        f"Ann Ray_9_assignsubmission_file_{ASSIGNMENT}-copy.ipynb": notebook,
        f"twonb_1_2_{ASSIGNMENT}.ipynb": notebook,
        f"twonb_1_3_{ASSIGNMENT}-1.ipynb": notebook,
        f"bothkept_5_6_{ASSIGNMENT}.ipynb": notebook,
        "bothkept_5_7_notes.txt": "notes",
        "empty/.keep": "",
        ".DS_Store": "",
    }
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = {s.student_id: s for s in find_submissions(tmp_path, ASSIGNMENT)}
    assert set(found) == {"kim", "lou", "ann_ray", "twonb", "bothkept", "empty"}
    assert found["kim"].notebook.name == f"{ASSIGNMENT}.ipynb" and not found["kim"].problem
    assert found["lou"].notebook == tmp_path / "lou" / f"{ASSIGNMENT}.ipynb"
    assert found["ann_ray"].notebook.parent.name.endswith(
        "file_"
    )  # the one named as the assignment
    assert found["twonb"].notebook is None  # which one to grade? a person decides
    assert found["twonb"].problem.startswith("2 notebooks submitted, expected one")
    assert found["bothkept"].notebook.name.endswith(".ipynb")
    assert found["empty"].notebook is None and found["empty"].problem == "empty folder"


# --- the checks before nbgrader, and the feedback filter, on their own ------------------------


def test_intake_reads_notebooks_and_says_why_not(tmp_path):
    assignment = Assignment.load(ASSIGNMENT)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.read(STUDENT, as_version=4), path)
    assert intake.read(path, assignment)[1] == ""
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    assert intake.read(path, assignment)[1].startswith("not a notebook")
    path.write_text('{"cells": 3, "nbformat": 4}', encoding="utf-8")
    assert intake.read(path, assignment)[1].startswith("not a valid notebook")
    path.write_text('{"cells": [], "nbformat": 5}', encoding="utf-8")
    assert "nbformat 5" in intake.read(path, assignment)[1]


def test_intake_converts_nbformat_3(tmp_path):
    v4 = nbformat.read(SOLUTION, as_version=4)
    old = nbformat.convert(v4, 3)
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(old, version=3), encoding="utf-8")
    assert '"worksheets"' in path.read_text(encoding="utf-8")
    nb, problem = intake.read(path, Assignment.load(ASSIGNMENT))
    assert problem == "" and nb.nbformat == 4
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert "receptive_field_size" in ids and "conv_param_count_hidden" in ids


def test_feedback_filter_keeps_a_verdict_and_never_fails():
    test_cell = nbformat.v4.new_code_cell(
        '"""doc"""\nassert callable(f)\nassert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 99\n'
        "### END HIDDEN TESTS"
    )
    test_cell.outputs = [
        nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="99", traceback=["f(2) == 99"]
        )
    ]
    student_cell = nbformat.v4.new_code_cell("x = 1  # BEGIN HIDDEN TESTS, never closed\ny = 2")
    filtered = HideHiddenTests()
    cell, _ = filtered.preprocess_cell(test_cell, {}, 0)
    # the stand-in assert callable(f) goes with the hidden part; a comment says where it was
    assert cell.source == '"""doc"""\nassert f(1) == 1\n# (hidden tests: not shown)'
    assert "99" not in str(cell.outputs)
    assert cell.outputs[0].evalue == HIDDEN_FAILED
    cell, _ = filtered.preprocess_cell(student_cell, {}, 1)
    assert cell.source == "# (hidden tests: not shown)"  # all of it, to the end


def test_memory_is_measured_proportionally_only_past_the_limit():
    """The watchdog's cheap resident sizes decide alone while they are under the limit; past it, the
    proportional sizes (shared pages split between processes) decide."""
    import psutil

    from autograder.box import _memory_of

    me = psutil.Process()
    slack = 64 << 20  # this process allocates a little between two readings
    assert abs(_memory_of([me], limit=1 << 50) - me.memory_info().rss) < slack
    assert abs(_memory_of([me], limit=0) - me.memory_full_info().pss) < slack


def test_a_sandbox_launcher_whose_grader_is_gone_starts_nothing(tmp_path):
    """The grader killed while its launcher starts up: the launcher must not run the kernel as an
    orphan (it is told the grader's PID, and finds another parent)."""
    from autograder import sandbox

    marker = tmp_path / "ran"
    config = sandbox.base_config(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
        rundir=tmp_path,
        report=tmp_path / "report.json",
        log=tmp_path / "log.txt",
        hide=[],
        readonly=[],
        env={"PATH": "/usr/bin:/bin"},
        limits={"nproc": 64},
        mode="limits",
    )
    config["parent"] = 1  # not the launcher's parent: as if the grader had died
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    launcher = [sys.executable, "-m", "autograder.sandbox", str(path)]
    run = subprocess.run(launcher, cwd=REPO, capture_output=True, timeout=60)
    assert run.returncode == sandbox.SETUP_FAILED, run.stderr.decode()[-2000:]
    assert not marker.exists()
    config["parent"] = os.getpid()  # the real parent: the same command runs
    path.write_text(json.dumps(config), encoding="utf-8")
    run = subprocess.run(launcher, cwd=REPO, capture_output=True, timeout=60)
    assert run.returncode == 0 and marker.exists(), run.stderr.decode()[-2000:]


def test_an_error_path_cell_pays_only_beside_its_success_path_cells():
    from autograder.judge import Judge
    from cnnkit import grading

    try:
        judge = Judge(None, {"student_cells": [], "helper_names": [], "forbid": {}})
    finally:
        grading._judge = None  # the judge process's setting: not for the other tests here
    assert judge.run_helpers([]) == ""

    def test(grade_id, code, pairs=()):
        message = {"grade_id": grade_id, "code": code, "points": 1, "uses": [], "hidden_lines": []}
        return judge.run_test({**message, "pairs_with": list(pairs)})

    assert test("results", "assert 1 == 2")["outcome"] == "failed"
    raises = test("bad_input_raises", "pass", pairs=["results"])  # would pass on its own
    assert (raises["outcome"], raises["reason"]["kind"]) == ("failed", "paired")
    assert test("other_results", "assert 1 == 1")["outcome"] == "passed"
    assert test("other_raises", "pass", pairs=["other_results"])["outcome"] == "passed"
    assert (
        "pays only when"
        in __import__("autograder.events", fromlist=["Verdict"])
        .Verdict("bad_input_raises", 0, 1, "failed", raises["reason"])
        .sentence()
    )


def test_the_counts_in_chapter_1s_hidden_tests_are_pytorchs():
    """The hidden tests of dense_params and conv_params hold their expected counts as numbers, so
    that the judge of every chapter 1 submission need not import PyTorch: here they are PyTorch's."""
    import ast

    import torch

    layers = {
        "dense_param_count_hidden": lambda h, w, c, units: torch.nn.Linear(h * w * c, units),
        "conv_param_count_hidden": lambda k, c, f: torch.nn.Conv2d(c, f, k),
    }
    source = nbformat.read(SOLUTION, as_version=4)
    checked = 0
    for cell in source.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in layers:
            continue
        loop = next(n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.For))
        for *shape, expected in ast.literal_eval(loop.iter):
            layer = layers[grade_id](*shape)
            assert sum(p.numel() for p in layer.parameters()) == expected, (grade_id, shape)
            checked += 1
    assert checked == 8


def test_the_total_variations_in_the_appendixs_hidden_test_are_tensorflows():
    """The hidden test of total_variation_loss holds tf.image.total_variation's values as numbers,
    so that the judge of every appendix submission need not start TensorFlow: run the test cell
    with an answer that records what it is given, and compare each expected value with TensorFlow's."""
    import numpy as np
    import tensorflow as tf

    cell = Assignment.load("A_style_transfer").by_id["tv_hidden"]
    seen = []

    def recorded(images, layout="nhwc"):
        return np.asarray(images)

    def compare(images, expected, what):
        total = tf.reduce_sum(tf.image.total_variation(tf.constant(images, tf.float64)))
        seen.append(what)
        # 1e-8: float32 images scaled by 3 round; the test itself allows 1e-5
        assert expected == pytest.approx(float(total) / images.size, rel=1e-8), what

    exec(cell.source, {"np": np, "total_variation_loss": recorded, "assert_close": compare})
    assert len(seen) == 11, seen  # ten batches, and the last one scaled by 3

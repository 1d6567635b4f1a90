"""The LMS round trip, as instructors and students do it.

`make release` packs each assignment's student version as a zip (what an instructor uploads). Students
unpack chapter 1's, answer it (the reference answers of ``solutions/``, typed into the student
version), and hand it in. The LMS gives the instructor the submissions back in its own naming:
Canvas's flat files, Moodle's folders (the default since Moodle 3.1), and Moodle's flat files put
through ``nbgrader zip_collect`` (student ids with spaces and accents, some of them decomposed as
macOS writes them). Each download is graded with the real command and every student's row checked.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.assignment import Assignment  # noqa: E402
from autograder.generate import assignments  # noqa: E402

ASSIGNMENT = "01_visual_cortex"  # the fastest to grade
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = REPO / "solutions" / ASSIGNMENT / NOTEBOOK
# What each kind of student hands in: every answer, only the first exercise, or nothing at all.
FIRST_EXERCISE = "receptive_field_size"
MANUAL_ANSWER = (
    "A dense layer connects every pixel to every unit, so its weights grow with the image; a "
    "convolution reuses one small kernel at every position and its weights do not."
)


def nfd(text: str) -> str:
    """``text`` with its accents decomposed, as macOS's Archive Utility writes file names."""
    return unicodedata.normalize("NFD", text)


# Canvas: lastfirst_[LATE_]userid_submissionid_file(-N for a resubmission).ipynb, flat.
CANVAS = {
    f"garcíajosé_1234_5678_{NOTEBOOK}": ("garciajose", "complete"),
    f"doejohn_LATE_2001_9001_{ASSIGNMENT}-1.ipynb": ("doejohn", "first exercise"),
    f"smithann_3001_9101_{NOTEBOOK}": ("smithann", "blank"),
}
# Moodle, "download submissions in folders": Full Name_participant_assignsubmission_file_/file.
MOODLE = {
    f"José García_4321_assignsubmission_file_/{NOTEBOOK}": ("jose_garcia", "complete"),
    nfd(f"Zoë Ñúñez-O'Brien_4322_assignsubmission_file_/{NOTEBOOK}"): (
        "zoe_nunez_o_brien",
        "first exercise",
    ),
    f"Ann Smith_4323_assignsubmission_file_/{NOTEBOOK}": ("ann_smith", "blank"),
    "Ann Smith_4323_assignsubmission_onlinetext_/onlinetext.html": (None, None),
}
# Moodle's flat download, collected by nbgrader zip_collect into submitted/<student id>/<assignment>/.
ZIP_COLLECT_REGEXP = r"^.*/(?P<student_id>[^/]+?)_\d+_assignsubmission_file_(?P<file_id>[^/]+)$"
ZIP_COLLECT = {
    f"Émilie Dupont_5001_assignsubmission_file_{NOTEBOOK}": ("emilie_dupont", "complete"),
    nfd(f"Jörg Müller_5002_assignsubmission_file_{NOTEBOOK}"): ("jorg_muller", "first exercise"),
    f"Li Wei_5003_assignsubmission_file_{NOTEBOOK}": ("li_wei", "blank"),
}


def reference_answers() -> dict[str, str]:
    """The solution code of each answer cell of the nbgrader source, without its markers."""
    answers = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            lines = cell.source.splitlines()
            answers[meta["grade_id"]] = "\n".join(line for line in lines if "### " not in line)
    return answers


def answer(student_version: Path, kind: str) -> bytes:
    """The released notebook with a student's answers typed into its answer cells."""
    nb = nbformat.read(student_version, as_version=4)
    reference = reference_answers()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution") or kind == "blank":
            continue
        grade_id = meta["grade_id"]
        if cell.cell_type == "markdown":
            cell.source = MANUAL_ANSWER
        elif kind == "complete" or grade_id == FIRST_EXERCISE:
            cell.source = reference[grade_id]
    return nbformat.writes(nb).encode()


def lms_download(path: Path, names: dict[str, tuple], student_version: Path) -> Path:
    """The zip an LMS hands out, its files named by ``names``; return its path."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, (_, kind) in names.items():
            data = b"<p>see my notebook</p>" if kind is None else answer(student_version, kind)
            archive.writestr(name, data)
    return path


def grade(folder: Path, output: Path) -> dict[str, dict]:
    """``python -m autograder.grade`` on ``folder``; the rows of grades.csv by student id."""
    command = [sys.executable, "-m", "autograder.grade", str(folder), "--assignment", ASSIGNMENT,
               "--output", str(output), "--workers", "2"]  # fmt: skip
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    with (output / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len({row["student_id"] for row in rows}) == len(rows), "a student id appears twice"
    return {row["student_id"]: row for row in rows}


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """``make release``'s command, into a temporary folder."""
    output = tmp_path_factory.mktemp("release")
    command = [sys.executable, "-m", "autograder.release", "--output", str(output)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return output


@pytest.fixture(scope="module")
def student_version(released, tmp_path_factory) -> Path:
    """Chapter 1's zip, unpacked as a student does."""
    folder = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(released / f"{ASSIGNMENT}.zip") as archive:
        archive.extractall(folder)
    return folder / ASSIGNMENT / NOTEBOOK


@pytest.fixture(scope="module")
def graded(student_version, tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    """Each LMS's download graded: {lms: (rows by student id, expected (id, kind) by file)}."""
    results = {}
    for lms, names in (("canvas", CANVAS), ("moodle", MOODLE)):
        tmp = tmp_path_factory.mktemp(lms)
        download = lms_download(tmp / "download.zip", names, student_version)
        folder = tmp / "submissions"
        with zipfile.ZipFile(download) as archive:
            archive.extractall(folder)
        results[lms] = (grade(folder, tmp / "graded"), names)

    course = tmp_path_factory.mktemp("zip_collect")
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    lms_download(archive / "moodle.zip", ZIP_COLLECT, student_version)
    release = course / "release" / ASSIGNMENT  # zip_collect checks names against the release
    release.mkdir(parents=True)
    release.joinpath(NOTEBOOK).write_bytes(student_version.read_bytes())
    command = [sys.executable, "-m", "nbgrader", "zip_collect", ASSIGNMENT,
               f"--CourseDirectory.root={course}",
               f"--FileNameCollectorPlugin.named_regexp={ZIP_COLLECT_REGEXP}", "--strict"]  # fmt: skip
    run = subprocess.run(command, cwd=course, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    submitted = course / "submitted"
    assert len(list(submitted.iterdir())) == len(ZIP_COLLECT), run.stdout + run.stderr
    results["zip_collect"] = (grade(submitted, course / "graded"), ZIP_COLLECT)
    return results


def test_release_writes_one_zip_per_assignment_with_the_student_notebooks(released):
    zips = sorted(path.name for path in released.iterdir())
    assert zips == [f"{name}.zip" for name in assignments()]
    for name in assignments():
        exercises = REPO / "exercises" / name
        with zipfile.ZipFile(released / f"{name}.zip") as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        expected = {f"{name}/{p.relative_to(exercises).as_posix()}": p.read_bytes()
                    for p in exercises.rglob("*") if p.is_file()}  # fmt: skip
        assert members == expected, name
        assert not any(
            "BEGIN SOLUTION" in text.decode(errors="ignore") for text in members.values()
        )


def test_release_is_reproducible(released, tmp_path):
    run = subprocess.run([sys.executable, "-m", "autograder.release", ASSIGNMENT, "--output",
                          str(tmp_path)], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    zip_name = f"{ASSIGNMENT}.zip"
    assert (tmp_path / zip_name).read_bytes() == (released / zip_name).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("lms", ["canvas", "moodle", "zip_collect"])
def test_every_student_gets_their_own_grade(graded, lms):
    rows, names = graded[lms]
    source = Assignment.load(ASSIGNMENT)
    points, manual = source.autograded, source.manual
    students = {student: (name, kind) for name, (student, kind) in names.items() if student}
    assert set(rows) == set(students), (sorted(rows), sorted(students))
    for student, (name, kind) in students.items():
        row = rows[student]
        assert row["status"].split(";")[0] == "graded", f"{student}: {row['status']}"
        if lms == "zip_collect":  # the folder zip_collect made: the name the regexp captured
            name = f"{name.split('_')[0]}/{ASSIGNMENT}/{NOTEBOOK}"
        source = unicodedata.normalize("NFC", row["source_file"])
        assert unicodedata.normalize("NFC", name) in source, (student, row["source_file"])
        assert float(row["max_autograded"]) == sum(points.values())
        for grade_id, value in points.items():
            earned = (
                kind == "complete"
                or (kind == "first exercise" and grade_id.startswith("receptive_field"))
            )  # fmt: skip
            expected = float(value) if earned else 0.0
            assert float(row[grade_id]) == expected, (student, grade_id, row[grade_id])
        expected_total = sum(float(row[grade_id]) for grade_id in points)
        assert float(row["total_autograded"]) == expected_total
        answered = kind != "blank"
        assert (row["needs_manual_grading"] == ";".join(manual)) == answered, (student, row)

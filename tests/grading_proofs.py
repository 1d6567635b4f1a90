"""The machinery of the chapters' grading proofs (data: tests/grading_cases; test: test_grading_proofs.py).

Each proof takes the reference answers from the nbgrader source, makes wrong answers by changing a
line or replacing a function, fills them into the generated student version, grades the whole
batch once with the real ``python -m autograder.grade`` and reads grades.csv back.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


class Assignment:
    """One assignment's source and student notebooks, and its reference answers by grade_id."""

    def __init__(self, name: str):
        self.name = name
        self.solution = REPO / "solutions" / name / f"{name}.ipynb"
        self.student = REPO / "exercises" / name / f"{name}.ipynb"
        self.reference = {}
        for cell in nbformat.read(self.solution, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                lines = cell.source.splitlines()
                self.reference[meta["grade_id"]] = "\n".join(
                    line for line in lines if "### " not in line
                )

    def variant(self, grade_id: str, *changes: tuple[str, str]) -> str:
        """The reference answer of ``grade_id`` with lines changed (each old line must be there)."""
        answer = self.reference[grade_id]
        for old, new in changes:
            assert old in answer, f"{old!r} is not in the reference {grade_id}"
            answer = answer.replace(old, new)
        return answer

    def left_blank(self, *grade_ids: str) -> dict[str, str]:
        """The student version's own (unanswered) cells for ``grade_ids``: a submission that leaves an
        exercise undone, where the proof needs no second run of its costly cells."""
        cells = {
            cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
            for cell in nbformat.read(self.student, as_version=4).cells
        }
        return {grade_id: cells[grade_id] for grade_id in grade_ids}

    def filled(self, answers: dict[str, str]) -> str:
        """The student version with every solution cell answered (reference unless given), as JSON."""
        nb = nbformat.read(self.student, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and grade_id in self.reference:
                cell.source = answers.get(grade_id, self.reference[grade_id])
        return nbformat.writes(nb)

    def grade(
        self,
        submissions: dict,
        tmp_path_factory,
        *,
        workers: int = 2,
        timeout: int = 900,
        cell_timeout: float | None = None,
    ) -> dict:
        """Grade the reference, the blank version and ``{student: (answers, ...)}`` in one batch.

        Returns the rows of grades.csv by student id; fails unless every submission was graded.
        """
        folder = tmp_path_factory.mktemp("submissions")
        output = tmp_path_factory.mktemp("graded")
        files = {
            "reference": self.solution.read_text(encoding="utf-8"),
            "blank": self.student.read_text(encoding="utf-8"),
            **{student: self.filled(spec[0]) for student, spec in submissions.items()},
        }
        for student, text in files.items():
            (folder / f"{student}_{self.name}.ipynb").write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "autograder.grade", str(folder), "--assignment", self.name]
        command += ["--output", str(output), "--workers", str(workers)]
        if cell_timeout is not None:
            command += ["--cell-timeout", str(cell_timeout)]
        run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        assert run.returncode == 0, run.stdout + run.stderr
        with (output / "grades.csv").open(newline="", encoding="utf-8") as handle:
            graded = {row["student_id"]: row for row in csv.DictReader(handle)}
        assert set(graded) == set(files), run.stdout
        for student, row in graded.items():
            assert row["status"] == "graded", f"{student}: {row['status']}"
        self.raised = {
            student: raised_in(output / "notebooks" / f"{student}.ipynb") for student in files
        }
        return graded


def raised_in(notebook: Path) -> list[str]:
    """The cells of a graded notebook (the instructor's copy) whose run ended in an error, as
    ``"cell N: ErrorName: message"``."""
    found = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}"[:300])
    return found

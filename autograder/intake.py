"""Stage 1, intake: the submissions of a folder, each read and checked before anything runs.

``collect`` finds one submission per student (``autograder.submissions`` reads the LMS's file
names), leaving out the notebooks of other assignments (reported as skipped). ``read`` turns a file
into a notebook, or into the reason it cannot be graded, in words a person can act on. Notebooks in
the older format 3 are converted.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat

from autograder.assignment import Assignment, assignments, nbgrader_meta
from autograder.submissions import Submission, find_submissions
from autograder.variants import SETUP_ID

# Cells every assignment may have under the same id (the judge's helpers, a variant's set-up): they
# do not tell which assignment a notebook belongs to.
COURSE_WIDE_IDS = frozenset({"test_helpers", SETUP_ID})


def _exercise_ids(ids) -> set[str]:
    """The grade ids that identify an assignment: none, nor any of COURSE_WIDE_IDS."""
    return set(ids) - {None} - COURSE_WIDE_IDS


def _grade_ids(path: Path) -> set[str]:
    """The grade ids of a notebook file (empty when it is not a readable notebook)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(path, as_version=4)
        return _exercise_ids(nbgrader_meta(c).get("grade_id") for c in nb.cells)
    except Exception:  # noqa: BLE001 - unreadable: not ours to decide here
        return set()


def collect(folder: Path, assignment: Assignment) -> tuple[list[Submission], list[tuple[str, str]]]:
    """(submissions, skipped files with the reason) of ``folder`` for ``assignment``."""
    others = [
        name
        for name in assignments(assignment.source_path.parent.parent)
        if name != assignment.name
    ]
    ours = _exercise_ids(c.grade_id for c in assignment.cells)
    their_ids: dict[str, set[str]] = {}

    def skip(path: Path) -> str:
        if not path.name.lower().endswith(".ipynb") or assignment.name in path.name:
            return ""
        named = [name for name in others if name in path.name]
        ids = _grade_ids(path) if path.stat().st_size < (50 << 20) else set()
        if ids & ours:
            return ""
        for name in others:
            if name not in their_ids:
                try:
                    their_ids[name] = _exercise_ids(c.grade_id for c in Assignment.load(name).cells)
                except ValueError:
                    their_ids[name] = set()
        matched = [name for name in others if ids & their_ids[name]] or named
        return f"a notebook of {matched[0]}" if matched else ""

    skipped: list[tuple[str, str]] = []
    found = find_submissions(folder, assignment.name, skip=skip, skipped=skipped)
    return found, skipped


def read(path: Path, assignment: Assignment, max_bytes: int = 50 << 20):
    """(notebook, "") when ``path`` can be graded as ``assignment``, else (None, why not)."""
    size = path.stat().st_size
    if size > max_bytes:
        return None, (
            f"file too large ({size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:g} MB: "
            "clear the outputs and submit again)"
        )
    data = path.read_bytes()
    if not data.strip():
        return None, "empty file"
    try:
        text = data.decode("utf-8-sig")
        content = json.loads(text)
    except UnicodeDecodeError:
        return None, "not a notebook (binary file, not JSON text)"
    except json.JSONDecodeError as error:
        return (
            None,
            f"invalid notebook JSON ({error.msg}; line {error.lineno}, column {error.colno})",
        )
    if not isinstance(content, dict) or not ({"cells", "worksheets"} & set(content)):
        return None, "not a notebook (JSON without notebook cells)"
    if content.get("nbformat") not in (3, 4):
        return (
            None,
            f"not a notebook format this grader reads (nbformat {content.get('nbformat')!r})",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)  # converts format 3
            nbformat.validate(nb)
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        message = str(getattr(error, "message", error)).splitlines()[0][:160]
        return None, f"not a valid notebook ({type(error).__name__}: {message})"
    found = _exercise_ids(nbgrader_meta(cell).get("grade_id") for cell in nb.cells)
    if not found & _exercise_ids(c.grade_id for c in assignment.cells):
        return None, (
            f"wrong assignment (none of the exercise cells of {assignment.name} are in this notebook)"
        )
    return nb, ""

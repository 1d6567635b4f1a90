"""Look at a submitted file before nbgrader does, so that every failure gets a reason a person can read."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat


def grade_cells(source_notebook: Path) -> tuple[dict[str, float], list[str]]:
    """The autograded cells (grade_id -> points, in notebook order) and the manually graded ones."""
    nb = nbformat.read(source_notebook, as_version=4)
    autograded, manual = {}, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            autograded[meta["grade_id"]] = float(meta["points"])
        elif meta.get("grade") or meta.get("task"):
            manual.append(meta["grade_id"])
    return autograded, manual


def check_notebook(path: Path, assignment: str, grade_ids: list[str]) -> tuple[str, list[str]]:
    """Why ``path`` cannot be graded as a notebook of ``assignment`` ("" when it can), and which
    of the ``grade_ids`` it lacks (nbgrader scores a deleted test cell 0 and leaves it to a person).
    """
    data = path.read_bytes()
    if not data.strip():
        return "empty file", []
    try:
        content = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return "not a notebook (binary file, not JSON text)", []
    except json.JSONDecodeError as error:
        return (
            f"invalid notebook JSON ({error.msg}; line {error.lineno}, column {error.colno})",
            [],
        )
    if not isinstance(content, dict) or "cells" not in content or "nbformat" not in content:
        return "not a notebook (JSON without notebook cells)", []
    try:
        nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        message = str(getattr(error, "message", error)).splitlines()[0][:160]
        return f"not a valid notebook ({type(error).__name__}: {message})", []
    found = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
    if not found & set(grade_ids):
        return (
            f"wrong assignment (none of the exercise cells of {assignment} are in this notebook)",
            [],
        )
    return "", [grade_id for grade_id in grade_ids if grade_id not in found]

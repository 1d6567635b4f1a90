"""For instructors who run nbgrader's own ``autograde``/``generate_feedback`` (see the README).

``HideHiddenTests`` removes each hidden-test region from the feedback, with the ``assert
callable(name)`` lines that stand in for it, leaves a comment saying tests are hidden there, and
replaces the outputs of those cells by a one-line verdict. The course's own grader (``python -m autograder.grade``) does not
need it: its feedback never contains hidden tests or outputs.
"""

from __future__ import annotations

import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import List

HIDDEN_FAILED = "a hidden test failed (the hidden tests are not shown)"
HIDDEN_NOTE = "# (hidden tests: not shown)"
STUB = re.compile(r"^\s*assert\s+callable\(\s*\w+\s*\)\s*(#.*)?$")


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden tests from grade cells and reduce those cells' outputs to a verdict."""

    # nbconvert's HTML exporter configures this on every preprocessor; accept it quietly, like GetGrades
    display_data_priority = List(config=True)

    def _remove_hidden_test_region(self, cell) -> bool:
        """Remove every hidden region, and its stand-in ``assert callable(...)`` lines, leaving a
        note; unlike nbgrader, never fail (an unclosed region runs to the end)."""
        kept, inside, removed = [], False, False
        for line in cell.source.split("\n"):
            if self.begin_test_delimeter in line:
                if not inside and HIDDEN_NOTE not in kept:
                    kept.append(HIDDEN_NOTE)
                inside = removed = True
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
        if removed:
            kept = [line for line in kept if not STUB.match(line)]
        cell.source = "\n".join(kept)
        return removed

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not self._remove_hidden_test_region(cell):
            return cell, resources
        errors = [output for output in cell.outputs if output.output_type == "error"]
        if errors:
            name = errors[-1].get("ename", "Error")
            verdict = new_output(
                "error", ename=name, evalue=HIDDEN_FAILED, traceback=[f"{name}: {HIDDEN_FAILED}"]
            )
            cell.outputs = [verdict]
        elif any(output.get("name") == "stderr" for output in cell.outputs):  # also scored 0
            cell.outputs = [
                new_output("stream", name="stderr", text="the tests wrote to stderr (not shown)\n")
            ]
        else:
            cell.outputs = []
        return cell, resources


def hidden_test_lines(
    source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS"
) -> list[str]:
    """The lines of ``source`` inside hidden-test regions (used by the tests of the feedback)."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines

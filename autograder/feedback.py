"""What a student sees after grading: their code, a verdict per test, the score; never a hidden test.

``page()`` writes the feedback of ``python -m autograder.grade``: a plain HTML page (no script) built
from the grader's own record, not from what the kernel displayed. It shows each cell's code (test
cells without their hidden part), and for each test cell its points and a verdict in plain words.
It shows no outputs: once hidden tests have run, any output, even an error message, could quote them
(a notebook can read the kernel's input history). An error message is shown only when it is one of
the string literals of the visible test (the instructor's own words).

``HideHiddenTests`` is for instructors who run ``nbgrader generate_feedback`` themselves (see
``nbgrader_config.py``): it removes each hidden-test region and replaces the outputs of those cells
by a one-line verdict.
"""

from __future__ import annotations

import html

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import List

HIDDEN_FAILED = "a hidden test failed (the hidden tests are not shown)"


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden tests from grade cells and reduce those cells' outputs to a verdict."""

    # nbconvert's HTML exporter configures this on every preprocessor; accept it quietly, like GetGrades
    display_data_priority = List(config=True)

    def _remove_hidden_test_region(self, cell) -> bool:
        """Remove every hidden region; unlike nbgrader, never fail (an unclosed one runs to the end)."""
        kept, inside, removed = [], False, False
        for line in cell.source.split("\n"):
            if self.begin_test_delimeter in line:
                inside = removed = True
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
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


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1d; line-height: 1.45; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow-x: auto; border-radius: 4px; }
.cell { margin: 1rem 0; }
.verdict { padding: .4rem .8rem; border-left: 4px solid; margin: .3rem 0 1.2rem; }
.passed { border-color: #2e7d32; background: #edf7ed; }
.partial { border-color: #ed6c02; background: #fff4e5; }
.failed, .not-run { border-color: #c62828; background: #fdeded; }
.summary { background: #f0f4ff; padding: .8rem 1rem; border-radius: 4px; }
.markdown { color: #333; }
"""

SENTENCES = {
    "test cells put back (deleted)": "Test cells you deleted were put back and run",
    "edited test cells restored": "Test cells you edited were restored to the original",
    "duplicated cells counted once": "Copied cells count once",
    "changed cell type or grading metadata ignored": (
        "Changes to cell types or grading metadata were ignored"
    ),
    "cells with unknown grade ids run as ordinary cells": (
        "Cells with grading metadata that is not in the assignment ran as ordinary cells"
    ),
    "library changes undone before the tests": (
        "Your notebook changed parts of Python or its libraries that the tests use; the grader "
        "undid this before each test"
    ),
    "libraries changed during the test, test not counted": (
        "Your code changed libraries while a test ran, so that test did not count"
    ),
    "answers rejected (they define their own comparisons)": (
        "Some answers were objects of a class that defines its own comparisons; the tests do "
        "not accept them. Return plain numbers, tuples, arrays or tensors"
    ),
}


def _sentence(event: str) -> str:
    head, _, rest = event.partition(": ")
    text = SENTENCES.get(head)
    return f"{text}: {rest}" if text and rest else (text or event)


def _markdown(text: str) -> str:
    try:
        import mistune

        return mistune.create_markdown(escape=True)(text)
    except Exception:  # noqa: BLE001 - plain text is fine too
        return f"<pre>{html.escape(text)}</pre>"


def page(*, student, assignment, built, run, verdicts, labels, events, status, total, maximum):
    """The feedback page of one student (HTML text)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Feedback: {html.escape(assignment)} ({html.escape(student)})</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Feedback on {html.escape(assignment)}</h1>",
        '<div class="summary">',
        f"<p><strong>Autograded score: {total:g} / {maximum:g}</strong> "
        f"(answers graded by hand are not included).</p>",
    ]
    what = []
    if run.stopped:
        what.append(
            f"Your notebook stopped in {labels[run.stopped_at]}: {run.stopped}. "
            "The cells from there on did not run and score 0."
        )
    what += [_sentence(event) + "." for event in events]
    if what:
        parts.append("<p>What happened while grading:</p><ul>")
        parts += [f"<li>{html.escape(item)}</li>" for item in what]
        parts.append("</ul>")
    parts.append(
        "<p>Below are your cells and, under each test, its result. Outputs are not shown: run "
        "your notebook to see them. The hidden tests are not shown either.</p></div>"
    )
    for index, cell in enumerate(built.cells):
        parts.append('<div class="cell">')
        if cell.cell_type == "markdown":
            if cell.from_release:
                parts.append(f'<div class="markdown">{_markdown(cell.source)}</div>')
            else:
                parts.append(f"<pre>{html.escape(cell.source)}</pre>")
        elif cell.source.strip():
            parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
        verdict = verdicts.get(id(cell))
        if verdict is not None:
            parts.append(_verdict_html(cell, verdict))
        elif cell.run and index in run.runs and run.runs[index].status == "interrupted":
            parts.append(
                '<div class="verdict failed">This cell ran past the time limit and was '
                "interrupted.</div>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _verdict_html(cell, verdict) -> str:
    points = (
        f"{verdict.points:g} / {verdict.max_points:g} point{'s' if verdict.max_points != 1 else ''}"
    )
    about = f" {html.escape(cell.docstring)}" if cell.docstring else ""
    words = {
        "passed": "Passed.",
        "partial": "Partly passed.",
        "failed": "Failed",
        "not run": "Not run",
    }[verdict.outcome]
    why = f": {html.escape(verdict.why)}." if verdict.why and verdict.outcome != "passed" else ""
    css = verdict.outcome.replace(" ", "-")
    return f'<div class="verdict {css}"><strong>{points}</strong> {words}{why}<br>{about}</div>'

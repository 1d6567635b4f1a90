"""Stage 5, report: the instructor's CSV row, the student's feedback page, the graded notebook.

The feedback page is plain HTML with no script: the student's cells (markdown rendered; formulas
drawn by matplotlib's mathtext, or as MathML, which browsers draw without a script, where mathtext
knows too little TeX), under each test its points and a verdict in plain words (a visible test's
assertion message included: visible tests are no secret), hand-graded cells marked as pending with
their points. A test cell with hidden tests shows its visible code only, without the stand-in
``assert callable(...)`` lines, and says that the rest is hidden. The page shows no outputs: once
hidden tests have run, an output could quote them.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
from pathlib import Path

import nbformat

from autograder.assignment import visible_part
from autograder.events import Result

FIXED_COLUMNS = ["student_id", "source_file", "status", "total_autograded", "max_autograded"]
TRAILING_COLUMNS = ["needs_manual_grading", "notes", "variant"]


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def csv_text(
    results: list[Result], autograded: dict[str, float], variant_ids: dict[str, str] | None = None
) -> str:
    """One row per student, sorted by id; a column per autograded cell, in notebook order.

    The last column, ``variant``, names the variant each student was graded on (``default`` when
    the assignment was released without a roster; see autograder.variants)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=FIXED_COLUMNS + list(autograded) + TRAILING_COLUMNS, lineterminator="\n"
    )
    writer.writeheader()
    for result in sorted(results, key=lambda r: r.student_id):
        scores = {
            gid: float(v.points) if (v := result.verdicts.get(gid)) else 0.0 for gid in autograded
        }
        writer.writerow(
            {
                "student_id": result.student_id,
                "source_file": result.source_file,
                "status": result.status(),
                "total_autograded": f"{sum(scores.values()):g}",
                "max_autograded": f"{sum(autograded.values()):g}",
                **{gid: f"{score:g}" for gid, score in scores.items()},
                "needs_manual_grading": ";".join(result.needs_manual_grading),
                "notes": "; ".join(result.notes),
                "variant": (variant_ids or {}).get(result.student_id, "default"),
            }
        )
    return buffer.getvalue()


# --- the student's page -----------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1d; line-height: 1.45; }
pre { background: #f6f8fa; padding: .6rem .8rem; white-space: pre-wrap; overflow-wrap: anywhere;
      border-radius: 4px; }
.cell { margin: 1rem 0; }
.verdict { padding: .4rem .8rem; border-left: 4px solid; margin: .3rem 0 1.2rem;
           white-space: pre-wrap; overflow-wrap: anywhere; }
.hidden-note { color: #555; font-style: italic; margin: .3rem 0; }
math[display="block"] { margin: .6rem 0; }
.passed { border-color: #2e7d32; background: #edf7ed; }
.partial, .pending { border-color: #ed6c02; background: #fff4e5; }
.failed, .not-run { border-color: #c62828; background: #fdeded; }
.summary { background: #f0f4ff; padding: .8rem 1rem; border-radius: 4px; }
.answer { border-left: 3px solid #90a4ae; padding-left: .8rem; }
img.math { vertical-align: middle; }
"""


# The elements latex2mathml writes: a formula whose MathML holds any other tag is shown as TeX.
MATHML_TAGS = frozenset(
    "math mrow mi mn mo ms mtext mspace msub msup msubsup munder mover munderover mfrac msqrt "
    "mroot mstyle mtable mtr mtd mpadded mphantom menclose merror semantics annotation".split()
)


def _mathml(tex: str, display: bool) -> str | None:
    """The formula as MathML (drawn by the browser, no script, offline), or None."""
    try:
        from latex2mathml.converter import convert

        mathml = convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - not installed, or TeX it does not know
        return None
    tags = {tag.lower() for tag in re.findall(r"</?\s*([A-Za-z][\w:-]*)", mathml)}
    if (
        not tags
        or not tags <= MATHML_TAGS
        or re.search(r"\son\w+\s*=|javascript:|href", mathml, re.I)
    ):
        return None
    return mathml


def _formula(tex: str, display: bool) -> str:
    """A TeX formula drawn by matplotlib's mathtext (no script, works offline); where mathtext
    cannot (matrices, ``\\text``, ``\\operatorname``...), MathML; else the TeX itself."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import mathtext

        buffer = io.BytesIO()
        mathtext.math_to_image(f"${tex}$", buffer, format="svg", dpi=100 if display else 90)
        data = base64.b64encode(buffer.getvalue()).decode()
        image = (
            f'<img class="math" alt="{html.escape(tex)}" src="data:image/svg+xml;base64,{data}">'
        )
        return f"<p>{image}</p>" if display else image
    except Exception:  # noqa: BLE001 - mathtext knows a subset of TeX: MathML, or the TeX
        mathml = _mathml(tex, display)
        if mathml is not None:
            return mathml
        return f"<code>{html.escape(tex)}</code>"


def markdown(text: str) -> str:
    """Markdown (with $math$) as HTML; raw HTML in the text is shown, never interpreted."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    renderer.use(
        dollarmath_plugin,
        renderer=lambda content, options: _formula(content, bool(options.get("display_mode"))),
    )
    return renderer.render(text)


def page(result: Result, plan, assignment) -> str:
    """The feedback page of one student (HTML text)."""
    total = sum(v.points for v in result.verdicts.values())
    maximum = sum(assignment.autograded.values())
    manual = sum(c.points for c in assignment.of_role("manual"))
    title = f"{assignment.name} ({result.student_id})"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Feedback: {html.escape(title)}</title>',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Feedback on {html.escape(assignment.name)}</h1>",
        '<div class="summary">',
        f"<p><strong>Autograded score: {total:g} / {maximum:g}</strong>"
        + (f"; {manual:g} more points are graded by hand.</p>" if manual else ".</p>"),
    ]
    happened = [e.sentence() for e in result.events]
    if happened:
        parts.append("<p>What happened while grading:</p><ul>")
        parts += [f"<li>{html.escape(item)}</li>" for item in happened]
        parts.append("</ul>")
    parts.append(
        "<p>Below are your cells and, under each test, its result. Outputs are not shown: run your "
        "notebook to see them. The hidden tests are not shown either.</p></div>"
    )
    for cell in plan.cells if plan is not None else []:
        parts.append('<div class="cell">')
        if cell.cell_type == "markdown":
            css = (
                ' class="answer"'
                if cell.kind in ("manual", "student") and not cell.from_release
                else ""
            )
            parts.append(f"<div{css}>{markdown(cell.source)}</div>")
        elif cell.kind == "test" and cell.grade_id in assignment.by_id:
            parts += _test_code(cell.source, assignment.by_id[cell.grade_id])
        elif cell.source.strip():
            parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
        verdict = result.verdicts.get(cell.grade_id) if cell.kind == "test" else None
        if verdict is not None:
            parts.append(_verdict_html(verdict, assignment.by_id[cell.grade_id].docstring))
        elif cell.kind == "manual":
            parts.append(
                f'<div class="verdict pending"><strong>{cell.points:g} point'
                f"{'s' if cell.points != 1 else ''}, graded by hand</strong>: pending.</div>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


STUB = re.compile(r"^\s*assert\s+callable\(\s*\w+\s*\)\s*(#.*)?$")


def _test_code(source: str, original) -> list[str]:
    """A test cell's code on the page: without its hidden part and the lines that stand in for it
    (``assert callable(name)``), and a note where tests are hidden."""
    if not original.hidden:
        return [f"<pre><code>{html.escape(source)}</code></pre>"] if source.strip() else []
    lines = visible_part(source).split("\n")  # the student's copy holds none; should it, none shows
    code = "\n".join(line for line in lines if not STUB.match(line)).strip()
    parts = [f"<pre><code>{html.escape(code)}</code></pre>"] if _more_than_docstring(code) else []
    parts.append('<p class="hidden-note">This test is hidden: its code is not shown.</p>')
    return parts


def _more_than_docstring(code: str) -> bool:
    """Whether ``code`` holds anything but a docstring (and comments)."""
    import ast

    try:
        body = ast.parse(code).body
    except SyntaxError:
        return bool(code)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ):
        body = body[1:]
    return bool(body)


def _verdict_html(verdict, about: str) -> str:
    points = (
        f"{verdict.points:g} / {verdict.max_points:g} point{'s' if verdict.max_points != 1 else ''}"
    )
    css = verdict.outcome.replace(" ", "-")
    about = f"<br>{html.escape(about)}" if about else ""
    return f'<div class="verdict {css}"><strong>{points}</strong> {html.escape(verdict.sentence())}{about}</div>'


# --- the instructor's notebook ------------------------------------------------------------------


def graded_notebook(plan, runs: dict, result: Result, assignment):
    """The notebook as it ran, with capped outputs and the scores (full test cells): instructors only."""
    cells = []
    for index, cell in enumerate(plan.cells):
        if cell.cell_type == "code":
            source = (
                assignment.by_id[cell.grade_id].source
                if cell.kind in ("test", "judge")
                else cell.source
            )
            new = nbformat.v4.new_code_cell(source)
            run = runs.get(index)
            if run is not None:
                new.outputs = [
                    nbformat.from_dict({k: v for k, v in o.items() if not k.startswith("_")})
                    for o in run.outputs
                ]
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if cell.grade_id:
            meta = {"grade_id": cell.grade_id, "points": cell.points, "kind": cell.kind}
            verdict = result.verdicts.get(cell.grade_id) if cell.kind == "test" else None
            if verdict is not None:
                meta.update(score=verdict.points, outcome=verdict.outcome, reason=verdict.reason)
            new.metadata["autograder"] = meta
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb

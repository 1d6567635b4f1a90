"""The student's feedback page (autograder.report.page), built from hand-made verdicts: fast.

What a student reads: a failed visible test's assertion message (visible tests are no secret), no
word of a hidden test, no stand-in ``assert callable(...)`` shown as if it were the test, and the
statements' formulas drawn (the appendix's matrices included), all without a script.
"""

import html
import re
from types import SimpleNamespace

import pytest

from autograder import report
from autograder.assignment import Assignment, assignments, hidden_lines
from autograder.events import Result, Verdict

VISIBLE = '"""Checks two sizes."""\nassert sizes() == [1, 2], f"expected [1, 2], got {sizes()}"'
HIDDEN = (
    '"""Compares with the library on other sizes."""\nassert callable(iou)\n'
    "### BEGIN HIDDEN TESTS\nassert iou(a, b) == reference_iou(a, b), 'secret case'\n"
    "### END HIDDEN TESTS"
)
RELEASED_HIDDEN = '"""Compares with the library on other sizes."""\nassert callable(iou)'


def render(cells, verdicts):
    """The page of one student for these (kind, source, grade_id) cells and verdicts."""
    originals = {
        gid: SimpleNamespace(hidden=hidden_lines(source), docstring=source.split('"""')[1])
        for kind, source, gid in cells
        if kind == "test"
    }
    plan = SimpleNamespace(
        cells=[
            SimpleNamespace(
                cell_type="markdown" if kind == "markdown" else "code",
                kind=kind,
                source=RELEASED_HIDDEN if source == HIDDEN else source,
                grade_id=gid,
                points=1.0,
                from_release=True,
            )
            for kind, source, gid in cells
        ]
    )
    assignment = SimpleNamespace(
        name="99_demo",
        autograded={gid: 1.0 for gid in originals},
        of_role=lambda *roles: [],
        by_id=originals,
    )
    result = Result("student", "student.ipynb", verdicts=verdicts)
    return report.page(result, plan, assignment)


def visible_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def failed(gid, message, hidden):
    reason = {"kind": "assertion", "message": message, "hidden": hidden}
    return Verdict(gid, 0.0, 1.0, "failed", reason)


def test_a_failed_visible_test_shows_its_message_with_the_value_returned():
    page = render(
        [("test", VISIBLE, "sizes_visible")],
        {"sizes_visible": failed("sizes_visible", "expected [1, 2], got [1, 3]", False)},
    )
    assert "Failed: expected [1, 2], got [1, 3]." in visible_text(page)


def test_a_multiline_message_keeps_its_lines():
    message = "Not equal to tolerance\n ACTUAL: array([1.])\n DESIRED: array([2.])"
    page = render(
        [("test", VISIBLE, "sizes_visible")],
        {"sizes_visible": failed("sizes_visible", message, False)},
    )
    assert "ACTUAL: array([1.])\n DESIRED" in html.unescape(page)
    assert "white-space: pre-wrap" in page.split(".verdict", 1)[1].split("}", 1)[0]


def test_a_hidden_test_shows_neither_its_message_nor_its_stub():
    page = render(
        [("test", HIDDEN, "iou_hidden")],
        {"iou_hidden": failed("iou_hidden", "secret case", True)},
    )
    text = visible_text(page)
    assert "secret case" not in text and "reference_iou" not in text
    assert "assert callable(iou)" not in text  # the stand-in is not the test
    assert "This test is hidden: its code is not shown." in text
    assert "Failed in a hidden test." in text
    assert "Compares with the library on other sizes." in text  # what it checks, still said


def test_a_hidden_test_keeps_its_visible_asserts():
    source = (
        '"""Checks a size."""\nassert sizes()[0] == 1, "the first"\n' + HIDDEN.split("\n", 2)[2]
    )
    page = render([("test", source, "mixed")], {"mixed": Verdict("mixed", 1.0, 1.0, "passed")})
    text = visible_text(page)
    assert 'assert sizes()[0] == 1, "the first"' in text
    assert "This test is hidden" in text and "secret case" not in text


def test_formulas_that_mathtext_cannot_draw_become_mathml_without_a_script():
    statement = (
        "$$\\frac{1}{2}\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$$\n\nand "
        "$\\operatorname{mean}\\big(x\\big)$ and $k^2$"
    )
    page = render([("markdown", statement, None)], {})
    assert page.count("<math ") == 2 and "<mtable>" in page and "<mo>mean</mo>" in page
    assert '<img class="math"' in page  # k^2: mathtext, as before
    assert "pmatrix" not in visible_text(page) and "<script" not in page


@pytest.mark.parametrize(
    "tex",
    [
        "\\text{<script>alert(1)</script>}",
        "\\text{<img src=x onerror=alert(1)>}",
        "\\href{javascript:alert(1)}{x}",
    ],
)
def test_a_formula_cannot_smuggle_html_into_the_page(tex):
    page = render([("markdown", f"$${tex}$$", None)], {})
    assert "<script" not in page and "<img src" not in page and "href=" not in page


@pytest.mark.parametrize("name", assignments())
def test_every_formula_of_the_statements_is_drawn(name):
    """No formula of any assignment's markdown shows as raw TeX on a feedback page."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    formulas = []
    parser = MarkdownIt("commonmark").use(
        dollarmath_plugin,
        renderer=lambda tex, options: (
            formulas.append((tex, bool(options.get("display_mode")))) or ""
        ),
    )
    for cell in Assignment.load(name).cells:
        if cell.cell_type == "markdown":
            parser.render(cell.source)
    raw = [tex for tex, display in formulas if report._formula(tex, display).startswith("<code>")]
    assert not raw, f"{name}: formulas shown as TeX: {raw}"

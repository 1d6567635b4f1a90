"""Build the notebook that is run to grade a submission, from the student's notebook and the source.

The student's notebook decides the code that runs, in the student's order; the instructor's source
decides everything the grade depends on:

- every autograder test cell (``grade: true``, ``solution: false``) is the source's cell, hidden tests
  included, whatever the student did to it: an edited test cell is put back, a deleted one is put
  back after the cell that precedes it in the source, a duplicated one runs once (later copies are
  dropped), a test cell turned into markdown runs as code;
- read-only cells (``locked``) are the released version's;
- answer cells keep the student's text, with the source's metadata and cell type (a student cannot
  give an answer cell points, or a new grade id); a second copy of an answer cell runs as an
  ordinary cell, in its place;
- every other cell is an ordinary cell: its nbgrader metadata, if any, is dropped;
- outputs and execution counts are cleared.

Test cells are rewritten for ``autograder.guard``: every value they compare, assert or pass to a
function is checked by the guard's checker, and their last statement tells the guard that the cell
ran to its end.
"""

from __future__ import annotations

import ast
import re
import secrets
from dataclasses import dataclass, field

import nbformat

HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


@dataclass
class Cell:
    """One cell of the notebook that is graded."""

    kind: str  # test, answer, manual, task, locked, student
    cell_type: str  # code, markdown, raw
    source: str  # what the student sees (test cells: without the hidden tests)
    run: str | None = None  # code sent to the kernel (None: not executed)
    grade_id: str | None = None
    points: float = 0.0
    token: str | None = None  # test cells: the value passed to the guard's ``done``
    hidden: bool = False  # test cells: has hidden tests
    docstring: str = ""  # test cells: the first line of their docstring
    literals: tuple[str, ...] = ()  # test cells: string constants of the visible part
    from_release: bool = False  # unchanged from the student version (instructor's text)


@dataclass
class Assembled:
    cells: list[Cell]
    repairs: list[str] = field(default_factory=list)
    changed_answers: list[str] = field(default_factory=list)  # manual answers the student wrote


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def visible_part(source: str) -> str:
    """``source`` without its hidden-test regions (an unclosed region runs to the end)."""
    kept, inside = [], False
    for line in source.split("\n"):
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def has_hidden(source: str) -> bool:
    return HIDDEN_BEGIN in source


def _normalized(text: str) -> str:
    return " ".join(text.split())


def roles(source_nb) -> dict[str, dict]:
    """grade_id -> role of each nbgrader cell of the instructor's source."""
    found = {}
    for position, cell in enumerate(source_nb.cells):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("grade") and not meta.get("solution"):
            kind = "test"
        elif meta.get("solution"):
            kind = "manual" if meta.get("grade") else "answer"
        elif meta.get("task"):
            kind = "task"
        elif meta.get("locked"):
            kind = "locked"
        else:
            continue
        found[grade_id] = {"kind": kind, "cell": cell, "position": position}
    return found


def assemble(student_nb, source_nb, release_nb, checker: str) -> Assembled:
    """The cells to run and show, and the repairs made, in plain words."""
    source_roles = roles(source_nb)
    release = {nbgrader_meta(c).get("grade_id"): c for c in release_nb.cells}
    release_text = {_normalized(c.source) for c in release_nb.cells}
    out: list[Cell] = []
    placed: dict[str, int] = {}  # grade_id -> index in ``out``
    seen: dict[str, int] = {}
    edited, retyped, unknown, duplicated = [], [], [], []
    order = []
    for cell in student_nb.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        role = source_roles.get(grade_id) if grade_id else None
        if role is None:
            if meta:
                unknown.append(grade_id or "(no id)")
            out.append(_student_cell(cell, release_text))
            continue
        seen[grade_id] = seen.get(grade_id, 0) + 1
        kind, original = role["kind"], role["cell"]
        if seen[grade_id] > 1:
            duplicated.append(grade_id)
            if kind in ("answer", "manual"):
                out.append(_student_cell(cell, release_text))  # runs where the student put it
            continue
        if cell.cell_type != original.cell_type or _meta_differs(meta, nbgrader_meta(original)):
            retyped.append(grade_id)
        if kind == "test":
            shown = release.get(grade_id, original).source
            if _normalized(cell.source) not in (_normalized(shown), _normalized(original.source)):
                edited.append(grade_id)
            order.append(role["position"])
        placed[grade_id] = len(out)
        out.append(_role_cell(kind, grade_id, original, cell, release.get(grade_id), checker))
    missing = [gid for gid, role in source_roles.items() if gid not in placed]
    missing_tests = [gid for gid in missing if source_roles[gid]["kind"] == "test"]
    for grade_id in sorted(missing_tests, key=lambda g: source_roles[g]["position"]):
        role = source_roles[grade_id]
        at = _insertion_point(role["position"], source_roles, placed)
        out.insert(at, _role_cell("test", grade_id, role["cell"], None, None, checker))
        for other, index in placed.items():
            if index >= at:
                placed[other] = index + 1
        placed[grade_id] = at
    result = Assembled(out)
    if missing_tests:
        result.repairs.append(f"test cells put back (deleted): {', '.join(missing_tests)}")
    if edited:
        result.repairs.append(f"edited test cells restored: {', '.join(edited)}")
    if duplicated:
        result.repairs.append(
            f"duplicated cells counted once: {', '.join(sorted(set(duplicated)))}"
        )
    if retyped:
        result.repairs.append(
            "changed cell type or grading metadata ignored: " + ", ".join(sorted(set(retyped)))
        )
    if unknown:
        result.repairs.append(
            "cells with unknown grade ids run as ordinary cells: " + ", ".join(sorted(set(unknown)))
        )
    if order != sorted(order):
        result.repairs.append("test cells were moved: they ran where the student put them")
    result.changed_answers = [
        cell.grade_id
        for cell in out
        if cell.kind == "manual"
        and _normalized(cell.source)
        != _normalized(getattr(release.get(cell.grade_id), "source", ""))
    ]
    return result


def _meta_differs(student: dict, original: dict) -> bool:
    keys = ("grade", "solution", "locked", "task", "points")
    return any(student.get(key) != original.get(key) for key in keys)


def _insertion_point(position: int, source_roles: dict, placed: dict[str, int]) -> int:
    """Right after the student's copy of the nearest earlier source cell that is in the notebook."""
    before = [
        (role["position"], gid)
        for gid, role in source_roles.items()
        if role["position"] < position and gid in placed
    ]
    if before:
        return placed[max(before)[1]] + 1
    after = [
        placed[gid]
        for gid, role in source_roles.items()
        if role["position"] > position and gid in placed
    ]
    return min(after) if after else 0


def _student_cell(cell, release_text: set[str]) -> Cell:
    kind_type = cell.cell_type if cell.cell_type in ("code", "markdown", "raw") else "raw"
    source = cell.source if isinstance(cell.source, str) else ""
    return Cell(
        kind="student",
        cell_type=kind_type,
        source=source,
        run=source if kind_type == "code" else None,
        from_release=_normalized(source) in release_text,
    )


def _role_cell(kind, grade_id, original, student_cell, released, checker) -> Cell:
    points = float(nbgrader_meta(original).get("points") or 0)
    if kind == "test":
        visible = visible_part(original.source)
        token = secrets.token_hex(8)
        run = (
            rewrite_test(original.source, checker, token) if original.cell_type == "code" else None
        )
        return Cell(
            kind="test",
            cell_type=original.cell_type,
            source=visible,
            run=run,
            grade_id=grade_id,
            points=points,
            token=token if run and checker in run else None,
            hidden=has_hidden(original.source),
            docstring=test_docstring(visible),
            literals=string_literals(visible),
        )
    if kind in ("locked", "task"):
        source = (released or original).source
        return Cell(
            kind=kind,
            cell_type=original.cell_type,
            source=source,
            run=source if original.cell_type == "code" else None,
            grade_id=grade_id,
            points=points,
            from_release=original.cell_type == "markdown",
        )
    source = student_cell.source if isinstance(student_cell.source, str) else ""
    return Cell(
        kind=kind,
        cell_type=original.cell_type,
        source=source,
        run=source if original.cell_type == "code" else None,
        grade_id=grade_id,
        points=points,
    )


def test_docstring(source: str) -> str:
    """First line of the test cell's docstring (what the test checks, in the instructor's words)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    doc = ast.get_docstring(tree)
    return doc.strip().splitlines()[0] if doc else ""


def string_literals(source: str) -> tuple[str, ...]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    return tuple(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip()
    )


# --- rewriting the test cells ------------------------------------------------------------------


class _Checked(ast.NodeTransformer):
    """Route the values a test looks at through the guard's checker."""

    def __init__(self, checker: str):
        self.checker = checker

    def _wrap(self, node: ast.expr, method: str = "v") -> ast.expr:
        if isinstance(node, ast.Constant):
            return node
        call = ast.Call(
            func=ast.Attribute(
                value=ast.Name(id=self.checker, ctx=ast.Load()), attr=method, ctx=ast.Load()
            ),
            args=[node],
            keywords=[],
        )
        return ast.copy_location(call, node)

    def visit_Compare(self, node):
        self.generic_visit(node)
        node.left = self._wrap(node.left)
        node.comparators = [self._wrap(c) for c in node.comparators]
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        node.args = [
            ast.Starred(value=self._wrap(a.value), ctx=a.ctx)
            if isinstance(a, ast.Starred)
            else self._wrap(a)
            for a in node.args
        ]
        for keyword in node.keywords:
            keyword.value = self._wrap(keyword.value)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        node.left, node.right = self._wrap(node.left), self._wrap(node.right)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        node.operand = self._wrap(node.operand)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [self._wrap(v) for v in node.values]
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = self._wrap(node.value)
        return node

    def visit_Assert(self, node):
        self.generic_visit(node)
        node.test = self._wrap(node.test, "t")
        return node

    def visit_If(self, node):
        self.generic_visit(node)
        node.test = self._wrap(node.test, "t")
        return node

    visit_While = visit_If

    def visit_IfExp(self, node):
        self.generic_visit(node)
        node.test = self._wrap(node.test, "t")
        return node


def to_python(source: str) -> str:
    """Cell source with IPython syntax (magics, shell escapes) turned into plain Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def rewrite_test(source: str, checker: str, token: str) -> str:
    """The test cell's code, checked by the guard and ending with ``done(token)``.

    A cell that does not parse is sent as it is (without ``done``: its verdict then rests on the
    kernel's reply alone).
    """
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return source
    tree = _Checked(checker).visit(tree)
    done = ast.Expr(
        value=ast.Call(
            func=ast.Attribute(
                value=ast.Name(id=checker, ctx=ast.Load()), attr="done", ctx=ast.Load()
            ),
            args=[ast.Constant(token)],
            keywords=[],
        )
    )
    body = tree.body
    if body and isinstance(body[-1], ast.Expr):  # keep the value of the last line on display
        keep = f"{checker}_last"
        last = body.pop()
        body.append(ast.Assign(targets=[ast.Name(id=keep, ctx=ast.Store())], value=last.value))
        body.append(done)
        body.append(ast.Expr(value=ast.Name(id=keep, ctx=ast.Load())))
    else:
        body.append(done)
    return ast.unparse(ast.fix_missing_locations(tree))


def checker_name() -> str:
    return f"_ag_{secrets.token_hex(6)}"


def read_notebook(text: str):
    return nbformat.reads(text, as_version=4)


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

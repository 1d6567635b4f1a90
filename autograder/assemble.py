"""Stage 2, assemble: the cells to run, in the student's order, with the instructor's tests.

The student's notebook decides the code that runs in the kernel, in the student's order; the
assignment decides everything the grade depends on:

- every test cell is the source's cell, hidden tests included, whatever the student did to it, and it
  runs in the judge: an edited test cell is put back, a deleted one is put back after the cell that
  precedes it in the source, a duplicated one runs once, a test cell turned into markdown runs anyway;
- judge cells (the test helpers) never run in the kernel: the judge runs them, from the source;
- read-only cells are the released version's;
- answer cells keep the student's text, with the source's role (a student cannot give an answer cell
  points, or a new grade id); a second copy of an answer cell runs as an ordinary cell;
- every other cell is an ordinary cell of the student's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder import events
from autograder.assignment import Assignment, nbgrader_meta, role_of


@dataclass
class Cell:
    """One cell of the notebook as graded."""

    kind: str  # test, judge, answer, manual, locked, student
    cell_type: str  # code, markdown, raw
    source: str  # what the student sees (test cells: without the hidden tests)
    where: str | None  # "kernel", "judge" (test cells), or None (not run)
    grade_id: str | None = None
    label: str = ""
    points: float = 0.0
    answered: bool = False  # manual cells: the student wrote something
    from_release: bool = False  # the instructor's text, unchanged from the student version


@dataclass
class Plan:
    cells: list[Cell]
    events: list[events.Event] = field(default_factory=list)

    def kernel_code(self) -> list[tuple[str, str]]:
        """(label, source) of what runs in the student's kernel: the code the judge analyses."""
        return [(c.label, c.source) for c in self.cells if c.where == "kernel"]

    def students_own_code(self) -> list[tuple[str, str]]:
        """The kernel code the student wrote or changed (what a person may want to look at)."""
        return [
            (c.label, c.source) for c in self.cells if c.where == "kernel" and not c.from_release
        ]


def _normalized(text: str) -> str:
    return " ".join(text.split())


def plan(student_nb, assignment: Assignment) -> Plan:
    by_id = assignment.by_id
    released = {_normalized(c.released) for c in assignment.cells}
    out: list[Cell] = []
    placed: dict[str, int] = {}
    seen: dict[str, int] = {}
    edited, retyped, unknown, duplicated, order = [], [], [], [], []
    for cell in student_nb.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        original = by_id.get(grade_id) if grade_id else None
        if original is None:
            if meta:
                unknown.append(grade_id or "(no id)")
            out.append(_student_cell(cell, released))
            continue
        seen[grade_id] = seen.get(grade_id, 0) + 1
        if seen[grade_id] > 1:
            duplicated.append(grade_id)
            if original.role in ("answer", "manual"):
                out.append(_student_cell(cell, released))  # runs where the student put it
            continue
        if cell.cell_type != original.cell_type or role_of(cell) != original.role:
            retyped.append(grade_id)
        if original.role == "test":
            if _normalized(cell.source) not in (
                _normalized(original.released),
                _normalized(original.source),
            ):
                edited.append(grade_id)
            order.append(original.index)
        placed[grade_id] = len(out)
        out.append(_role_cell(original, cell.source))
    missing = [c for c in assignment.of_role("test") if c.grade_id not in placed]
    for original in missing:
        at = _insertion_point(original.index, assignment, placed)
        out.insert(at, _role_cell(original, None))
        placed = {gid: index + (index >= at) for gid, index in placed.items()}
        placed[original.grade_id] = at
    result = Plan(out)
    found = [
        (events.TestCellsPutBack, [c.grade_id for c in missing]),
        (events.TestCellsRestored, edited),
        (events.CountedOnce, sorted(set(duplicated))),
        (events.MetadataIgnored, sorted(set(retyped))),
        (events.UnknownGradeIds, sorted(set(unknown))),
    ]
    result.events = [kind(tuple(ids)) for kind, ids in found if ids]
    if order != sorted(order):
        result.events.append(events.TestsMoved())
    for number, cell in enumerate(result.cells, start=1):
        cell.label = (
            f"{'test cell' if cell.kind == 'test' else 'answer cell'} {cell.grade_id}"
            if cell.grade_id
            else f"cell {number}"
        )
    return result


def _insertion_point(index: int, assignment: Assignment, placed: dict[str, int]) -> int:
    """Right after the student's copy of the nearest earlier source cell that is in the notebook."""
    earlier = [
        (c.index, placed[c.grade_id])
        for c in assignment.cells
        if c.grade_id in placed and c.index < index
    ]
    if earlier:
        return max(earlier)[1] + 1
    later = [
        placed[c.grade_id] for c in assignment.cells if c.grade_id in placed and c.index > index
    ]
    return min(later) if later else 0


def _student_cell(cell, released: set[str]) -> Cell:
    kind = cell.cell_type if cell.cell_type in ("code", "markdown", "raw") else "raw"
    source = cell.source if isinstance(cell.source, str) else ""
    where = "kernel" if kind == "code" else None
    return Cell("student", kind, source, where, from_release=_normalized(source) in released)


def _role_cell(original, student_text: str | None) -> Cell:
    code = original.cell_type == "code"
    common = {"grade_id": original.grade_id, "points": original.points}
    if original.role == "test":
        return Cell("test", original.cell_type, original.released, "judge", **common)
    if original.role == "judge":
        return Cell("judge", "code", original.released, None, from_release=True, **common)
    if original.role == "locked":
        where = "kernel" if code else None
        return Cell(
            "locked", original.cell_type, original.released, where, from_release=True, **common
        )
    text = student_text if isinstance(student_text, str) else ""
    answered = _normalized(text) != _normalized(original.released)
    return Cell(
        original.role,
        original.cell_type,
        text,
        "kernel" if code else None,
        answered=answered,
        **common,
    )

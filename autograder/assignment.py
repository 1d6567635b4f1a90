"""The instructor's source assignment, parsed once into the value every stage reads.

A source notebook (``solutions/NAME/NAME.ipynb``) is in nbgrader's format; its cells take these
roles (see the README's "Writing an exercise"):

- ``judge``: a locked cell tagged ``judge`` — the test helpers; graded, it runs only in the judge;
- ``test``: an autograded test cell (``grade``, not ``solution``), hidden tests included;
- ``answer``: a solution cell (``solution``, not ``grade``), optionally with
  ``metadata.grading.forbid`` (modules its functions may not reach);
- ``manual``: a solution cell graded by hand (``grade`` and ``solution``), or a task;
- ``locked``: any other read-only cell; ``plain``: everything else.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
JUDGE_TAG = "judge"


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def role_of(cell) -> str:
    meta = nbgrader_meta(cell)
    tags = cell.get("metadata", {}).get("tags") or []
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution"):
        return "manual" if meta.get("grade") else "answer"
    if meta.get("task"):
        return "manual"
    if meta.get("locked") and JUDGE_TAG in tags and cell.cell_type == "code":
        return "judge"
    if meta.get("locked"):
        return "locked"
    return "plain"


def hidden_lines(source: str) -> tuple[int, ...]:
    """1-based numbers of the lines inside hidden-test regions (markers included)."""
    lines, inside = [], False
    for number, line in enumerate(source.split("\n"), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            lines.append(number)
        if HIDDEN_END in line:
            inside = False
    return tuple(lines)


def visible_part(source: str) -> str:
    """``source`` without its hidden-test regions (an unclosed region runs to the end)."""
    hidden = set(hidden_lines(source))
    return "\n".join(
        line for number, line in enumerate(source.split("\n"), start=1) if number not in hidden
    )


def _tree(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def defined_names(source: str, imports: bool = True) -> tuple[str, ...]:
    """Top-level names a cell defines (functions, classes, assignments, and imports if asked)."""
    tree = _tree(source)
    names = []
    for node in tree.body if tree else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and imports:
            names += [a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"]
    return tuple(dict.fromkeys(names))


def used_names(source: str) -> tuple[str, ...]:
    tree = _tree(source)
    if tree is None:
        return ()
    found = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return tuple(sorted(found))


def imported_modules(source: str) -> set[str]:
    """The modules a cell imports (anywhere in it)."""
    tree = _tree(source)
    found = set()
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def docstring(source: str) -> str:
    tree = _tree(visible_part(source))
    text = ast.get_docstring(tree) if tree else None
    return text.strip().splitlines()[0] if text else ""


@dataclass(frozen=True)
class SourceCell:
    index: int
    role: str  # judge, test, answer, manual, locked, plain
    cell_type: str  # code, markdown, raw
    source: str  # the instructor's text (test cells: hidden tests included)
    released: str  # what the student version shows
    grade_id: str | None = None
    points: float = 0.0
    forbid: tuple[str, ...] = ()  # answer cells: modules their names may not reach
    defines: tuple[str, ...] = ()  # answer and judge cells: top-level names
    uses: tuple[str, ...] = ()  # test cells: names they load
    hidden: tuple[int, ...] = ()  # test cells: lines of hidden tests
    docstring: str = ""  # test cells: what the test checks, in the instructor's words
    pairs_with: tuple[str, ...] = ()  # test cells: success-path cells this one's points depend on


@dataclass(frozen=True)
class Assignment:
    name: str
    source_path: Path
    release_path: Path
    cells: tuple[SourceCell, ...]
    digest: str  # of both files: results graded against other files are not reused

    @classmethod
    def load(cls, name: str, source_dir: Path = SOURCE, release_dir: Path = RELEASE) -> Assignment:
        notebooks = sorted((source_dir / name).glob("*.ipynb"))
        if len(notebooks) != 1:
            raise ValueError(f"solutions/{name} must hold exactly one notebook")
        source_path = notebooks[0]
        release_path = release_dir / name / source_path.name
        if not release_path.is_file():
            raise ValueError(
                f"no student version {release_path}: run python -m autograder.generate"
            )
        source = nbformat.read(source_path, as_version=4)
        release = nbformat.read(release_path, as_version=4)
        released = {nbgrader_meta(c).get("grade_id"): c.source for c in release.cells}
        cells = []
        for index, cell in enumerate(source.cells):
            meta, role = nbgrader_meta(cell), role_of(cell)
            grade_id = meta.get("grade_id") if role != "plain" else None
            text = cell.source
            grading = cell.get("metadata", {}).get("grading", {})
            forbid = grading.get("forbid", ())
            cells.append(
                SourceCell(
                    index=index,
                    role=role,
                    cell_type=cell.cell_type,
                    source=text,
                    released=released.get(grade_id, visible_part(text)) if grade_id else text,
                    grade_id=grade_id,
                    points=float(meta.get("points") or 0) if role in ("test", "manual") else 0.0,
                    forbid=tuple(forbid) if role == "answer" else (),
                    defines=defined_names(text, imports=role == "judge")
                    if role in ("answer", "judge") and cell.cell_type == "code"
                    else (),
                    uses=used_names(text) if role == "test" else (),
                    hidden=hidden_lines(text) if role == "test" else (),
                    docstring=docstring(text) if role == "test" else "",
                    pairs_with=tuple(grading.get("pairs_with", ())) if role == "test" else (),
                )
            )
        digest = hashlib.sha256(source_path.read_bytes() + b"\0" + release_path.read_bytes())
        assignment = cls(name, source_path, release_path, tuple(cells), digest.hexdigest())
        assignment.validate()
        return assignment

    def validate(self) -> None:
        ids = [c.grade_id for c in self.cells if c.grade_id]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.name}: grade ids are not unique")
        earlier: set[str] = set()
        for cell in self.of_role("test"):
            missing = set(cell.pairs_with) - earlier
            if missing:
                raise ValueError(
                    f"{self.name}: {cell.grade_id} pairs with {sorted(missing)}, which are not "
                    "test cells before it"
                )
            earlier.add(cell.grade_id)
        clash = set(self.helper_names) & set(self.forbid)
        if clash:
            raise ValueError(f"{self.name}: judge cells define answer names: {sorted(clash)}")

    def of_role(self, *roles: str) -> list[SourceCell]:
        return [c for c in self.cells if c.role in roles]

    @property
    def by_id(self) -> dict[str, SourceCell]:
        return {c.grade_id: c for c in self.cells if c.grade_id}

    @property
    def autograded(self) -> dict[str, float]:
        """grade_id -> points of every test cell, in notebook order (the CSV's columns)."""
        return {c.grade_id: c.points for c in self.of_role("test")}

    @property
    def manual(self) -> list[str]:
        return [c.grade_id for c in self.of_role("manual")]

    @property
    def forbid(self) -> dict[str, tuple[str, ...]]:
        """Graded name -> modules it may not reach (from the answer cells' declarations)."""
        return {name: c.forbid for c in self.of_role("answer") if c.forbid for name in c.defines}

    @property
    def helper_names(self) -> tuple[str, ...]:
        return tuple(name for c in self.of_role("judge") for name in c.defines)

    def judge_setup(self, student_cells: list[tuple[str, str]]) -> dict:
        """What the judge receives before the first test (plain data)."""
        return {
            "helpers": [
                {"label": c.grade_id or f"cell {c.index + 1}", "code": c.source}
                for c in self.of_role("judge")
            ],
            "helper_names": list(self.helper_names),
            "forbid": {name: list(modules) for name, modules in self.forbid.items()},
            "student_cells": [list(cell) for cell in student_cells],
            "preload": sorted(
                {m for c in self.of_role("judge", "test") for m in imported_modules(c.source)}
            ),
        }

    def test_message(self, grade_id: str) -> dict:
        cell = self.by_id[grade_id]
        return {
            "grade_id": grade_id,
            "code": cell.source,
            "points": cell.points,
            "uses": list(cell.uses),
            "hidden_lines": list(cell.hidden),
            "pairs_with": list(cell.pairs_with),
        }


def assignments(source_dir: Path = SOURCE) -> list[str]:
    """Names of the assignments: folders of ``solutions/`` that hold a notebook."""
    return sorted(d.name for d in source_dir.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))

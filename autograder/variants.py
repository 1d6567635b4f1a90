"""Per-student variants of an exercise: each student's own numbers, derived from a course secret.

An assignment declares its variable numbers in one read-only **set-up cell** of its source notebook
(grade id ``variant_setup``): comment lines, then one ``NAME = literal`` line per parameter, whose
values are the *default variant* (the book's, Colab's, and everyone's when there is no roster). The
cell's metadata says how a student's values are drawn::

    "variant": {"FILTERS": {"choices": ["(100, 200, 400)", "(64, 128, 256)"]},
                "BATCH": {"range": [20, 90, 10]}}

``choices`` are Python literals (one is picked); ``range`` is ``[start, stop, step]`` of integers.
Markdown cells whose text quotes the numbers carry ``"variant_text": "... {FILTERS[0]} ..."``: a
``str.format`` template that gives the cell's text back with the default values (a test checks it).

A student's values come from ``random.Random(seed)`` with ``seed = HMAC-SHA256(course secret,
assignment + student id)``: the same student always gets the same numbers, and nobody without the
secret can work out another's. The secret is read from the environment variable
``CNNKIT_COURSE_SECRET``, or from the file named by ``CNNKIT_COURSE_SECRET_FILE`` (keep it outside the
repository). The **variant id** written in ``grades.csv`` is the first 12 hex digits of that HMAC
(``default`` for the default variant): it names the variant without giving away the secret or values.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import hmac
import os
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SETUP_ID = "variant_setup"
SECRET_ENV, SECRET_FILE_ENV = "CNNKIT_COURSE_SECRET", "CNNKIT_COURSE_SECRET_FILE"
DEFAULT = "default"
RELEASED_KEY = "course_release"  # notebook metadata: whom release --roster wrote it for


def released_to(nb) -> str:
    """The student a notebook was released to (``release --roster``), or ""."""
    meta = nb.get("metadata", {}).get(RELEASED_KEY)
    value = meta.get("released_to") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""


class SecretMissing(RuntimeError):
    pass


def course_secret() -> bytes:
    """The course secret, or a SecretMissing that says where to put it."""
    value = os.environ.get(SECRET_ENV, "")
    path = os.environ.get(SECRET_FILE_ENV, "")
    if not value and path:
        try:
            value = Path(path).read_text("utf-8").strip()
        except OSError as error:
            raise SecretMissing(f"cannot read the course secret from {path}: {error}") from None
    if not value:
        raise SecretMissing(
            "per-student variants need the course secret: set "
            f"{SECRET_ENV}=<secret> or {SECRET_FILE_ENV}=<file holding it> (outside the repository; "
            "the same secret at release and at grading), e.g. "
            "python -c 'import secrets; print(secrets.token_hex(32))' > ~/.course_secret"
        )
    return value.encode()


def _digest(secret: bytes, assignment: str, student_id: str) -> str:
    message = f"{assignment}\0{student_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Spec:
    """An assignment's variable numbers."""

    names: tuple[str, ...]
    defaults: dict
    draws: dict  # name -> {"choices": [...]} or {"range": [start, stop, step]}
    comments: tuple[str, ...]  # the set-up cell's comment lines

    def draw(self, seed_hex: str) -> dict:
        rng = random.Random(int(seed_hex, 16))
        values = {}
        for name in self.names:
            rule = self.draws.get(name, {})
            if "choices" in rule:
                values[name] = ast.literal_eval(rng.choice(rule["choices"]))
            elif "range" in rule:
                values[name] = rng.randrange(*rule["range"])
            else:
                values[name] = self.defaults[name]
        return values

    def setup_source(self, values: dict) -> str:
        return "\n".join([*self.comments, *(f"{n} = {values[n]!r}" for n in self.names)])


def spec_of(nb) -> Spec | None:
    """The variant declaration of a (source or student) notebook, or None when it has none."""
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if meta.get("nbgrader", {}).get("grade_id") != SETUP_ID:
            continue
        names, defaults, comments = [], {}, []
        for line in cell.source.splitlines():
            if line.startswith("#") or not line.strip():
                comments.append(line)
                continue
            target, _, literal = line.partition(" = ")
            names.append(target.strip())
            defaults[target.strip()] = ast.literal_eval(literal)
        return Spec(tuple(names), defaults, dict(meta.get("variant", {})), tuple(comments))
    return None


@dataclass(frozen=True)
class Variant:
    id: str  # "default" or 12 hex digits
    values: dict
    note: str = ""  # said in grades.csv's notes (an unknown id)


def for_student(
    spec: Spec | None, assignment: str, student_id: str, roster: set[str] | None, secret: bytes
) -> Variant:
    """The variant a student is graded on (``roster`` None: everyone gets the default)."""
    if spec is None:
        return Variant(DEFAULT, {})
    if roster is None:
        return Variant(DEFAULT, dict(spec.defaults))
    if student_id not in roster:
        note = f"{student_id} is not in the roster: graded on the default variant"
        return Variant(DEFAULT, dict(spec.defaults), note)
    digest = _digest(secret, assignment, student_id)
    return Variant(digest[:12], spec.draw(digest))


def render(nb, spec: Spec, values: dict) -> None:
    """Fill ``values`` into the set-up cell and the statement of a student notebook, in place."""
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if meta.get("nbgrader", {}).get("grade_id") == SETUP_ID:
            cell.source = spec.setup_source(values)
        elif cell.cell_type == "markdown" and "variant_text" in meta:
            cell.source = meta["variant_text"].format(**values)


# --- rosters --------------------------------------------------------------------------------------


def _canvas_id(name: str) -> str:
    """What Canvas puts first in a submission's file name: the sortable name, letters only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower()) or "student"


def read_roster(path: Path) -> dict[str, str]:
    """Student id (as the grader names the student) -> display name, from an LMS export.

    Accepted columns: ``student_id`` (and optionally ``name``): the ids of grades.csv; Canvas's
    gradebook export (``Student``, ``ID``): ``Doe, John`` becomes ``doejohn``, as in Canvas's file
    names (``doejohn_<ID>`` for two students of one name); Moodle's grade export (``First name``,
    ``Last name``): ``Jane Doe`` becomes ``jane_doe``, as in Moodle's folder names.
    """
    from autograder.submissions import sanitize

    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [
            {k.strip(): (v or "").strip() for k, v in r.items() if k}
            for r in csv.DictReader(handle)
        ]
    found: list[tuple[str, str, str]] = []  # short id, long id, name
    for row in rows:
        if row.get("student_id"):
            found.append((row["student_id"], row["student_id"], row.get("name", "")))
        elif row.get("Student") and row.get("ID", "").isdigit():  # Canvas (skips "Points Possible")
            short = _canvas_id(row["Student"])
            found.append((short, f"{short}_{row['ID']}", row["Student"]))
        elif row.get("First name") or row.get("Last name"):
            full = f"{row.get('First name', '')} {row.get('Last name', '')}".strip()
            found.append((sanitize(full), sanitize(full), full))
    if not found:
        raise ValueError(
            f"{path}: no students found; the roster needs a student_id column, or Canvas's "
            "Student and ID columns, or Moodle's First name and Last name columns"
        )
    shorts = [short for short, _, _ in found]
    return {(short if shorts.count(short) == 1 else long): name for short, long, name in found}

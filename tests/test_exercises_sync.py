"""The student versions in exercises/ are what `python -m autograder.generate` makes from solutions/.

Comparing with a fresh generation also shows that the output is deterministic: the committed files
were made by an earlier run.
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import generate  # noqa: E402
from autograder.nbgrader_feedback import hidden_test_lines  # noqa: E402

SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"
NAMES = generate.assignments(SOLUTIONS)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".ipynb_checkpoints" not in path.parts
    }


# What the generation reads: the source folder, the course's nbgrader settings and this generator,
# and the nbgrader that runs it. An assignment whose inputs and committed student version hash to a
# value already seen in sync is not generated again (the output depends on nothing else); a fresh
# clone has no record, so it generates everything, as CI does.
GENERATOR = [REPO / "autograder" / name for name in ("generate.py", "nbgrader_config.py")]
RECORD = REPO / ".cache" / "exercises-in-sync.json"


def inputs_digest(name: str, solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> str:
    import nbgrader

    digest = hashlib.sha256(f"nbgrader {nbgrader.__version__}\n".encode())
    parts = [(path.parent, path) for path in GENERATOR]
    parts += [
        (folder, path)
        for folder in (solutions, exercises)
        for path in sorted((folder / name).rglob("*"))
    ]
    for base, path in parts:
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(
                f"{base.name}/{path.relative_to(base)}".encode() + b"\0" + path.read_bytes() + b"\0"
            )
    return digest.hexdigest()


def seen_in_sync() -> dict[str, str]:
    try:
        return json.loads(RECORD.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The assignments generated afresh into a temporary folder, with a throwaway gradebook; those
    whose inputs and committed version were already found in sync are copied, not generated."""
    folder = tmp_path_factory.mktemp("release")
    db_url = f"sqlite:///{folder.parent / 'gradebook.db'}"
    seen, digests, fresh = seen_in_sync(), {name: inputs_digest(name) for name in NAMES}, []
    for name in NAMES:
        if seen.get(name) == digests[name]:
            shutil.copytree(EXERCISES / name, folder / name)
        else:
            fresh.append(name)
    if fresh:  # one nbgrader process for all of them
        generate.generate(fresh, release_dir=folder, db_url=db_url)
    return folder, digests, fresh


def test_there_is_an_assignment():
    assert "01_visual_cortex" in NAMES


def test_exercises_are_in_sync_with_solutions(regenerated):
    folder, digests, fresh = regenerated
    expected, committed = files_under(folder), files_under(EXERCISES)
    assert sorted(committed) == sorted(expected), "run `python -m autograder.generate`"
    stale = [name for name in expected if committed[name] != expected[name]]
    assert not stale, (
        f"exercises differ from solutions/ in {stale}: run `python -m autograder.generate`"
    )
    if fresh:  # remember what was just found in sync
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(
            json.dumps({**seen_in_sync(), **{n: digests[n] for n in fresh}}), encoding="utf-8"
        )


def test_a_changed_source_is_generated_again(tmp_path):
    """The record of assignments found in sync is keyed by every input: one changed byte, a new key."""
    name = NAMES[0]
    for folder in ("solutions", "exercises"):
        shutil.copytree(REPO / folder / name, tmp_path / folder / name)
    copies = tmp_path / "solutions", tmp_path / "exercises"
    assert inputs_digest(name, *copies) == inputs_digest(name)
    for folder in copies:
        notebook = next((folder / name).glob("*.ipynb"))
        before = inputs_digest(name, *copies)
        notebook.write_bytes(notebook.read_bytes() + b" ")
        assert inputs_digest(name, *copies) != before


@pytest.mark.parametrize("name", NAMES)
def test_student_version_has_no_solutions_or_hidden_tests(name):
    source_path = next((SOLUTIONS / name).glob("*.ipynb"))
    source = nbformat.read(source_path, as_version=4)
    student = nbformat.read(EXERCISES / name / source_path.name, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    hidden = {
        line
        for cell in source.cells
        for line in hidden_test_lines(cell.source)
        if line.strip() and not line.strip().startswith("#")
    }
    # A line of a hidden test may also be a line of visible code (`with torch.no_grad():`): it leaks
    # only when the student version shows it and no visible part of the source does.
    visible = set()
    for cell in source.cells:
        lines, inside = cell.source.splitlines(), False
        for line in lines:
            if "BEGIN HIDDEN TESTS" in line or "BEGIN SOLUTION" in line:
                inside = True
            elif "END HIDDEN TESTS" in line or "END SOLUTION" in line:
                inside = False
            elif not inside:
                visible.add(line)
    leaked = sorted((hidden - visible) & set(text.splitlines()))
    assert not leaked, f"hidden test leaked: {leaked}"
    code = [cell for cell in student.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert code[0].source == next(c for c in source.cells if c.cell_type == "code").source

"""Grade one submission: check the file, assemble, run in the sandbox, score, write feedback.

Runs in a worker process of ``autograder.grade``. Every outcome becomes a result (a dict written
to ``OUT/results/<student>.json`` by the caller): nothing a submission does can stop the batch.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import assemble, checks, execute, feedback, sandbox
from autograder.execute import Limits

ROOT = Path(__file__).resolve().parent.parent
BASE_PACKAGES = (
    "builtins",
    "math",
    "operator",
    "functools",
    "inspect",
    "numpy",
    "IPython",
    "ipykernel",
)
BASE_PRELOAD = ("numpy", "numpy.testing")


@dataclass
class Settings:
    """What every submission of a batch is graded with (picklable, sent to the workers)."""

    assignment: str
    source: Path  # the instructor's notebook: solutions and hidden tests
    release: Path  # the student version
    limits: Limits
    mode: str  # namespaces or limits (see autograder.sandbox)
    work: Path  # the batch's private work folder
    output: Path
    hidden: list[str] = field(default_factory=list)
    readonly: list[str] = field(default_factory=list)
    max_notebook_bytes: int = 50 << 20


def secret_places(settings_paths: list[Path]) -> list[str]:
    """Folders covered in the sandbox: the course repository, the batch's folders, home folders."""
    places = [str(ROOT), *sandbox.standard_hidden()]
    for path in settings_paths:
        places += [str(path), os.path.realpath(path)]
    return sorted(set(places))


def visible_places() -> list[str]:
    """Put back read-only: Python, the course package, the data caches."""
    places = [*sandbox.python_paths(), str(ROOT / "cnnkit")]
    for key in (
        "KERAS_HOME",
        "TFDS_DATA_DIR",
        "TORCH_HOME",
        "CNNKIT_DATA_DIR",
        "CNNKIT_SHARED_DATA",
    ):
        value = os.environ.get(key)
        if value and os.path.isdir(value):
            places += [value, os.path.realpath(value)]
    return sorted(set(places))


def trusted_roots() -> list[str]:
    roots = [*sandbox.python_paths(), str(ROOT / "cnnkit"), "<frozen "]
    return sorted(set(roots))


def test_imports(source_nb) -> list[str]:
    """Modules imported by the test cells (the hidden tests too): the references to protect."""
    names = []
    for cell in source_nb.cells:
        meta = assemble.nbgrader_meta(cell)
        if cell.cell_type != "code" or not (meta.get("grade") and not meta.get("solution")):
            continue
        try:
            tree = ast.parse(assemble.to_python(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    return sorted(set(names))


def grade(job: dict, settings: Settings) -> dict:
    """The result of one submission (never raises)."""
    start = time.monotonic()
    result = {
        "student_id": job["student_id"],
        "source_file": job["source_file"],
        "status": "",
        "scores": {},
        "needs_manual_grading": [],
        "notes": [],
        "feedback": None,
        "retry": False,
    }
    try:
        _grade(job, settings, result)
    except Exception as error:  # noqa: BLE001 - never lose a row
        result.update(
            status=f"could not be graded: grader error ({type(error).__name__}: {str(error)[:200]})",
            scores={},
            needs_manual_grading=[],
            retry=True,
        )
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def _grade(job: dict, settings: Settings, result: dict) -> None:
    source_nb = nbformat.read(settings.source, as_version=4)
    release_nb = nbformat.read(settings.release, as_version=4)
    autograded, manual = checks.grade_cells(settings.source)
    problem = job.get("problem") or ""
    if not problem:
        problem, _ = checks.check_notebook(
            Path(job["notebook"]),
            settings.assignment,
            list(autograded) + manual,
            settings.max_notebook_bytes,
        )
    if problem:
        result["status"] = f"could not be graded: {problem}"
        return
    student_nb = nbformat.read(job["notebook"], as_version=4)
    checker = assemble.checker_name()
    built = assemble.assemble(student_nb, source_nb, release_nb, checker)
    labels = _labels(built)
    student_code = [
        (labels[i], cell.run)
        for i, cell in enumerate(built.cells)
        if cell.kind in ("student", "answer", "manual") and cell.run and not cell.from_release
    ]
    result["notes"] += checks.screen(student_code)
    imports = test_imports(source_nb)
    packages = sorted({*BASE_PACKAGES, *(name.split(".")[0] for name in imports)})
    work = settings.work / "jobs" / str(job["index"])
    run = asyncio.run(
        execute.execute(
            built,
            checker=checker,
            job_dir=work,
            run_dir=settings.work / "run" / str(job["index"]),
            limits=settings.limits,
            mode=settings.mode,
            hidden=settings.hidden,
            readonly=settings.readonly,
            packages=packages,
            preload=sorted({*BASE_PRELOAD, *imports}),
            trusted_roots=trusted_roots(),
        )
    )
    _save_log(work, settings.output / "logs" / f"{job['student_id']}.log", run)
    if run.internal_error:
        result["status"] = f"could not be graded: grader error ({run.internal_error})"
        result["retry"] = True
        return
    verdicts = score(built, run, settings.limits)
    result["scores"] = {cell.grade_id: v.points for cell, v in verdicts if cell.grade_id}
    result["needs_manual_grading"] = [
        gid for gid in manual if gid in built.changed_answers or _is_task(source_nb, gid)
    ]
    events = summarize(built, run, verdicts, labels, settings.limits)
    if run.stopped:
        result["status"] = (
            f"partly graded: {run.stopped} in {labels[run.stopped_at]}; the cells from there on score 0"
        )
        if events:
            result["status"] += "; " + "; ".join(events)
    else:
        result["status"] = "; ".join(["graded", *events])
    if run.isolation.get("mode") != "namespaces":
        result["notes"].append("graded without isolation (see the grader's first line)")
    html = feedback.page(
        student=job["student_id"],
        assignment=settings.assignment,
        built=built,
        run=run,
        verdicts=dict((id(c), v) for c, v in verdicts),
        labels=labels,
        events=events,
        status=result["status"],
        total=sum(result["scores"].values()),
        maximum=sum(autograded.values()),
    )
    target = settings.output / "feedback" / f"{job['student_id']}.html"
    _write_atomic(target, html)
    result["feedback"] = str(target.relative_to(settings.output))
    graded = graded_notebook(built, run, verdicts, source_nb)
    _write_atomic(
        settings.output / "notebooks" / f"{job['student_id']}.ipynb", nbformat.writes(graded)
    )


def _is_task(source_nb, grade_id: str) -> bool:
    return any(
        assemble.nbgrader_meta(c).get("grade_id") == grade_id
        and assemble.nbgrader_meta(c).get("task")
        for c in source_nb.cells
    )


def _labels(built) -> list[str]:
    """A name for each cell that a student can find in their notebook."""
    labels, number = [], 0
    for cell in built.cells:
        number += 1
        if cell.kind == "test":
            labels.append(f"test cell {cell.grade_id}")
        elif cell.grade_id:
            labels.append(f"answer cell {cell.grade_id}")
        else:
            labels.append(f"cell {number}")
    return labels


@dataclass
class Verdict:
    points: float
    max_points: float
    outcome: str  # passed, failed, partial, not run
    why: str = ""  # plain words for the feedback


def score(built, run, limits: Limits) -> list[tuple]:
    """(cell, Verdict) for every test cell, in order."""
    verdicts = []
    for index, cell in enumerate(built.cells):
        if cell.kind != "test":
            continue
        verdicts.append((cell, _verdict(cell, run.runs.get(index), index, run, limits)))
    return verdicts


def _verdict(cell, cell_run, index, run, limits) -> Verdict:
    maximum = cell.points
    if cell_run is None or not cell.run:
        if run.stopped_at is not None and index >= run.stopped_at:
            return Verdict(0, maximum, "not run", "it did not run: the kernel had stopped")
        return Verdict(0, maximum, "not run", "it did not run")
    if cell_run.status == "interrupted":
        return Verdict(
            0,
            maximum,
            "failed",
            f"it ran past the {limits.cell_timeout:g} s limit and was interrupted",
        )
    after, before = cell_run.guard_after, cell_run.guard_before
    if before is None or after is None or before.get("error") or after.get("error"):
        return Verdict(
            0, maximum, "failed", "the grader's safety checks around this test could not run"
        )
    if after.get("rejected"):
        return Verdict(0, maximum, "failed", f"an answer was rejected: {after['rejected'][0]}")
    if cell_run.status != "ok":
        return Verdict(0, maximum, "failed", _error_words(cell, cell_run))
    if any(o.get("output_type") == "error" for o in cell_run.outputs):
        return Verdict(0, maximum, "failed", _error_words(cell, cell_run))
    if cell.token and not after.get("ran_to_end"):
        return Verdict(0, maximum, "failed", "the test did not run to its end")
    if after.get("changed"):
        return Verdict(
            0,
            maximum,
            "failed",
            "the notebook changed libraries while the test ran: " + ", ".join(after["changed"][:3]),
        )
    partial = _partial(cell_run.result_text, maximum)
    if partial is not None and partial < maximum:
        return Verdict(partial, maximum, "partial", "partial credit")
    return Verdict(maximum, maximum, "passed")


def _partial(text: str | None, maximum: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if value != value:  # NaN
        return 0.0
    return max(0.0, min(value, maximum))


BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
} | {"UntrustedAnswer"}


def error_name(name: str) -> str:
    """The error's name if it is one of Python's (the kernel could send anything)."""
    return name if name in BUILTIN_ERRORS else "an error"


def _error_words(cell, cell_run) -> str:
    name = error_name(cell_run.ename)
    message = cell_run.evalue.strip()
    if message and message in cell.literals:  # the instructor's own words in the visible test
        return f"{name}: {message}"
    if cell.hidden:
        return f"{name} (the hidden tests are not shown)"
    return name


def summarize(built, run, verdicts, labels, limits) -> list[str]:
    """What happened besides plain passing and failing, for the status column (deterministic)."""
    events = list(built.repairs)
    changed, during, rejected, interrupted = set(), [], [], []
    for index, cell_run in sorted(run.runs.items()):
        if cell_run.status == "interrupted":
            interrupted.append(labels[index])
        before = cell_run.guard_before or {}
        changed.update(before.get("changed") or [])
        after = cell_run.guard_after or {}
        if after.get("changed"):
            during.append(labels[index])
        if after.get("rejected"):
            rejected.append(labels[index])
    if interrupted:
        events.append(
            f"interrupted after {limits.cell_timeout:g} s (time limit): {', '.join(interrupted)}"
        )
    if changed:
        shown = sorted(changed)
        more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
        events.append(f"library changes undone before the tests: {', '.join(shown[:6])}{more}")
    if during:
        events.append(f"libraries changed during the test, test not counted: {', '.join(during)}")
    if rejected:
        events.append(
            "answers rejected (they define their own comparisons): " + ", ".join(rejected)
        )
    unsafe = [cell.grade_id for cell, v in verdicts if "safety checks" in v.why]
    if unsafe:
        events.append(f"the grader's checks were disabled by the notebook: {', '.join(unsafe)}")
    if run.truncated:
        events.append(f"output cut at {limits.output_keep_bytes / 2**20:g} MB")
    return events


def graded_notebook(built, run, verdicts, source_nb):
    """The notebook as it ran, with capped outputs and the scores: for the instructor only."""
    by_cell = {id(c): v for c, v in verdicts}
    cells = []
    for index, cell in enumerate(built.cells):
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(
                cell.run if cell.kind != "test" else _full_test(cell, source_nb)
            )
            cell_run = run.runs.get(index)
            if cell_run is not None:
                new.outputs = [nbformat.from_dict(_clean_output(o)) for o in cell_run.outputs]
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if cell.grade_id:
            meta = {"grade_id": cell.grade_id, "points": cell.points, "kind": cell.kind}
            verdict = by_cell.get(id(cell))
            if verdict is not None:
                meta.update(score=verdict.points, outcome=verdict.outcome, why=verdict.why)
            new.metadata["autograder"] = meta
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = source_nb.metadata.get("kernelspec", {})
    return nb


def _full_test(cell, source_nb) -> str:
    for original in source_nb.cells:
        if assemble.nbgrader_meta(original).get("grade_id") == cell.grade_id:
            return original.source
    return cell.source


def _clean_output(output: dict) -> dict:
    output = {k: v for k, v in output.items() if not k.startswith("_")}
    if output["output_type"] == "stream":
        output["text"] = output.get("text", "")
    return output


def _save_log(work: Path, target: Path, run) -> None:
    parts = []
    for name in ("launcher.log", "kernel.log"):
        path = work / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[-200_000:]
            parts.append(f"--- {name} ---\n{text}")
    parts.append(f"--- sandbox ---\n{json.dumps(run.isolation, indent=1)}")
    if run.stopped:
        parts.append(f"--- stopped ---\n{run.stopped}")
    _write_atomic(target, "\n".join(parts) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)

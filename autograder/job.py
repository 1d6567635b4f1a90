"""One submission, start to end: the five stages on one notebook (``grade_one``).

``autograder.grade`` drives the batch (workers, ``--resume``, ``--shard``) and calls ``grade_one``
in a worker process for each submission: intake, the plan, the kernel and the judge (``execute``),
the events and verdicts, the feedback page and the graded notebook. ``fingerprint`` says whether an
earlier result can be kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import assemble, events, intake, notes, report, variants
from autograder.assignment import ROOT, Assignment
from autograder.judge import JudgeFailed, JudgeProcess
from autograder.run import Box, CellRun, Isolation, Kernel, Limits, Stop, stop_reason

OUTPUT_FOLDERS = ("results", "feedback", "logs", "notebooks")


@dataclass(frozen=True)
class Settings:
    """What every submission of a batch is graded with (sent to the worker processes)."""

    assignment: Assignment
    limits: Limits
    isolation: Isolation
    work: Path  # the batch's private work folder
    output: Path
    max_notebook_bytes: int = 50 << 20


def grader_version() -> str:
    """A hash of the grader's code: results of another version are not reused by --resume."""
    digest = hashlib.sha256()
    for path in sorted(
        [*(ROOT / "autograder").glob("*.py"), *(ROOT / "cnnkit" / "grading").glob("*.py")]
    ):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(job: dict, settings: Settings, version: str) -> str:
    digest = hashlib.sha256()
    parts = [
        version,
        job["student_id"],
        job["source_file"],
        job.get("problem") or "",
        json.dumps(job.get("variant"), sort_keys=True),
        settings.assignment.digest,
        repr(settings.limits),
        settings.isolation.mode,
        str(settings.max_notebook_bytes),
    ]
    for part in parts:
        digest.update(str(part).encode() + b"\0")
    if job.get("notebook"):
        try:
            digest.update(Path(job["notebook"]).read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


# --- one submission -------------------------------------------------------------------------------


@dataclass
class Execution:
    runs: dict[int, CellRun]
    stopped_at: int | None = None
    stop_why: str = ""
    truncated: bool = False
    isolation: dict | None = None
    timeline: list[str] | None = None  # seconds since the start, for the log


def execute(
    plan: assemble.Plan,
    settings: Settings,
    job_dir: Path,
    result: events.Result,
    variant_code: str = "",
) -> Execution:
    """Stages 3 and 4: the kernel runs the student's cells, the judge the tests, in plan order.

    ``variant_code``: the student's own numbers (``autograder.variants``), run first in the judge,
    so that the tests use the judge's copy of them, never the kernel's."""
    limits, assignment = settings.limits, settings.assignment
    kernel = Kernel(Box(job_dir, job_dir / "k", limits, settings.isolation), limits)
    judge = JudgeProcess(Box(job_dir, job_dir / "j", limits, settings.isolation), limits)
    execution = Execution(runs={}, timeline=[])
    start = time.monotonic()
    deadline = start + limits.timeout

    def mark(what: str) -> None:
        execution.timeline.append(f"{time.monotonic() - start:7.2f} s  {what}")

    current = None
    try:
        kernel.start()
        judge.start()
        setup = assignment.judge_setup(plan.kernel_code())
        if (
            variant_code
        ):  # issue 25: the judge knows the student's variant (a judge cell of its own)
            setup["helpers"].insert(0, {"label": "variant", "code": variant_code})
        judge.connect(setup, deadline)
        mark("judge started (it runs its helpers and checks the source meanwhile)")
        try:
            kernel.wait_ready(deadline)
        except Stop as stop:
            raise JudgeFailed(str(stop) or "the kernel did not start") from None
        mark("kernel ready")
        for index, cell in enumerate(plan.cells):
            current = index
            if cell.where == "kernel" and cell.source.strip():
                execution.runs[index] = kernel.execute(cell.source, deadline)
                mark(f"{cell.label}: {execution.runs[index].status}")
            elif cell.where == "judge":
                run = execution.runs[index] = CellRun(status="ok")
                outcome = judge.run_test(
                    assignment.test_message(cell.grade_id), kernel, deadline, run
                )
                result.verdicts[cell.grade_id] = events.Verdict(
                    cell.grade_id,
                    float(outcome["score"]),
                    cell.points,
                    outcome["outcome"],
                    outcome["reason"],
                )
                mark(f"{cell.label}: {outcome['outcome']}")
                if judge.kernel_stopped:
                    raise Stop("")
        current = None
    except Stop:
        pass
    finally:
        execution.truncated = kernel.truncated
        execution.isolation = kernel.box.report("kernel")
        with contextlib.suppress(Exception):  # where a submission's grading time went, for the log
            mark(
                f"CPU seconds: kernel {kernel.box.cpu_seconds():.1f}, judge {judge.box.cpu_seconds():.1f}"
            )
        kernel.close()
        judge.close()
        result.notes += [note for note in judge.notes if note not in result.notes]  # reach analysis
        code, reason = kernel.box.exit_code(), kernel.box.reason
        kernel.box.close()
        if current is not None:
            execution.stopped_at = current
            execution.stop_why = stop_reason(reason, code, limits)
    return execution


def grade_one(job: dict, settings: Settings) -> events.Result:
    """The result of one submission (never raises)."""
    start = time.monotonic()
    result = events.Result(
        job["student_id"], job["source_file"], fingerprint=job.get("fingerprint", "")
    )
    try:
        _grade(job, settings, result)
    except Exception as error:  # noqa: BLE001 - the grader's own failure: say so, never lose a row
        why = f"grader error ({type(error).__name__}: {str(error)[:200]})"
        result.events, result.verdicts = [events.CouldNotGrade(why, retry=True)], {}
    result.seconds = round(time.monotonic() - start, 1)
    return result


def _grade(job: dict, settings: Settings, result: events.Result) -> None:
    assignment, limits = settings.assignment, settings.limits
    problem = job.get("problem") or ""
    notebook = None
    if not problem:
        notebook, problem = intake.read(
            Path(job["notebook"]), assignment, settings.max_notebook_bytes
        )
    if problem:
        result.events.append(events.CouldNotGrade(problem))
        return
    plan = assemble.plan(notebook, assignment)
    result.events += plan.events
    result.notes = notes.screen(plan.students_own_code())
    variant = job.get("variant") or {}
    for cell in plan.cells:  # the kernel too gets the student's own numbers, not what they typed
        if cell.grade_id == variants.SETUP_ID and variant.get("setup"):
            cell.source = variant["setup"]
    if variant.get("note"):
        result.notes.append(variant["note"])
    owner = variants.released_to(notebook)
    if variant.get("id") not in (None, variants.DEFAULT) and owner and owner != result.student_id:
        result.notes.append(f"this notebook was released to {owner}")  # a lead, not a score
    job_dir = settings.work / "jobs" / str(job["index"])
    try:
        execution = execute(plan, settings, job_dir, result, variant.get("setup", ""))
    except JudgeFailed as error:
        result.events, result.verdicts = (
            [events.CouldNotGrade(f"grader error ({error})", retry=True)],
            {},
        )
        _save_log(job_dir, settings.output / "logs" / f"{result.student_id}.log", [])
        return
    for cell in plan.cells:  # the tests the notebook never reached
        if cell.kind == "test" and cell.grade_id not in result.verdicts:
            result.verdicts[cell.grade_id] = events.Verdict(
                cell.grade_id, 0.0, cell.points, "not run", {"kind": "stopped"}
            )
    interrupted = [
        plan.cells[i].label
        for i, run in sorted(execution.runs.items())
        if run.status == "interrupted"
    ]
    if interrupted:
        result.events.append(events.Interrupted(tuple(interrupted), limits.cell_timeout))
    if execution.truncated:
        result.events.append(events.OutputCut(limits.output_keep_bytes / 2**20))
    if execution.stopped_at is not None:
        result.events.insert(
            0, events.KernelStopped(plan.cells[execution.stopped_at].label, execution.stop_why)
        )
    if (execution.isolation or {}).get("mode") != "namespaces":
        result.notes.append("graded without isolation (see the grader's first line)")
    result.needs_manual_grading = [
        c.grade_id for c in plan.cells if c.kind == "manual" and c.answered
    ]
    _save_log(job_dir, settings.output / "logs" / f"{result.student_id}.log", execution.timeline)
    feedback = settings.output / "feedback" / f"{result.student_id}.html"
    report.write_atomic(feedback, report.page(result, plan, assignment))
    result.feedback = str(feedback.relative_to(settings.output))
    graded = report.graded_notebook(plan, execution.runs, result, assignment)
    report.write_atomic(
        settings.output / "notebooks" / f"{result.student_id}.ipynb", nbformat.writes(graded)
    )


def _save_log(job_dir: Path, target: Path, timeline: list[str]) -> None:
    parts = ["--- timeline ---\n" + "\n".join(timeline)] if timeline else []
    for name in ("kernel-launcher.log", "kernel.log", "judge-launcher.log", "judge.log"):
        path = job_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[-200_000:]
            parts.append(f"--- {name} ---\n{text}")
    report.write_atomic(target, "\n".join(parts) + "\n")

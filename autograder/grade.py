"""Grade a batch of submissions of one assignment, as downloaded from the LMS.

    python -m autograder.grade SUBMISSIONS_DIR --assignment 01_visual_cortex --output OUT_DIR
        [--workers N] [--resume] [--timeout S] [--cell-timeout S] [--memory GB] ...

Each submission is graded on its own, in parallel across the cores: its notebook is rebuilt around
the instructor's test cells (``autograder.assemble``) and run in a fresh kernel in a sandbox
(``autograder.sandbox``: its own process tree and folders, no network, time, memory, process and
output limits, no view of the solutions, the other submissions or the results), with the tests
guarded against tampering (``autograder.guard``). Nothing a submission does can stop the batch or
change another student's grade.

Output:

- ``OUT_DIR/grades.csv``: one row per student, columns ``student_id, source_file, status,
  total_autograded, max_autograded``, one per autograded cell (notebook order),
  ``needs_manual_grading``, ``notes``. ``status`` is ``graded`` (possibly followed by what happened,
  e.g. repaired test cells), ``partly graded: <why>`` (the kernel stopped: the cells from there on
  score 0) or ``could not be graded: <why>`` (0 everywhere). ``notes`` lists code a person may want
  to look at; it never changes a score.
- ``OUT_DIR/feedback/<student>.html``: for the student (no hidden tests, no outputs).
- ``OUT_DIR/notebooks/<student>.ipynb``: the notebook as graded, with outputs (for the instructor).
- ``OUT_DIR/results/<student>.json``, ``OUT_DIR/logs/<student>.log``: the record and the kernel's log.

``--resume`` keeps the results of an earlier (interrupted) run of the same batch whose submission,
assignment, limits and grader are unchanged, and grades the rest. ``--shard K/N`` grades every N-th
submission only (for N machines sharing OUT_DIR); a final ``--resume`` run writes the CSV.
The exit code is 0 when the batch ran, whatever the submissions were; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from autograder import checks, runner, sandbox
from autograder.execute import Limits
from autograder.generate import ROOT, SOURCE, assignments
from autograder.submissions import find_submissions

FIXED_COLUMNS = ["student_id", "source_file", "status", "total_autograded", "max_autograded"]
TRAILING_COLUMNS = ["needs_manual_grading", "notes"]
RELEASE = ROOT / "exercises"
OUTPUT_FOLDERS = ("results", "feedback", "logs", "notebooks")


def grader_version() -> str:
    """A hash of the grader's code: results of another version are not reused by --resume."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "autograder").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(job: dict, settings: runner.Settings, version: str) -> str:
    digest = hashlib.sha256()
    for part in (
        version,
        job["student_id"],
        job["source_file"],
        job.get("problem") or "",
        settings.source.read_bytes(),
        settings.release.read_bytes(),
        repr(settings.limits),
        settings.mode,
        str(settings.max_notebook_bytes),
    ):
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\0")
    if job.get("notebook"):
        try:
            digest.update(Path(job["notebook"]).read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def work(job: dict, settings: runner.Settings) -> str:
    """In a worker process: grade one submission, write its result atomically; return its path."""
    warnings.simplefilter("ignore")  # nbformat's notes on odd notebooks: the status says enough
    result = runner.grade(job, settings)
    result["fingerprint"] = job["fingerprint"]
    path = settings.output / "results" / f"{job['student_id']}.json"
    runner._write_atomic(path, json.dumps(result, indent=1, sort_keys=True))
    return str(path)


def failed_result(job: dict, why: str) -> dict:
    return {
        "student_id": job["student_id"],
        "source_file": job["source_file"],
        "status": f"could not be graded: grader error ({why})",
        "scores": {},
        "needs_manual_grading": [],
        "notes": [],
        "feedback": None,
        "retry": True,
        "fingerprint": job["fingerprint"],
    }


def run_jobs(jobs: list[dict], settings: runner.Settings, workers: int) -> None:
    """Grade ``jobs`` on ``workers`` processes; a crashed worker costs a retry, never a row."""
    pending = list(jobs)
    for attempt in range(2):
        if not pending:
            return
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(pending))), mp_context=context
        ) as pool:
            futures = {pool.submit(work, job, settings): job for job in pending}
            failed = []
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                try:
                    future.result()
                    print(f"  graded {job['student_id']}", flush=True)
                except Exception as error:  # noqa: BLE001 - a worker died: retry, then report
                    failed.append((job, f"{type(error).__name__}: {error}"[:200]))
        pending = [job for job, _ in failed]
        if attempt == 1:
            for job, why in failed:
                result = failed_result(job, why)
                path = settings.output / "results" / f"{job['student_id']}.json"
                runner._write_atomic(path, json.dumps(result, indent=1, sort_keys=True))


def csv_text(results: list[dict], autograded: dict[str, float]) -> str:
    """One row per student, sorted by id; a column per autograded cell, in notebook order."""
    columns = FIXED_COLUMNS + list(autograded) + TRAILING_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for result in sorted(results, key=lambda r: r["student_id"]):
        scores = {gid: float(result["scores"].get(gid) or 0) for gid in autograded}
        writer.writerow(
            {
                "student_id": result["student_id"],
                "source_file": result["source_file"],
                "status": result["status"],
                "total_autograded": f"{sum(scores.values()):g}",
                "max_autograded": f"{sum(autograded.values()):g}",
                **{gid: f"{score:g}" for gid, score in scores.items()},
                "needs_manual_grading": ";".join(result["needs_manual_grading"]),
                "notes": "; ".join(result.get("notes") or []),
            }
        )
    return buffer.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.grade", description=__doc__.splitlines()[0]
    )
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    parser.add_argument(
        "--assignment", required=True, help="a folder of solutions/, e.g. 01_visual_cortex"
    )
    parser.add_argument("--output", required=True, type=Path, metavar="OUT_DIR")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="default: number of cores"
    )
    parser.add_argument("--resume", action="store_true", help="keep unchanged earlier results")
    parser.add_argument("--shard", default=None, metavar="K/N", help="grade every N-th submission")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per submission (default 1800)"
    )
    parser.add_argument(
        "--cell-timeout", type=float, default=120, help="seconds per cell (default 120)"
    )
    parser.add_argument(
        "--memory", type=float, default=4, help="GB of memory per submission (default 4)"
    )
    parser.add_argument(
        "--max-processes", type=int, default=64, help="processes per submission (default 64)"
    )
    parser.add_argument(
        "--max-notebook-mb", type=float, default=50, help="largest file accepted (default 50 MB)"
    )
    parser.add_argument(
        "--max-output-mb", type=float, default=2, help="outputs kept per notebook (default 2 MB)"
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"SUBMISSIONS_DIR {args.submissions} is not a folder")
    if args.assignment not in assignments():
        parser.error(f"--assignment: no such assignment in solutions/: {args.assignment!r}")
    if len(list((SOURCE / args.assignment).glob("*.ipynb"))) != 1:
        parser.error(f"--assignment: solutions/{args.assignment} must hold exactly one notebook")
    release = RELEASE / args.assignment / next((SOURCE / args.assignment).glob("*.ipynb")).name
    if not release.is_file():
        parser.error(f"no student version {release}: run python -m autograder.generate first")
    if args.workers < 1 or args.timeout <= 0 or args.cell_timeout <= 0 or args.memory <= 0:
        parser.error("--workers, --timeout, --cell-timeout and --memory must be positive")
    if args.output.resolve().is_relative_to(args.submissions.resolve()):
        parser.error("OUT_DIR must not be inside SUBMISSIONS_DIR")
    if args.shard:
        try:
            k, n = (int(x) for x in args.shard.split("/"))
            assert 1 <= k <= n
        except (ValueError, AssertionError):
            parser.error("--shard must look like 2/5 (this is machine 2 of 5)")
        args.shard = (k, n)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    source = next((SOURCE / args.assignment).glob("*.ipynb"))
    release = RELEASE / args.assignment / source.name
    autograded, _ = checks.grade_cells(source)
    output = args.output.resolve()
    for name in OUTPUT_FOLDERS:  # this command's own output: start afresh unless resuming
        if not (args.resume or args.shard):
            shutil.rmtree(output / name, ignore_errors=True)
        (output / name).mkdir(parents=True, exist_ok=True)
    submissions = find_submissions(args.submissions, args.assignment)
    limits = Limits(
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        memory_bytes=int(args.memory * 2**30),
        max_processes=args.max_processes,
        output_keep_bytes=int(args.max_output_mb * 2**20),
    )
    work_root = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        if os.environ.get("AUTOGRADER_ISOLATION") == "limits":  # to try the fallback on purpose
            isolation = {"mode": "limits", "why": "AUTOGRADER_ISOLATION=limits"}
        else:
            isolation = sandbox.probe(work_root)
        if isolation["mode"] == "namespaces":
            print("isolation: each notebook runs in its own namespaces (files, processes, network)")
        else:
            print(
                "WARNING: isolation: limits only. This system does not allow the namespace "
                f"sandbox ({isolation.get('why', '')[:160]}); a notebook could read files this "
                "user can read and use the network. See the README (instructors' section)."
            )
        settings = runner.Settings(
            assignment=args.assignment,
            source=source,
            release=release,
            limits=limits,
            mode=isolation["mode"],
            work=work_root,
            output=output,
            max_notebook_bytes=int(args.max_notebook_mb * 2**20),
        )
        settings.hidden = runner.secret_places(
            [work_root, args.submissions.resolve(), output, Path(tempfile.gettempdir())]
        )
        settings.readonly = runner.visible_places()
        version = grader_version()
        jobs, kept = [], 0
        for index, submission in enumerate(submissions):
            job = {
                "index": index,
                "student_id": submission.student_id,
                "source_file": submission.source_file,
                "notebook": str(submission.notebook) if submission.notebook else None,
                "problem": submission.problem,
            }
            job["fingerprint"] = fingerprint(job, settings, version)
            if args.shard and index % args.shard[1] != args.shard[0] - 1:
                continue
            if (args.resume or args.shard) and reusable(output, job):
                kept += 1
                continue
            jobs.append(job)
        print(
            f"{len(jobs)} to grade with {args.workers} workers ({limits.describe()})"
            + (f"; {kept} kept from an earlier run" if kept else ""),
            flush=True,
        )
        try:
            run_jobs(jobs, settings, args.workers)
        except KeyboardInterrupt:
            print("interrupted: run the same command with --resume to finish", file=sys.stderr)
            return 130
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; write the CSV with --resume")
        return 0
    results = [load(output, s.student_id, s.source_file) for s in submissions]
    runner._write_atomic(output / "grades.csv", csv_text(results, autograded))
    graded = sum(r["status"].startswith("graded") for r in results)
    print(
        f"{len(results)} submissions, {graded} graded, {len(results) - graded} partly or not "
        f"graded ({time.monotonic() - start:.0f} s); see {output / 'grades.csv'}"
    )
    for result in results:
        if result["status"] != "graded":
            print(f"  {result['student_id']}: {result['status']}")
    return 0


def reusable(output: Path, job: dict) -> bool:
    try:
        result = json.loads((output / "results" / f"{job['student_id']}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if result.get("fingerprint") != job["fingerprint"] or result.get("retry"):
        return False
    return not result.get("feedback") or (output / result["feedback"]).is_file()


def load(output: Path, student_id: str, source_file: str) -> dict:
    try:
        return json.loads((output / "results" / f"{student_id}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {
            "student_id": student_id,
            "source_file": source_file,
            "status": "could not be graded: grader error (no result was written)",
            "scores": {},
            "needs_manual_grading": [],
            "notes": [],
        }


if __name__ == "__main__":
    sys.exit(main())

"""Grade a batch of submissions of one assignment, as downloaded from the LMS.

    python -m autograder.grade SUBMISSIONS_DIR --assignment 01_visual_cortex --output OUT_DIR
        [--workers N] [--resume] [--shard K/N] [--timeout S] [--cell-timeout S] [--memory GB] ...

Each submission goes through five stages, one module each, in the order its data flows:
``intake`` (find and read the file) → ``assemble`` (the cells to run, the instructor's tests put
back) → ``run`` (the student's cells in a sandboxed kernel) → ``judge`` (the test cells in a
separate sandboxed process that reaches the kernel only through plain data) → ``report`` (CSV row,
feedback page, graded notebook). The assignment is parsed once (``autograder.assignment``) and every
stage reads that value; what happens is recorded as typed events (``autograder.events``).

Output: ``OUT_DIR/grades.csv`` (one row per student: ``student_id, source_file, status,
total_autograded, max_autograded``, one column per autograded cell, ``needs_manual_grading,
notes, variant``), ``feedback/<student>.html`` (for the student), ``notebooks/<student>.ipynb`` (as graded, for
the instructor), ``results/`` and ``logs/``, ``skipped.csv`` (files of other assignments), and
``similarity.html``/``.csv`` (pairs of students whose answers are alike: ``autograder.similarity``).
``--roster`` (the one the assignment was released with, and the course secret) grades each student
on their own variant (``autograder.variants``; the CSV's last column, ``variant``, names it).
``--resume`` keeps unchanged earlier results; ``--shard K/N`` grades every N-th submission only (for
N machines sharing OUT_DIR; a final ``--resume`` run writes the CSV). The exit code is 0 when the
batch ran, whatever the submissions were; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import dataclasses
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

import nbformat

from autograder import cpushare, evaldata, events, intake, report, sandbox, similarity, variants
from autograder.assignment import ROOT, Assignment, assignments
from autograder.job import (  # noqa: F401 - grade_one, execute: used by tests and benchmarks
    OUTPUT_FOLDERS,
    Settings,
    execute,
    fingerprint,
    grade_one,
    grader_version,
)
from autograder.run import Isolation, Limits

# --- the batch ------------------------------------------------------------------------------------


def work(job: dict, settings: Settings) -> str:
    """In a worker process: grade one submission, write its result atomically; return its path."""
    warnings.simplefilter("ignore")  # nbformat's notes on odd notebooks: the status says enough
    result = grade_one(job, settings)
    path = settings.output / "results" / f"{job['student_id']}.json"
    report.write_atomic(path, json.dumps(result.to_data(), indent=1, sort_keys=True))
    return str(path)


def run_jobs(jobs: list[dict], settings: Settings, workers: int) -> None:
    """Grade ``jobs`` on ``workers`` processes; a crashed worker costs a retry, never a row."""
    pending = list(jobs)
    for attempt in range(2):
        if not pending:
            return
        context = multiprocessing.get_context("fork")
        failed = []
        with concurrent.futures.ProcessPoolExecutor(
            max(1, min(workers, len(pending))), mp_context=context
        ) as pool:
            futures = {pool.submit(work, job, settings): job for job in pending}
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
                result = events.Result(
                    job["student_id"], job["source_file"], fingerprint=job["fingerprint"]
                )
                result.events = [events.CouldNotGrade(f"grader error ({why})", retry=True)]
                path = settings.output / "results" / f"{job['student_id']}.json"
                report.write_atomic(path, json.dumps(result.to_data(), indent=1, sort_keys=True))


def reusable(output: Path, job: dict) -> bool:
    result = load(output, job["student_id"], job["source_file"])
    if result.fingerprint != job["fingerprint"] or result.retry:
        return False
    return not result.feedback or (output / result.feedback).is_file()


def load(output: Path, student_id: str, source_file: str) -> events.Result:
    try:
        data = json.loads((output / "results" / f"{student_id}.json").read_text("utf-8"))
        return events.Result.from_data(data)
    except (OSError, ValueError, TypeError, KeyError):
        result = events.Result(student_id, source_file)
        result.events = [events.CouldNotGrade("grader error (no result was written)", retry=True)]
        return result


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
        "--memory", type=float, default=4, help="GB of memory per process (default 4)"
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
    parser.add_argument(
        "--roster",
        type=Path,
        help="the roster the assignment was released with: grade each student on their variant",
    )
    similarity.add_threshold_options(parser)
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"SUBMISSIONS_DIR {args.submissions} is not a folder")
    if args.assignment not in assignments():
        parser.error(f"--assignment: no such assignment in solutions/: {args.assignment!r}")
    try:
        args.loaded = Assignment.load(args.assignment)
    except ValueError as error:
        parser.error(f"--assignment: {error}")
    args.secret, args.roster_ids = b"", None
    if args.roster:
        try:
            args.secret = variants.course_secret()
            args.roster_ids = set(variants.read_roster(args.roster))
        except (variants.SecretMissing, OSError, ValueError) as error:
            parser.error(f"--roster: {error}")
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


def isolation_for(work_root: Path, hidden_extra: list[Path]) -> Isolation:
    """Probe the sandbox once; say on the first line of output which isolation the batch gets."""
    if os.environ.get("AUTOGRADER_ISOLATION") == "limits":  # to try the fallback on purpose
        probe = {"mode": "limits", "why": "AUTOGRADER_ISOLATION=limits"}
    else:
        probe = sandbox.probe(work_root)
    if probe["mode"] == "namespaces":
        print(
            "isolation: each notebook and its judge run in their own namespaces (files, processes, network)"
        )
    else:
        print(
            "WARNING: isolation: limits only. This system does not allow the namespace sandbox "
            f"({probe.get('why', '')[:160]}); a notebook could read files this user can read and "
            "use the network. See the README (instructors' section)."
        )
    hidden = {str(ROOT), *sandbox.standard_hidden()}
    for path in hidden_extra:
        hidden |= {str(path), os.path.realpath(path)}
    readonly = {*sandbox.python_paths(), str(ROOT / "cnnkit"), *evaldata.data_roots()}
    isolation = Isolation(probe["mode"], tuple(sorted(hidden)), tuple(sorted(readonly)))
    if probe["mode"] != "namespaces":
        return isolation  # nothing can be covered: the evaluation data stays readable
    data = evaldata.prepare(work_root)
    for note in data.notes:
        print(f"WARNING: evaluation data: {note}")
    return dataclasses.replace(isolation, binds=tuple(data.binds), judge_data=data.judge_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    assignment: Assignment = args.loaded
    output = args.output.resolve()
    for name in OUTPUT_FOLDERS:  # this command's own output: start afresh unless resuming
        if not (args.resume or args.shard):
            shutil.rmtree(output / name, ignore_errors=True)
        (output / name).mkdir(parents=True, exist_ok=True)
    submissions, skipped = intake.collect(args.submissions, assignment)
    limits = Limits(
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        memory_bytes=int(args.memory * 2**30),
        max_processes=args.max_processes,
        output_keep_bytes=int(args.max_output_mb * 2**20),
    )
    work_root = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp" if os.path.isdir("/tmp") else None))
    cpushare.sweep_stale(work_root.parent)
    try:
        isolation = isolation_for(
            work_root, [work_root, args.submissions.resolve(), output, Path(tempfile.gettempdir())]
        )
        settings = Settings(
            assignment, limits, isolation, work_root, output, int(args.max_notebook_mb * 2**20)
        )
        version = grader_version()
        spec = variants.spec_of(nbformat.read(assignment.source_path, as_version=4))
        jobs, kept, variant_ids = [], 0, {}
        for index, submission in enumerate(submissions):
            variant = variants.for_student(
                spec, assignment.name, submission.student_id, args.roster_ids, args.secret
            )
            variant_ids[submission.student_id] = variant.id
            job = {
                "index": index,
                "student_id": submission.student_id,
                "source_file": submission.source_file,
                "notebook": str(submission.notebook) if submission.notebook else None,
                "problem": submission.problem,
                "variant": {
                    "id": variant.id,
                    "setup": spec.setup_source(variant.values) if spec else "",
                    "note": variant.note,
                },
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
        cpushare.sweep(work_root.name)
        shutil.rmtree(work_root, ignore_errors=True)
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; write the CSV with --resume")
        return 0
    results = [load(output, s.student_id, s.source_file) for s in submissions]
    report.write_atomic(
        output / "grades.csv", report.csv_text(results, assignment.autograded, variant_ids)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([("file", "why it was skipped"), *skipped])
    report.write_atomic(output / "skipped.csv", buffer.getvalue())
    notebooks = {
        s.student_id: intake.read(s.notebook, assignment, int(args.max_notebook_mb * 2**20))[0]
        for s in submissions
        if s.notebook
    }
    thresholds = {"code": args.similarity_code, "markdown": args.similarity_text}
    try:  # a lead for a person: it never changes a score, and its failure never fails the batch
        similarity.batch_report(output, assignment, notebooks, thresholds)
    except Exception as error:  # noqa: BLE001
        print(f"WARNING: no similarity report ({type(error).__name__}: {error})"[:300])
    graded = sum(r.status().startswith("graded") for r in results)
    print(
        f"{len(results)} submissions, {graded} graded, {len(results) - graded} partly or not graded "
        f"({time.monotonic() - start:.0f} s); see {output / 'grades.csv'}"
    )
    for path, why in skipped:
        print(f"  skipped {path}: {why}")
    for result in results:
        if result.status() != "graded":
            print(f"  {result.student_id}: {result.status()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

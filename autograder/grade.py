"""Grade a batch of submissions of one assignment, as downloaded from the LMS.

    python -m autograder.grade SUBMISSIONS_DIR --assignment 01_visual_cortex --output OUT_DIR [--workers N]

Each submission is graded on its own: a private copy of a course folder (made once per batch by
``nbgrader generate_assignment``, with its own gradebook), ``nbgrader autograde`` and
``nbgrader generate_feedback`` in a subprocess, scores read back from that private gradebook into
``OUT_DIR/results/<student>.json``. The batch then writes ``OUT_DIR/grades.csv`` (one row per student,
also for those whose file could not be graded, with the reason) and ``OUT_DIR/feedback/<student>.html``
(no hidden tests in it). ``OUT_DIR/logs/<student>.log`` keeps nbgrader's output. The exit code is 0
when the batch ran, whatever the submissions were; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from autograder import checks, runner
from autograder.generate import SOURCE, assignments
from autograder.submissions import find_submissions

FIXED_COLUMNS = ["student_id", "source_file", "status", "total_autograded", "max_autograded"]


def build_template(folder: Path, assignment: str) -> Path:
    """A course folder with the assignment's source and a gradebook that knows it."""
    shutil.copytree(SOURCE / assignment, folder / "source" / assignment)
    (folder / "nbgrader_config.py").write_text(runner.course_config(), encoding="utf-8")
    result = runner.nbgrader(["generate_assignment", assignment, "--force"], folder, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"could not prepare the assignment:\n{result.output[-3000:]}")
    return folder


def grade_one(job: dict) -> str:
    """Grade one submission (in a worker process); write and return its result JSON."""
    start = time.monotonic()
    result = {
        "student_id": job["student_id"],
        "source_file": job["source_file"],
        "scores": {},
        "needs_manual_grading": [],
        "feedback": None,
        "warnings": [],
    }
    try:
        problem, missing = job["problem"], []
        if not problem:
            problem, missing = checks.check_notebook(
                Path(job["notebook"]), job["assignment"], job["grade_ids"]
            )
        if missing:
            result["warnings"].append(f"cells deleted from the notebook: {', '.join(missing)}")
        if not problem:
            problem = runner.autograde(job, result)
    except Exception as error:  # never lose a row: report what went wrong instead
        problem = f"internal error ({type(error).__name__}: {str(error)[:200]})"
    if problem:
        result.update(status=f"could not be graded: {problem}", scores={}, needs_manual_grading=[])
    else:
        result["status"] = "graded"
    result["seconds"] = round(time.monotonic() - start, 1)
    path = Path(job["output"]) / "results" / f"{job['student_id']}.json"
    path.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    return str(path)


def collect(path: Path, output: Path) -> dict:
    """Read a result JSON; move its feedback out of the work folder into ``output/feedback/``."""
    result = json.loads(path.read_text(encoding="utf-8"))
    if result["feedback"]:
        target = output / "feedback" / f"{result['student_id']}.html"
        shutil.copyfile(result["feedback"], target)
        result["feedback"] = str(target.relative_to(output))
        path.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    return result


def write_csv(path: Path, results: list[dict], autograded: dict[str, float]) -> None:
    """One row per student; a column per autograded cell, in notebook order."""
    columns = FIXED_COLUMNS + list(autograded) + ["needs_manual_grading"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for result in sorted(results, key=lambda r: r["student_id"]):
            scores = {gid: float(result["scores"].get(gid) or 0) for gid in autograded}
            row = {
                "student_id": result["student_id"],
                "source_file": result["source_file"],
                "status": result["status"],
                "total_autograded": f"{sum(scores.values()):g}",
                "max_autograded": f"{sum(autograded.values()):g}",
                **{gid: f"{score:g}" for gid, score in scores.items()},
                "needs_manual_grading": ";".join(result["needs_manual_grading"]),
            }
            writer.writerow(row)


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
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds per submission (default 1800)"
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"SUBMISSIONS_DIR {args.submissions} is not a folder")
    if args.assignment not in assignments():
        parser.error(f"--assignment: no such assignment in solutions/: {args.assignment!r}")
    if len(list((SOURCE / args.assignment).glob("*.ipynb"))) != 1:
        parser.error(f"--assignment: solutions/{args.assignment} must hold exactly one notebook")
    if args.workers < 1 or args.timeout < 1:
        parser.error("--workers and --timeout must be at least 1")
    if args.output.resolve().is_relative_to(args.submissions.resolve()):
        parser.error("OUT_DIR must not be inside SUBMISSIONS_DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    source_notebook = next((SOURCE / args.assignment).glob("*.ipynb"))
    autograded, manual = checks.grade_cells(source_notebook)
    output = args.output.resolve()
    for name in ("results", "feedback", "logs"):  # this command's own output: start afresh
        shutil.rmtree(output / name, ignore_errors=True)
        (output / name).mkdir(parents=True)
    submissions = find_submissions(args.submissions, args.assignment)
    course = runner.course_id()
    with tempfile.TemporaryDirectory(prefix="autograde-") as work:
        template = build_template(Path(work) / "template", args.assignment)
        jobs = [
            {
                "student_id": s.student_id,
                "source_file": s.source_file,
                "notebook": str(s.notebook) if s.notebook else None,
                "problem": s.problem,
                "assignment": args.assignment,
                "notebook_name": source_notebook.stem,
                "grade_ids": list(autograded) + manual,
                "course_id": course,
                "template": str(template),
                "work": str(Path(work) / "students" / s.student_id),
                "output": str(output),
                "timeout": args.timeout,
            }
            for s in submissions
        ]
        with ProcessPoolExecutor(max_workers=min(args.workers, max(len(jobs), 1))) as pool:
            paths = list(pool.map(grade_one, jobs))
        results = [collect(Path(path), output) for path in paths]
    write_csv(output / "grades.csv", results, autograded)
    graded = sum(r["status"] == "graded" for r in results)
    print(
        f"{len(results)} submissions, {graded} graded, {len(results) - graded} could not be graded "
        f"({time.monotonic() - start:.0f} s); see {output / 'grades.csv'}"
    )
    for result in results:
        if result["status"] != "graded" or result["warnings"]:
            print(f"  {result['student_id']}: {'; '.join([result['status'], *result['warnings']])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

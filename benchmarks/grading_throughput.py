"""Grading throughput: submissions per minute with 1 worker and with N, and the overhead per
submission against just executing the notebook (targets: near-linear scaling, overhead ≤ 1.5×).

In one run, on a batch of copies of the reference solution of an assignment:

1. baseline: each notebook (the instructor's source: the student's answers with every test, hidden
   ones included, i.e. the cells grading runs) executed one after the other with ``nbclient`` in a
   plain kernel, no sandbox, the same one thread per kernel as grading uses;
2. ``python -m autograder.grade --workers 1`` on the batch;
3. ``python -m autograder.grade --workers N`` (N = number of cores by default).

Overhead = (wall time of the 1-worker batch / submissions) / (mean baseline time per notebook):
everything grading adds on top of running the cells — the sandbox, the second (judge) process that
runs the tests and the plain data crossing between the two, the static reach check, feedback and
the batch's start-up. The judge starts beside the kernel and imports what the tests import while
the student's setup cells run, so its start-up mostly overlaps the kernel's. Run: ``python benchmarks/grading_throughput.py [--assignment A] [--submissions K] [--workers N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def baseline(notebook: Path, count: int) -> list[float]:
    """Seconds to execute the notebook ``count`` times, each in a fresh plain kernel."""
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env |= {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    env |= {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}  # as grading sets them
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    times = []
    try:
        for _ in range(count):
            nb = nbformat.read(notebook, as_version=4)
            start = time.monotonic()
            NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True).execute()
            times.append(time.monotonic() - start)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return times


def grade(folder: Path, assignment: str, workers: int, output: Path) -> float:
    command = [sys.executable, "-m", "autograder.grade", str(folder), "--assignment", assignment]
    command += ["--output", str(output), "--workers", str(workers)]
    start = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"grading failed:\n{run.stdout}\n{run.stderr}")
    rows = (output / "grades.csv").read_text(encoding="utf-8").splitlines()[1:]
    if not all(",graded," in row for row in rows):
        raise SystemExit(f"not every copy of the reference was graded:\n{run.stdout}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="01_visual_cortex")
    parser.add_argument("--submissions", type=int, default=0, help="default: 4 per worker")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    count = args.submissions or 4 * args.workers
    source = next((ROOT / "solutions" / args.assignment).glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        batch = folder / "submissions"
        batch.mkdir()
        for index in range(count):
            (batch / f"student{index:03d}.ipynb").write_bytes(source.read_bytes())
        print(f"{count} copies of {source.relative_to(ROOT)}, {os.cpu_count()} cores", flush=True)
        plain = baseline(source, min(count, 4))
        mean = sum(plain) / len(plain)
        print(f"baseline: {mean:.1f} s per notebook (nbclient, plain kernel)", flush=True)
        one = grade(batch, args.assignment, 1, folder / "out1")
        print(f"1 worker:  {one:.1f} s, {60 * count / one:.1f} submissions per minute", flush=True)
        many = grade(batch, args.assignment, args.workers, folder / "outN")
        print(
            f"{args.workers} workers: {many:.1f} s, {60 * count / many:.1f} submissions per minute",
            flush=True,
        )
    print(f"scaling: {one / many:.2f}x with {args.workers} workers (linear: {args.workers}x)")
    print(f"overhead per submission: {one / count / mean:.2f}x the time to execute the notebook")


if __name__ == "__main__":
    main()

"""Calibrate the chapters' CPU budgets: CPU seconds per wall second of a chapter run alone.

The chapters' budgets (tests/book_checks.py) are CPU seconds of the kernel's process tree; they are
the wall budgets of a quiet 2-core machine times the CPU seconds a chapter spends per wall second
there. On a busy machine the wall time also holds the time the kernel's threads waited for a core
(the run-queue delay, /proc/<pid>/task/<tid>/schedstat). This runs each chapter alone, as
tests/build_book.py does (a kernel of its own, one at a time, CPU time from RUSAGE_CHILDREN), reads
the run-queue delay of the kernel's main thread (where the cells run) at the end, and estimates the
quiet wall time as the wall time less that delay (an upper bound when other threads wait too).
Printed per chapter: wall s, CPU s, main-thread run-queue delay, estimated quiet wall s, and CPU s
per quiet wall second.
Run: `python benchmarks/chapter_cpu_time.py [book/01_visual_cortex.ipynb ...]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

# Run in the kernel after the chapter's last cell: its main thread's schedstat (on-CPU and run-queue
# nanoseconds), and the sum over every thread still alive.
PROBE = """
import os as _os, threading as _threading
def _schedstat(tid):
    with open(f"/proc/self/task/{tid}/schedstat") as handle:
        return [int(value) for value in handle.read().split()[:2]]
_all = [_schedstat(tid) for tid in _os.listdir("/proc/self/task")]
print("SCHEDSTAT", *_schedstat(_threading.main_thread().native_id), sum(a[1] for a in _all))
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_alone(path: Path, timeout: int) -> dict:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    cpu, start = children_cpu(), time.monotonic()
    client.execute()
    wall, cpu = time.monotonic() - start, children_cpu() - cpu
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    _, main_wait_ns, all_wait_ns = text.split("SCHEDSTAT")[1].split()[:3]
    main_wait = int(main_wait_ns) / 1e9
    quiet = wall - main_wait
    return {"wall": wall, "cpu": cpu, "main_wait": main_wait, "all_wait": int(all_wait_ns) / 1e9,
            "quiet": quiet, "ratio": cpu / quiet}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=[ROOT / "book" / "01_visual_cortex.ipynb"])  # fmt: skip
    parser.add_argument("--timeout", type=int, default=900, help="per cell (a watchdog)")
    args = parser.parse_args()
    os.environ.setdefault("CNNKIT_PROFILE", "quick")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(
        f"{'chapter':<32} {'wall s':>7} {'CPU s':>6} {'waited s':>9} {'quiet s':>8} {'CPU/quiet':>9}"
    )
    ratios = []
    for path in args.notebooks:
        row = run_alone(path.resolve(), args.timeout)
        ratios.append(row["ratio"])
        print(f"{path.name:<32} {row['wall']:7.1f} {row['cpu']:6.1f} {row['main_wait']:9.1f} "
              f"{row['quiet']:8.1f} {row['ratio']:9.2f}", flush=True)  # fmt: skip
    print(
        f"summary: {min(ratios):.2f} to {max(ratios):.2f} CPU seconds per quiet wall second "
        f"({len(ratios)} chapter(s), {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

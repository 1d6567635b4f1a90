"""Every script of benchmarks/ runs, with its smallest arguments, and prints its summary line.

A benchmark nobody runs rots: the figures of the README come from these scripts, and a crash
(``NameError`` in the exercise code one of them executes, a renamed helper) went unnoticed for weeks
before this test. Each one runs here in a fresh interpreter, in the quick profile, on the least data
and steps its arguments allow (what it measures then means nothing: only that it still runs to its
end). ``thread_wait_policy.py`` and ``chapter_cpu_time.py`` have their own tests (test_threads.py,
test_chapter_cpu_time.py).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"

# script -> (its smallest arguments, a pattern of the summary line it ends with)
SMOKE = {
    "train_loop_overhead.py": (["--epochs", "1", "--examples", "256"], r"ratio cnnkit/bare: \d"),
    "budget_accuracy.py": (["--only", "Fashion-MNIST"], r"largest error: \d"),
    "mnist_reference.py": (["--images", "256"], r"test accuracy: [\d.]+% on 256 images"),
    "grading_throughput.py": (["--submissions", "1", "--workers", "1"], r"overhead per submission: [\d.]+x"),
    "transfer_learning.py": (["--photos", "8"], r"CPU time of this process \(all threads\): \d+ s"),
    "detection.py": (["--boxes", "200", "--steps", "4", "--scenes", "64"], r"mAP@0\.5 Keras / PyTorch: [\d.]+"),
    "segmentation.py": (["--scenes", "16", "8", "--epochs", "1", "1"], r"total \d+ s CPU"),
}  # fmt: skip
TESTED_ELSEWHERE = {"thread_wait_policy.py", "chapter_cpu_time.py"}


def test_every_benchmark_has_a_smoke_test():
    scripts = {path.name for path in BENCHMARKS.glob("*.py")}
    assert scripts == set(SMOKE) | TESTED_ELSEWHERE, (
        "give a new benchmark its smallest arguments here"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_the_benchmark_runs_to_its_summary(script):
    arguments, summary = SMOKE[script]
    env = {**os.environ, "CNNKIT_PROFILE": "quick"}
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    assert re.search(summary, run.stdout), (
        f"{script} did not print /{summary}/:\n{run.stdout[-3000:]}"
    )

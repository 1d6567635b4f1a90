"""Where notebooks and training run side by side, OpenMP's waiting threads sleep instead of spinning.

``OMP_WAIT_POLICY=PASSIVE`` for the book's kernels (the Makefile and tests/build_book.py), the
suite and its kernels (conftest.py), and the grader's sandboxed kernels (autograder/run.py);
benchmarks/thread_wait_policy.py measures what it gives.
"""

import os
import subprocess
import sys
from pathlib import Path

import build_book
import pytest

from autograder.run import Limits, process_env

REPO = Path(__file__).resolve().parent.parent


def test_the_graders_kernels_wait_passively_with_their_thread_count():
    env = process_env(Limits(threads=2), "/tmp/home")
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "2"


def test_make_exports_the_passive_wait_policy():
    run = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", "show-omp: ; @echo $$OMP_WAIT_POLICY",
         "show-omp"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.stdout.strip() == "PASSIVE", run.stdout + run.stderr


def test_the_suites_kernels_inherit_the_passive_wait_policy():
    """conftest.py sets it before any test, so that every kernel a test starts inherits it."""
    run = subprocess.run([sys.executable, "-c", "import os; print(os.environ['OMP_WAIT_POLICY'])"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.stdout.strip() == "PASSIVE", run.stderr


def test_build_book_sets_the_passive_wait_policy_for_its_kernels(monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    (tmp_path / "_config.yml").write_text("title: Empty\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "intro.md").write_text("# Empty\n")
    monkeypatch.setattr(build_book, "build", lambda root, failed, profile: (0, 0.0))
    assert build_book.main(["--root", str(tmp_path), "--profile", "quick", "--workers", "1"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.slow
def test_the_benchmark_prints_its_summary():
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "thread_wait_policy.py"),
        "--steps",
        "2",
        "--rounds",
        "1",
        "--busy",
        "0",
    ]  # fmt: skip (0: the machine as it is only, no core spun)
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "summary: OMP_WAIT_POLICY=PASSIVE makes a step" in run.stdout, run.stdout

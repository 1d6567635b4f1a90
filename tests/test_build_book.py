"""tests/build_book.py on a tiny book: each notebook runs once, in parallel, and failures are reported.

Two notebooks: one appends a line to a file each time it runs, one raises. The first build must run
each once (jupyter-book then executes nothing), report the error with its traceback and exit 1; a
second build takes the good notebook from the cache.

The chapters' budgets are CPU seconds of the kernel's process tree: a notebook keeps its budget with
busy processes of our own beside it, and a notebook made twice as slow breaks it.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import build_book
import chapter_budgets
import nbformat
import psutil
import pytest

BUILDER = Path(__file__).resolve().parent / "build_book.py"


def notebook(*sources: str) -> str:
    cells = [nbformat.v4.new_markdown_cell("# A page")]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    (root / "_config.yml").write_text(
        "title: Tiny\nonly_build_toc_files: true\nexclude_patterns: ['_build/*']\n"
        "execute:\n  execute_notebooks: cache\n  timeout: 120\n"
    )
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: good\n  - file: bad\n"
    )
    (root / "intro.md").write_text("# Tiny\n\nA book of two pages.\n")
    (root / "good.ipynb").write_text(
        notebook("open('runs.txt', 'a').write('ran\\n')\nprint(6 * 7)")
    )
    (root / "bad.ipynb").write_text(notebook("raise ValueError('this chapter is broken')"))
    return root


def build(root: Path) -> tuple[subprocess.CompletedProcess, dict]:
    run = subprocess.run([sys.executable, str(BUILDER), "--root", str(root), "--workers", "2"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    return run, json.loads((root / "_build" / "book-report.json").read_text())


def test_each_notebook_runs_once_and_a_failure_is_reported(book):
    run, report = build(book)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    good, bad = report["notebooks"]["good.ipynb"], report["notebooks"]["bad.ipynb"]
    assert good["status"] == "executed" and good["seconds"] > 0 and good["cpu_seconds"] > 0
    assert bad["status"] == "failed" and "this chapter is broken" in bad["error"]
    assert (book / "runs.txt").read_text() == "ran\n"  # executed once, not again by jupyter-book
    log = (book / report["build"]["log"]).read_text()
    assert "Executing notebook" not in log, log[-3000:]
    assert report["build"]["returncode"] == 0, log[-3000:]  # the broken page is built, unexecuted
    assert "42" in (book / "_build" / "html" / "good.html").read_text()


def test_a_second_build_takes_the_outputs_from_the_cache(book):
    run, report = build(book)
    assert run.returncode == 1  # the broken notebook still fails (and is run again)
    assert report["notebooks"]["good.ipynb"]["status"] == "cached"
    assert report["notebooks"]["good.ipynb"]["cpu_seconds"] > 0  # kept with the cached outputs
    assert (book / "runs.txt").read_text() == "ran\n"


# A chapter in miniature: fixed work (a Python loop) done half by the kernel and half by a child
# process it starts; then it writes down the CPU seconds the kernel counted for itself and its child.
WORK = """
import resource, subprocess, sys
LOOP = "total = 0\\nfor i in range({n}): total += i * i"
for _ in range({repeat}):
    exec(LOOP)
    subprocess.run([sys.executable, "-c", LOOP], check=True)
usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
open("{name}.cpu", "w").write(str(sum(u.ru_utime + u.ru_stime for u in usage)))
"""
ITERATIONS = 10_000_000  # about 1.5 CPU seconds per half here: far more than the kernel's start-up
BUSY = 3  # busy processes beside the notebook: with 2 cores, it gets half a core at most


def chapter(root: Path, name: str, repeat: int) -> None:
    root.mkdir(exist_ok=True)
    (root / name).write_text(notebook(WORK.format(n=ITERATIONS, repeat=repeat, name=name)))


def run_alone_or_beside_busy_processes(root: Path, names: list[str], busy: int):
    """build_book's execution of the notebooks, one at a time, with ``busy`` spinning processes;
    (the records, the CPU seconds the busy processes used meanwhile)."""
    spin = "import time\nend = time.monotonic() + 90\nwhile time.monotonic() < end: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(busy)]
    try:
        records = build_book.execute(root, names, 1, 120, {}, "quick")
        hogs_cpu = sum(sum(psutil.Process(hog.pid).cpu_times()[:2]) for hog in hogs)
        return records, hogs_cpu
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_the_cpu_budget_holds_beside_busy_processes_and_catches_a_twice_slower_notebook(tmp_path):
    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    chapter(quiet, "chapter.ipynb", repeat=1)
    chapter(quiet, "slower.ipynb", repeat=2)  # the same chapter made twice as slow
    chapter(busy, "chapter.ipynb", repeat=1)
    alone, _ = run_alone_or_beside_busy_processes(quiet, ["chapter.ipynb", "slower.ipynb"], busy=0)
    start = time.monotonic()
    records, hogs_cpu = run_alone_or_beside_busy_processes(busy, ["chapter.ipynb"], busy=BUSY)
    beside = records["chapter.ipynb"]
    assert time.monotonic() - start < 90, "the busy processes stopped before the notebook"
    for record in [*alone.values(), beside]:
        assert record["status"] == "executed", record["error"]
    # Calibrated alone, as the chapters' budgets are: the notebook's CPU time and a margin.
    budget = 1.3 * alone["chapter.ipynb"]["cpu_seconds"]

    # The measure holds what the kernel counted for itself and its child (and its start-up).
    counted = float((busy / "chapter.ipynb.cpu").read_text())
    assert beside["cpu_seconds"] >= counted >= beside["cpu_seconds"] / 2, (beside, counted)
    assert chapter_budgets.over_budget("chapter", alone["chapter.ipynb"], budget) is None
    assert chapter_budgets.over_budget("chapter", beside, budget) is None, (alone, beside)
    # ... while the busy processes took the cores: they ran at least half of the notebook's time.
    assert hogs_cpu >= beside["seconds"] / 2, (hogs_cpu, beside)
    problem = chapter_budgets.over_budget("slower", alone["slower.ipynb"], budget)
    assert problem and "slower used" in problem, (alone, problem)

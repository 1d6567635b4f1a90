"""tests/build_book.py on a tiny book: each notebook runs once, in parallel, and failures are reported.

Two notebooks: one appends a line to a file each time it runs, one raises. The first build must run
each once (jupyter-book then executes nothing), report the error with its traceback and exit 1; a
second build takes the good notebook from the cache.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
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
    assert good["status"] == "executed" and good["seconds"] > 0
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
    assert (book / "runs.txt").read_text() == "ran\n"

"""The book as `make book` built it (tests/build_book.py): executed once, strictly, and whole.

The chapters are executed by that build (in parallel, into Jupyter Book's cache), not again here;
these tests read its report: every chapter ran without error within its budget (CPU seconds of its
kernel, chapter_budgets.cpu_budget), the build
had no warning (-W -n: every page in the toc, every cross-reference resolved), and the pages have what
readers need. tests/test_browser.py opens the same pages in a browser.
"""

import os
import re
from pathlib import Path

import book_checks
import build_book
import chapter_budgets
import pytest

REPO = Path(__file__).resolve().parent.parent
EXECUTED = build_book.executed_notebooks(REPO)


@pytest.fixture(scope="module")
def report():
    return book_checks.load_report()


def test_the_book_executes_every_chapter():
    assert EXECUTED and all(path.startswith("book/") for path in EXECUTED), EXECUTED
    assert not any(path.startswith("exercises/") for path in EXECUTED)


def test_the_book_was_built_in_the_profile_under_test(report):
    """`make test` builds in the quick profile (unless CNNKIT_PROFILE says otherwise)."""
    assert report["profile"] == os.environ.get("CNNKIT_PROFILE", "quick")


@pytest.mark.parametrize("notebook", EXECUTED)
def test_chapter_ran_without_error(report, notebook):
    record = report["notebooks"].get(notebook)
    assert record, f"{notebook} was not executed by the build"
    assert record["status"] in ("executed", "cached"), f"{notebook} failed:\n{record['error']}"


@pytest.mark.parametrize("notebook", EXECUTED)
def test_chapter_runs_within_its_budget(report, notebook):
    """CPU seconds of the chapter's kernel, children included (chapter_budgets.cpu_budget): another
    program on the machine cannot fail it."""
    if report["profile"] != "quick":
        pytest.skip("the budgets are the quick profile's")
    record = report["notebooks"].get(notebook, {})
    if record.get("status") == "failed":
        pytest.fail(f"{notebook} failed, see test_chapter_ran_without_error", pytrace=False)
    problem = chapter_budgets.over_budget(notebook, record, chapter_budgets.cpu_budget(notebook))
    assert problem is None, problem


def test_build_had_no_warning(report):
    log = (REPO / report["build"]["log"]).read_text(encoding="utf-8", errors="replace")
    warnings = [line for line in log.splitlines() if re.search(r"WARNING|ERROR", line)]
    assert report["build"]["returncode"] == 0, "\n".join(warnings[-40:]) or log[-5000:]


def test_every_toc_entry_is_a_page(report):
    for entry in build_book.toc_files(REPO):
        assert (book_checks.HTML / f"{entry}.html").is_file(), entry


def test_pages_offer_colab_and_notebook_download(report):
    url = re.search(r"url: https://github.com/(\S+)", (REPO / "_config.yml").read_text()).group(1)
    for page in sorted(book_checks.HTML.glob("book/*.html")):
        html = page.read_text()
        notebook = f"book/{page.stem}.ipynb"
        assert f"https://colab.research.google.com/github/{url}/blob/main/{notebook}" in html, (
            page.name
        )
        assert f"_sources/{notebook}" in html, page.name  # the .ipynb download button


def test_colab_install_cell_stays_off_the_pages_but_in_the_downloads(report):
    from cnnkit import colab

    for page in book_checks.pages():
        assert colab.MARKER not in page.read_text(encoding="utf-8"), page.name
    for notebook in sorted(book_checks.HTML.glob("_sources/book/*.ipynb")):
        assert colab.MARKER in notebook.read_text(encoding="utf-8"), notebook.name


def test_mathjax_is_served_from_the_book(report):
    """Formulas render without internet: MathJax comes from _static, not from a CDN."""
    for page in book_checks.pages():
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, re.IGNORECASE)
        for src in scripts:
            assert not src.startswith(("http:", "https:", "//")), (page.name, src)
            assert (page.parent / src.split("?")[0]).resolve().is_file(), (page.name, src)
    chapter = (book_checks.HTML / "book" / "02_convolution_math.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="[^"]*_static/mathjax/[^"]+\.js', chapter)


def test_notebook_kernels_render_figures_inline():
    """A kernel started with this suite's environment (as the book's are) produces PNG figures."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    )
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert any("image/png" in output.get("data", {}) for output in outputs), outputs

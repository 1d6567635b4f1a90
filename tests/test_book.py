"""The book builds strictly (-W -n): every page in the toc, every cross-reference resolves.

`make book` executes the notebooks; nbval already executes them in this suite, so this build skips
execution and checks the structure: the toc, headings, links between chapters and exercises, the
Colab and download buttons.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    config = out / "_config.yml"
    text = (REPO / "_config.yml").read_text()
    text, count = re.subn(r"execute_notebooks: \w+", 'execute_notebooks: "off"', text)
    assert count == 1, "_config.yml must set execute.execute_notebooks"
    config.write_text(text)
    jupyter_book = shutil.which("jupyter-book") or str(
        Path(sys.executable).with_name("jupyter-book")
    )
    result = subprocess.run(
        [jupyter_book, "build", str(REPO), "-W", "-n", "--keep-going", "--config", str(config),
         "--path-output", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return out / "_build" / "html"


def test_every_toc_entry_is_a_page(built_book):
    toc = (REPO / "_toc.yml").read_text()
    entries = re.findall(r"file: (\S+)", toc)
    assert entries
    for entry in entries:
        assert (built_book / f"{entry}.html").is_file(), entry


def test_pages_offer_colab_and_notebook_download(built_book):
    url = re.search(r"url: https://github.com/(\S+)", (REPO / "_config.yml").read_text()).group(1)
    for page in sorted(built_book.glob("book/*.html")):
        html = page.read_text()
        notebook = f"book/{page.stem}.ipynb"
        assert f"https://colab.research.google.com/github/{url}/blob/main/{notebook}" in html, (
            page.name
        )
        assert f"_sources/{notebook}" in html, page.name  # the .ipynb download button


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

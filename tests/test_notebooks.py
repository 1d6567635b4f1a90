"""Every committed notebook is clean and follows the course's shape; the code passes ruff."""

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnkit import colab

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    [
        *REPO.glob("book/*.ipynb"),
        *REPO.glob("solutions/*/*.ipynb"),
        *REPO.glob("exercises/*/*.ipynb"),
    ]
)
ALLOWED_CELL_METADATA = {
    "nbgrader",
    "mystnb",
    "tags",
    "editable",
    "deletable",
    "trusted",
    "grading",
    "variant",  # autograder.variants: how a student's numbers are drawn, and the statement's template
    "variant_text",
}
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info", "nbgrader", "mystnb", "jupytext"}
FIGURE_CALL = re.compile(r"\bplt\.show\(\)")


def ids(paths):
    return [str(path.relative_to(REPO)) for path in paths]


def test_there_are_notebooks_to_check():
    assert any(path.parts[-2] == "book" for path in NOTEBOOKS)


@pytest.fixture(params=NOTEBOOKS, ids=ids(NOTEBOOKS))
def notebook(request):
    nb = nbformat.read(request.param, as_version=4)
    nbformat.validate(nb)
    return request.param, nb


def test_committed_without_outputs(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs: strip them"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


def test_metadata_is_clean(notebook):
    path, nb = notebook
    assert set(nb.metadata) <= ALLOWED_NOTEBOOK_METADATA, f"{path.name}: {set(nb.metadata)}"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for index, cell in enumerate(nb.cells):
        extra = set(cell.metadata) - ALLOWED_CELL_METADATA
        assert not extra, f"{path.name} cell {index} has editor metadata {extra}"


def test_first_code_cell_installs_cnnkit_on_colab_from_the_configured_url(notebook):
    path, nb = notebook
    expected = colab.install_cell_source(colab.repository_url(REPO / "_config.yml"))
    first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert first_code.source == expected, f"{path.name}: run `make colab-cells`"
    # kept in the notebook for Colab, left out of the book's page
    assert colab.TAG in first_code.metadata.get("tags", []), f"{path.name}: run `make colab-cells`"


def test_shape_title_then_sections(notebook):
    path, nb = notebook
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    titles = re.findall(r"^# \S", markdown, re.MULTILINE)
    assert len(titles) == 1, f"{path.name} must have exactly one '# ' title"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert re.search(r"^## Setup\b", markdown, re.MULTILINE), f"{path.name} has no '## Setup'"
    if path.parts[-2] == "book":
        assert re.search(r"^## Summary\b", markdown, re.MULTILINE), (
            f"{path.name} has no '## Summary'"
        )


def test_every_figure_has_a_caption(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and FIGURE_CALL.search(cell.source):
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
            assert caption.strip(), f"{path.name} cell {index} draws a figure without a caption"
            assert len(FIGURE_CALL.findall(cell.source)) == 1, (
                f"{path.name} cell {index}: one figure per cell"
            )


GLUE_CALL = re.compile(r"^\s*(record|glue)\(", re.MULTILINE)


def test_figure_cells_glue_nothing(notebook):
    """myst-nb wraps every output of a figure cell in the figure: a glued value makes a second one
    with the same name, a "Duplicate explicit target name" warning that fails the build."""
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {}):
            assert not GLUE_CALL.search(cell.source), (
                f"{path.name} cell {index} glues a value inside a figure cell: move it to its own cell"
            )


IMAGE_FILE = re.compile(r"\S+\.(png|jpe?g|svg|gif)\b", re.IGNORECASE)


def test_every_captioned_figure_has_alt_text(notebook):
    """Screen readers read `mystnb.image.alt`: a sentence of what is drawn, not the caption again."""
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        mystnb = cell.metadata.get("mystnb", {})
        caption = mystnb.get("figure", {}).get("caption", "").strip()
        if not caption:
            continue
        alt = mystnb.get("image", {}).get("alt", "").strip()
        where = f"{path.name} cell {index}"
        assert alt, f"{where} has a caption but no metadata.mystnb.image.alt"
        assert alt.casefold() != caption.casefold(), f"{where}: the alt text repeats the caption"
        assert not IMAGE_FILE.search(alt), f"{where}: the alt text names a file: {alt!r}"


# hashes of every 12-word run of the source text the course is based on (see its README)
SOURCE_RUNS = REPO.parent / "shared" / "overlap" / "source_12grams.txt"
RUN_LENGTH = 12
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
NOT_PROSE = [  # facts that may match by nature: math, code blocks, rows of tables
    re.compile(r"\$\$.*?\$\$", re.DOTALL),
    re.compile(r"```.*?```", re.DOTALL),
    re.compile(r"^\s*\|.*$", re.MULTILINE),
    re.compile(r"\$[^$\n]*\$"),
]


def shared_runs(text, known):
    """The runs of 12 words of ``text`` whose hash is in ``known``, as the overlap README defines them."""
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    words = WORD.findall(text.lower().replace("\u2019", "'"))
    for start in range(len(words) - RUN_LENGTH + 1):
        run = " ".join(words[start : start + RUN_LENGTH])
        if hashlib.sha256(run.encode()).hexdigest()[:16] in known:
            yield run


@pytest.fixture(scope="module")
def source_runs():
    if not SOURCE_RUNS.exists():
        pytest.skip(f"no {SOURCE_RUNS}")
    return set(SOURCE_RUNS.read_text().split())


def test_shared_runs_follow_the_readme():
    run = "one two three four five six seven eight nine ten eleven twelve"
    known = {hashlib.sha256(run.encode()).hexdigest()[:16]}
    assert list(
        shared_runs("One, two: three four five six seven eight nine ten eleven twelve!", known)
    )
    assert not list(
        shared_runs("| one two three four five six seven eight nine ten eleven twelve |", known)
    )
    assert not list(
        shared_runs("$$one two three four five six seven eight nine ten eleven twelve$$", known)
    )


def test_prose_shares_no_run_of_12_words_with_the_source(notebook, source_runs):
    """Every sentence of the course is ours: no run of 12 words of prose comes from the source text."""
    path, nb = notebook
    found = [
        f"cell {index}: {run!r}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for run in shared_runs(cell.source, source_runs)
    ]
    assert not found, f"{path.relative_to(REPO)} repeats the source:\n" + "\n".join(found)


def test_table_of_contents_lists_every_chapter_and_exercise():
    toc = (REPO / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        if path.parts[-3] == "solutions" or path.parts[-2] == "solutions":
            continue
        entry = str(path.relative_to(REPO).with_suffix(""))
        assert f"file: {entry}\n" in toc + "\n", f"{entry} is missing from _toc.yml"


def test_ruff_finds_nothing_in_code_and_notebooks():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    targets = [
        name
        for name in ("cnnkit", "autograder", "tests", "benchmarks", "book", "solutions")
        if (REPO / name).exists()
    ]
    result = subprocess.run([ruff, "check", *targets], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]

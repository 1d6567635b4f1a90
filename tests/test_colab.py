"""cnnkit.colab: the repository URL lives in _config.yml only, and the install cell is built from it."""

from pathlib import Path

import nbformat
import pytest

from cnnkit import colab

REPO = Path(__file__).resolve().parent.parent


def test_repository_url_is_read_from_the_book_config():
    assert colab.repository_url(REPO / "_config.yml").startswith("https://github.com/")


def test_missing_url_is_a_clear_error(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("title: x\n")
    with pytest.raises(ValueError, match="no repository.url"):
        colab.repository_url(config)


def test_install_cell_installs_from_the_url_only_on_colab():
    source = colab.install_cell_source("https://example.org/a/b")
    assert source.startswith(colab.MARKER)
    assert "git+https://example.org/a/b@main" in source
    assert 'if "google.colab" in sys.modules:' in source
    compile(source, "cell", "exec")  # plain Python, no IPython magic
    with pytest.raises(ValueError, match="https://"):
        colab.install_cell_source("git@github.com:a/b")


def test_sync_inserts_or_replaces_the_first_code_cell(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")]
    )
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert colab.sync_notebooks([path], "https://example.org/a/b") == [path]
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].source == colab.install_cell_source("https://example.org/a/b")
    assert cells[1].metadata.tags == ["remove-cell"]  # in the notebook, not on the book's page
    assert cells[2].source == "x = 1"
    assert colab.sync_notebooks([path], "https://example.org/a/b") == []  # already in sync
    colab.sync_notebooks([path], "https://example.org/c/d")
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 3 and "example.org/c/d" in cells[1].source
    assert cells[1].metadata.tags == ["remove-cell"]


def test_sync_tags_an_untagged_install_cell_and_keeps_its_other_tags(tmp_path):
    url = "https://example.org/a/b"
    cell = nbformat.v4.new_code_cell(colab.install_cell_source(url), metadata={"tags": ["x"]})
    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert colab.sync_notebooks([path], url) == [path]
    assert nbformat.read(path, as_version=4).cells[0].metadata.tags == ["x", "remove-cell"]

"""The first code cell of every notebook: install ``cnnkit`` when the notebook runs on Google Colab.

The repository URL is written once, in the book's ``_config.yml``; ``python -m cnnkit.colab``
(``make colab-cells``) writes it into every notebook and a test checks that they agree. The cell
carries the ``remove-cell`` tag: it stays in the notebooks (Colab, downloads) but not on the book's
pages, where it would be the first thing on every one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = "# Colab only: install the course helper package"
TAG = "remove-cell"  # Jupyter Book leaves a cell with this tag out of the page


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def repository_url(config_path: str | Path = "_config.yml") -> str:
    """Read ``repository.url`` from the book's ``_config.yml`` (no YAML dependency needed)."""
    text = Path(config_path).read_text(encoding="utf-8")
    match = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.MULTILINE)
    if not match:
        raise ValueError(f"{config_path} has no repository.url")
    return match.group(1).strip("'\"")


def install_cell_source(url: str, branch: str = "main") -> str:
    """The source of the Colab install cell for the repository at ``url``."""
    if not url.startswith("https://"):
        raise ValueError(f"repository url must start with https://, got {url!r}")
    requirement = f"cnnkit @ git+{url}@{branch}"
    return (
        f"{MARKER} (elsewhere it is already installed).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{requirement}"], check=True)'
    )


def sync_notebooks(paths, url: str) -> list[Path]:
    """Make the first code cell of each notebook the install cell; return the notebooks changed."""
    import nbformat

    expected = install_cell_source(url)
    changed = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        if code and code[0].source.startswith(MARKER):
            tags = code[0].metadata.get("tags", [])
            if code[0].source == expected and TAG in tags:
                continue
            code[0].source = expected
            code[0].metadata["tags"] = [*tags, TAG] if TAG not in tags else tags
        else:
            cell = nbformat.v4.new_code_cell(expected, metadata={"tags": [TAG]})
            first_code = nb.cells.index(code[0]) if code else len(nb.cells)
            nb.cells.insert(first_code, cell)
        nbformat.write(nb, path)
        changed.append(path)
    return changed


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
    notebooks = sorted(root.glob("book/*.ipynb")) + sorted(root.glob("solutions/*/*.ipynb"))
    for path in sync_notebooks(notebooks, repository_url(root / "_config.yml")):
        print(f"updated the install cell of {path}")

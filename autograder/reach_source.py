"""A notebook cell's source as the analysis reads it (``reach.py``, ``notes.py``, ``room.py``):
IPython's syntax turned into plain Python, the timing magics unwrapped so that their statement is
analysed, and the ``get_ipython`` calls that only run a shell command or a harmless line magic."""

from __future__ import annotations

import ast
import re

SAFE_MAGICS = {
    "matplotlib",
    "config",
    "pip",
    "precision",
    "pwd",
    "ls",
    "who",
    "whos",
    "env",
    "load_ext",
    "reload_ext",
    "autoreload",
    "time",
    "timeit",
    "lsmagic",
}
TIMING_CELL = re.compile(r"^\s*%%(time|timeit|capture)\b[^\n]*\n?")
TIMING_LINE = re.compile(r"^(\s*)%(time|timeit)\s+", re.M)


def python_source(source: str) -> str:
    """The cell as plain Python; timing magics keep their statement (it runs, and may bind)."""
    from IPython.core.inputtransformer2 import TransformerManager

    source = TIMING_LINE.sub(r"\1", TIMING_CELL.sub("", source, count=1))
    return TransformerManager().transform_cell(source)


def _harmless_ipython(tree: ast.AST) -> set[int]:
    """ids of the ``get_ipython`` names used only for a shell command or a harmless line magic."""
    harmless = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        inner = node.func.value
        if not (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id == "get_ipython"
        ):
            continue
        method, args = node.func.attr, node.args
        magic = args[0].value if args and isinstance(args[0], ast.Constant) else None
        if method in ("system", "getoutput") or (
            method == "run_line_magic" and magic in SAFE_MAGICS
        ):
            harmless.add(id(inner.func))
    return harmless


def parse_cells(cells: list[tuple[str, str]]) -> list[tuple[str, ast.Module]]:
    """(label, tree) of every cell that parses (a cell that does not parse never runs either)."""
    trees = []
    for label, source in cells:
        try:
            trees.append((label, ast.parse(python_source(source))))
        except (SyntaxError, ValueError):
            continue
    return trees

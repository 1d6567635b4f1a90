""" "Write it yourself", checked on the submitted source: what a graded function can reach.

The judge parses the student's cells (the code that runs in the student's kernel) and, for every
graded name whose answer cell declares ``grading.forbid``, follows each name that name's code can
reach: the functions and classes it calls, the aliases and imports it uses, the assignments that
made them, in any cell. A module whose dotted name starts with a forbidden one, or a name that only
the test helpers define, is a *forbidden reach*. Code that could reach anything without naming it
(``exec``, ``eval``, ``globals()``, ``__import__``, ``importlib``, a computed ``getattr``, writes
through a namespace) *cannot be checked*. Either finding names the name and its line.

It is deliberately conservative: every binding of a name in any cell counts, whichever ran last.
"""

from __future__ import annotations

import ast
import importlib.util
import symtable
from dataclasses import dataclass

from autograder.reach_rules import (  # noqa: F401 - part of this module's interface
    ANYWHERE,
    BUILTIN_NAMES,
    NAMESPACE_WRITERS,
    UNFOLLOWABLE_ATTRIBUTES,
    UNFOLLOWABLE_BUILTINS,
    UNFOLLOWABLE_MODULES,
    Finding,
)
from autograder.reach_source import _harmless_ipython, parse_cells, python_source  # noqa: F401 - python_source: part of the interface


@dataclass
class _Definition:
    cell: str
    node: ast.AST  # a def/class, or the statement that binds the name
    module: str | None = None  # for imports: the dotted name bound


def _bound_names(target: ast.AST) -> list[str]:
    return [
        n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    ]


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class Program:
    """Every top-level binding of the student's cells, and the constructs no analysis can follow."""

    def __init__(self, cells: list[tuple[str, str]]):
        self.definitions: dict[str, list[_Definition]] = {}
        self.star_imports: list[tuple[str, str, int]] = []  # (module, cell, line)
        self.dynamic: list[tuple[str, str, int]] = []  # (construct, cell, line)
        self.trees: dict[str, ast.Module] = {}
        for label, tree in parse_cells(cells):
            self.trees[label] = tree
            for statement in tree.body:
                self._collect(label, statement)
            self._scan_dynamic(label, tree)

    def _define(self, name: str, definition: _Definition) -> None:
        self.definitions.setdefault(name, []).append(definition)

    def _collect(self, label: str, node: ast.stmt) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._define(node.name, _Definition(label, node))
            self._collect_global_writes(label, node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                module = alias.name if alias.asname else alias.name.split(".")[0]
                self._define(name, _Definition(label, node, module))
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    self.star_imports.append((base, label, node.lineno))
                else:
                    self._define(
                        alias.asname or alias.name, _Definition(label, node, f"{base}.{alias.name}")
                    )
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names = (
                    _bound_names(target)
                    if isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Starred))
                    else []
                )
                root = _root_name(target)
                for name in names or ([root] if root else []):
                    self._define(name, _Definition(label, node))
        elif isinstance(
            node, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)
        ):
            header = [
                getattr(node, key) for key in ("target", "iter", "test") if getattr(node, key, None)
            ]
            header += [item for item in getattr(node, "items", [])]
            for name in {n for part in header for n in _bound_names(part)}:
                self._define(name, _Definition(label, node))
            for key in ("body", "orelse", "finalbody"):
                for child in getattr(node, key, []):
                    self._collect(label, child)
            for handler in getattr(node, "handlers", []):
                if handler.name:
                    self._define(handler.name, _Definition(label, node))
                for child in handler.body:
                    self._collect(label, child)
        elif isinstance(node, ast.Expr):  # a walrus, or a call that writes attributes
            for sub in ast.walk(node):
                if isinstance(sub, ast.NamedExpr):
                    self._define(sub.target.id, _Definition(label, node))
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for sub in ast.walk(node):  # `walrus := ...` anywhere in the statement binds too
                if isinstance(sub, ast.NamedExpr):
                    self._define(sub.target.id, _Definition(label, node))

    def _collect_global_writes(self, label: str, function: ast.AST) -> None:
        """A function that declares ``global x`` and assigns it is one more definition of x."""
        for sub in ast.walk(function):
            if isinstance(sub, ast.Global):
                for name in sub.names:
                    self._define(name, _Definition(label, function))

    def _scan_dynamic(self, label: str, tree: ast.Module) -> None:
        harmless = _harmless_ipython(tree)
        for node in ast.walk(tree):
            if id(node) in harmless:
                continue
            if (
                isinstance(node, ast.Name)
                and node.id in NAMESPACE_WRITERS
                and node.id not in self.definitions
            ):
                self.dynamic.append((f"{node.id}()", label, node.lineno))
            elif isinstance(node, ast.Attribute) and node.attr in UNFOLLOWABLE_ATTRIBUTES:
                self.dynamic.append((f".{node.attr}", label, node.lineno))
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (
                    node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                )
                for target in targets:
                    if (
                        isinstance(target, (ast.Attribute, ast.Subscript))
                        and _root_name(target) is None
                    ):
                        self.dynamic.append(
                            ("a write through a computed object", label, node.lineno)
                        )
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for module in modules:
                    if module.split(".")[0] in (
                        "importlib",
                        "ctypes",
                        "gc",
                        "builtins",
                        "__main__",
                    ):
                        self.dynamic.append((f"the module {module}", label, node.lineno))


def _references(node: ast.AST) -> tuple[set[str], list[tuple[str, str, int]]]:
    """Global names ``node`` loads (as its own little module) and the attribute paths on them."""
    source = ast.unparse(node)
    names: set[str] = set()
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        table = None
    if table is not None:
        stack = [table]
        while stack:
            current = stack.pop()
            stack.extend(current.get_children())
            top = current is table
            for symbol in current.get_symbols():
                if not symbol.is_referenced():
                    continue
                if (top and not symbol.is_imported()) or (not top and symbol.is_global()):
                    names.add(symbol.get_name())
    paths = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
            chain, inner = [], sub
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                paths.append((inner.id, ".".join(reversed(chain)), getattr(sub, "lineno", 0)))
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id == "getattr"
        ):
            if len(sub.args) >= 2 and isinstance(sub.args[0], ast.Name):
                attr = sub.args[1]
                text = (
                    attr.value
                    if isinstance(attr, ast.Constant) and isinstance(attr.value, str)
                    else None
                )
                paths.append(
                    (sub.args[0].id, text if text is not None else "<computed>", sub.lineno)
                )
    return names, paths


def _not_a_library(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True


def _line_of(node: ast.AST, name: str) -> int:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == name:
            return sub.lineno
    return getattr(node, "lineno", 0)


def _matches(module: str, prefixes) -> str | None:
    for prefix in prefixes:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def check(program: Program, name: str, forbid, helpers: set[str]) -> Finding | None:
    """The first forbidden or unfollowable reach of the graded ``name`` (None when it is clean).

    ``forbid``: dotted module names; ``helpers``: names only the test helpers define.
    """
    forbid = tuple(forbid)
    if program.dynamic:  # could bind or rebind any name, this one included
        construct, cell, line = program.dynamic[0]
        return Finding("uncheckable", name, construct, ANYWHERE, cell, line)
    if name not in program.definitions:
        return None  # not defined at all: the tests fail on their own
    seen: set[str] = set()
    queue = [name]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        for definition in program.definitions.get(current, []):
            found = _check_definition(program, name, current, definition, forbid, helpers, queue)
            if found:
                return found
    return None


def _check_module(
    module: str, graded: str, via: str, cell: str, line: int, forbid
) -> Finding | None:
    if module.startswith("."):
        return Finding("uncheckable", graded, f"the relative import {module}", via, cell, line)
    if _matches(module, forbid):
        return Finding("forbidden", graded, module, via, cell, line)
    top = module.split(".")[0]
    if top in UNFOLLOWABLE_MODULES:
        return Finding("uncheckable", graded, f"the module {module}", via, cell, line)
    if _not_a_library(top):
        return Finding(
            "uncheckable", graded, f"the module {top} (not an installed library)", via, cell, line
        )
    return None


def _check_definition(program, graded, current, definition, forbid, helpers, queue):
    cell, node = definition.cell, definition.node
    if definition.module is not None:
        return _check_module(definition.module, graded, current, cell, node.lineno, forbid)
    for sub in ast.walk(node):  # imports inside functions (or compound statements) reach too
        if isinstance(sub, ast.Import):
            modules = [alias.name for alias in sub.names]
        elif isinstance(sub, ast.ImportFrom):
            base = "." * sub.level + (sub.module or "")
            modules = [f"{base}.{alias.name}" if alias.name != "*" else base for alias in sub.names]
        else:
            continue
        for module in modules:
            found = _check_module(module, graded, current, cell, sub.lineno, forbid)
            if found:
                return found
    names, paths = _references(node)
    for root, path, line in paths:
        if path == "<computed>" or any(part in UNFOLLOWABLE_ATTRIBUTES for part in path.split(".")):
            what = "a computed getattr" if path == "<computed>" else f"{root}.{path}"
            return Finding("uncheckable", graded, what, root, cell, line)
        for target in program.definitions.get(root, []):
            if target.module is not None:
                full = f"{target.module}.{path}"
                if _matches(full, forbid):
                    return Finding(
                        "forbidden", graded, _matches(full, forbid), f"{root}.{path}", cell, line
                    )
    for used in sorted(names):
        line = _line_of(node, used)
        if used in program.definitions:
            queue.append(used)
        elif used in helpers:
            return Finding("forbidden", graded, f"the test helper {used}", "", cell, line)
        elif used in UNFOLLOWABLE_BUILTINS:
            return Finding("uncheckable", graded, f"{used}()", used, cell, line)
        elif used not in BUILTIN_NAMES:
            for module, star_cell, star_line in program.star_imports:
                if _matches(module, forbid) or module.startswith("."):
                    return Finding(
                        "forbidden",
                        graded,
                        module,
                        f"{used} (from {module} import *)",
                        star_cell,
                        star_line,
                    )
    return None


def cells_needed(program: Program, names) -> set[str]:
    """Labels of the cells a clean room runs to define ``names``: the cells that bind them (every
    binding counts), and, since a cell runs whole, the cells that bind what any of those cells
    uses, and so on. Cells with a star import come along too."""
    cells = {cell for _, cell, _ in program.star_imports}
    seen: set[str] = set()
    followed: set[str] = set()
    queue = list(names)
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        for definition in program.definitions.get(current, []):
            if definition.cell in followed:
                continue
            followed.add(definition.cell)
            cells.add(definition.cell)
            tree = program.trees.get(definition.cell)
            if tree is not None:
                queue.extend(n for n in _references(tree)[0] if n in program.definitions)
    return cells

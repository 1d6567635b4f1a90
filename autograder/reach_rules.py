"""The rules of the reach analysis (``autograder.reach``): which constructs it cannot follow, and
what it finds, as a ``Finding`` the instructor reads in the CSV's notes column."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

BUILTIN_NAMES = set(dir(builtins))
# Built-ins that reach code or names without naming them: never followed.
UNFOLLOWABLE_BUILTINS = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "__builtins__",
    "__loader__",
    "__spec__",
}
UNFOLLOWABLE_MODULES = (
    "importlib",
    "builtins",
    "ctypes",
    "gc",
    "sys",
    "inspect",
    "__main__",
    "_ctypes",
)
UNFOLLOWABLE_ATTRIBUTES = {
    "__dict__",
    "__globals__",
    "__builtins__",
    "__code__",
    "__closure__",
    "__subclasses__",
    "__bases__",
    "__mro__",
    "__base__",
    "__class__",
    "__getattribute__",
    "f_globals",
    "f_locals",
    "f_back",
    "f_builtins",
    "gi_frame",
    "cr_frame",
    "tb_frame",
    "user_ns",
    "__import__",
    "__self__",
    "__func__",
    "__wrapped__",
    "__module__",
    "func_globals",
}
# Anywhere in the notebook, these can rebind any name without a visible assignment.
NAMESPACE_WRITERS = {
    "exec",
    "eval",
    "compile",
    "globals",
    "locals",
    "vars",
    "setattr",
    "delattr",
    "__import__",
    "get_ipython",
}


ANYWHERE = "(the notebook)"  # a construct that could rebind any name, wherever it is


@dataclass(frozen=True)
class Finding:
    """Why the graded ``name`` fails: a forbidden reach, or one that cannot be checked."""

    kind: str  # "forbidden" or "uncheckable"
    name: str  # the graded function or class
    what: str  # the forbidden module or helper, or the construct that cannot be followed
    via: str  # the name in the student's code through which it is reached
    cell: str  # label of the cell where that happens
    line: int  # line in that cell

    def sentence(self) -> str:
        where = f"{self.cell}, line {self.line}"
        if self.via == ANYWHERE:
            return (
                f"{self.name} cannot be checked: the notebook uses {self.what} ({where}), which can "
                "replace any function without a visible assignment"
            )
        if self.kind == "forbidden":
            through = f" through {self.via}" if self.via and self.via != self.what else ""
            return f"{self.name} uses {self.what}{through} ({where}), which this exercise does not allow"
        return f"{self.name} cannot be checked: it reaches {self.what} ({where})"

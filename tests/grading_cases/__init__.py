"""The grading proofs of the chapters, as data: one module ``chNN.py`` per autograded exercise set.

``tests/test_grading_proofs.py`` grades each chapter's batch once with the real grading command and
checks that the reference scores full marks, the blank student version 0, and each typical mistake
loses exactly the points of its own cells. A new chapter adds a module here, with:

- ``ASSIGNMENT``: the assignment's name (its folder in ``solutions/`` and ``exercises/``);
- ``POINTS``: the autograded cells by grade id, in notebook order, and their points;
- ``TOTAL``: their sum, written out, so that a changed points table is noticed;
- ``MANUAL``: the answer cells left for a person, as grades.csv lists them (``;`` between);
- ``SUBMISSIONS``: ``{student: (answers by grade id, the cells that must score 0)}``, the answers
  made from the reference with ``grading_proofs.Assignment(ASSIGNMENT).variant``;
- optionally ``WORKERS`` and ``TIMEOUT`` for the batch (default 2 workers, 900 s), and
  ``CELL_TIMEOUT`` (the grader's ``--cell-timeout``; default 120 s): a proof checks scores, not
  speed, and a training cell may pass 120 s on a busy 2-core runner.

The chapter 1 exercise is proved by ``tests/test_grading.py`` and the hostile corpus instead.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

REQUIRED = ("ASSIGNMENT", "POINTS", "TOTAL", "MANUAL", "SUBMISSIONS")


def load() -> dict[str, ModuleType]:
    """Every chapter's data module by name (``ch02``, ``ch03``, ...), each checked for its fields."""
    cases = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        case = importlib.import_module(f"{__name__}.{info.name}")
        missing = [name for name in REQUIRED if not hasattr(case, name)]
        assert not missing, f"tests/grading_cases/{info.name}.py lacks {missing}"
        cases[info.name] = case
    return cases

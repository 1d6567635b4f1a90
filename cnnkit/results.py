"""Results a chapter states in its prose: measured by a cell, printed, glued and checked there.

``record`` prints a value and hands it to Jupyter Book (``myst_nb.glue``) under a name, so the text
quotes it with the ``{glue:text}`` role (``name:.2f``) instead of a typed number that the next run would
contradict. ``claim`` asserts a comparison that the text makes ("beats", "at least") where it is
computed, and says it in words. Where ``myst_nb`` is not installed (Colab), values are printed only.
"""

from __future__ import annotations

import numbers

import numpy as np


def record(name: str, value, text: str | None = None):
    """Print ``text`` (or ``name = value``) and glue ``value`` as ``name`` for the book. Returns it."""
    if not name.isidentifier():
        raise ValueError(f"a glue name must be an identifier, got {name!r}")
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, numbers.Number | str):
        raise TypeError(f"{name}: glue a number or a string, got {type(value).__name__}")
    print(text if text is not None else f"{name} = {value}")
    try:
        from myst_nb import glue
    except ImportError:  # Colab and plain Jupyter: the printed line is the result
        return value
    glue(name, value, display=False)
    return value


def claim(statement: str, holds) -> None:
    """Print ``statement`` and assert that it ``holds`` (a bool, or an array of them, all true)."""
    ok = bool(np.all(holds))
    print(("✓ " if ok else "✗ ") + statement)
    if not ok:
        raise AssertionError(f"the text claims that {statement}, and this run says otherwise")


def close(statement: str, ours, theirs, *, atol: float = 0.0, rtol: float = 1e-6) -> float:
    """Assert that ``ours`` equals ``theirs`` within tolerances; print the largest difference."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        raise AssertionError(f"{statement}: shapes {ours.shape} and {theirs.shape} differ")
    largest = float(np.abs(ours - theirs).max(initial=0.0))
    claim(f"{statement} (largest difference {largest:.1e})",
          np.allclose(ours, theirs, atol=atol, rtol=rtol))  # fmt: skip
    return largest


class Stopwatch:
    """Wall and CPU seconds of a block: ``with Stopwatch() as watch: ...``, then ``watch.cpu``.

    CPU seconds are user + system time of this process (all its threads) and of its finished
    children: what a busy machine does not inflate, unlike the wall time.
    """

    def __enter__(self) -> Stopwatch:
        import time

        self._start = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        import time

        self.wall = time.perf_counter() - self._start[0]
        self.cpu = _cpu_seconds() - self._start[1]


def _cpu_seconds() -> float:
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

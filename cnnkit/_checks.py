"""Argument checks shared by every module of ``cnnkit`` (private: the public functions call these).

Every check names the argument in its message and returns the value in a plain Python type. Integers
may be Python ``int`` or NumPy integers (``np.int64`` from an array); ``bool`` is rejected although
it is an ``int`` subclass, and so are floats, even whole ones.
"""

from __future__ import annotations

import numbers

import numpy as np


def is_int(value) -> bool:
    """True for Python and NumPy integers (NumPy registers them as ``numbers.Integral``; its bools
    are not), False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name: str) -> int:
    """``value`` as an int ≥ 1, or ``ValueError`` naming ``name``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """``value`` as an int ≥ 0, or ``ValueError`` naming ``name``."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def int_in_range(value, low: int, high: int, name: str) -> int:
    """``value`` as an int with ``low <= value < high``, or ``ValueError`` naming ``name``."""
    if not is_int(value) or not low <= value < high:
        raise ValueError(f"{name} must be an int in [{low}, {high}), got {value!r}")
    return int(value)


def positive_int_args(**arguments) -> tuple[int, ...]:
    """Check several positive-int arguments by keyword; return them as ints, in the order given."""
    return tuple(positive_int(value, name) for name, value in arguments.items())


def pair(value, name: str) -> tuple[int, int]:
    """A positive int ``n`` as ``(n, n)``, or a pair ``(height, width)`` of positive ints."""
    if is_int(value):
        return positive_int(value, name), positive_int(value, name)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a positive int or a pair (height, width), got {value!r}")
    return positive_int(value[0], name), positive_int(value[1], name)


def positive_ints(
    values, name: str, *, length: int | None = None, what: str = ""
) -> tuple[int, ...]:
    """A sequence of positive ints, e.g. a shape without its batch axis; ``length`` of them if given.

    ``what`` describes the expected form in the message (e.g. "(channels, height, width)").
    """
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be {what or 'a tuple of positive ints'}, got {values!r}")
    values = tuple(values)
    if not values or (length is not None and len(values) != length):
        expected = what or (f"{length} positive ints" if length else "a non-empty tuple")
        raise ValueError(f"{name} must be {expected}, got {values!r}")
    return tuple(positive_int(value, f"{name} entries") for value in values)


def one_of(value, options, name: str):
    """``value`` itself if it is one of ``options``, else ``ValueError`` listing them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def array_4d(value, name: str, layout: str) -> np.ndarray:
    """``value`` as a 4-D array, or ``ValueError`` naming the expected ``layout`` of its axes."""
    array = np.asarray(value)
    if array.ndim != 4:
        raise ValueError(f"{name} must be 4-D ({layout}), got shape {array.shape}")
    return array

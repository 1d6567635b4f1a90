"""What exercise tests use: ``probe``, ``time_limit`` and the plain data that crosses to the grader.

In your own Jupyter the exercise's test cells run in your kernel, and these helpers simply run there.
When a notebook is graded, the test cells run in a separate *judge* process (``autograder.judge``)
that reaches your notebook only through plain data: numbers, strings, bytes, lists, tuples, dicts and
NumPy arrays (and sets). ``to_plain`` says what counts; ``encode``/``decode`` carry it without pickle;
``serve`` is what the graded kernel runs while a test asks it for values.
"""

from __future__ import annotations

import contextlib
import signal
import time

from cnnkit.grading.kernel import recv_frame, send_frame, serve
from cnnkit.grading.plain import (
    MAGIC,
    MAX_DEPTH,
    MAX_FRAME,
    NotPlainData,
    StudentCodeError,
    decode,
    encode,
    to_plain,
)

__all__ = [
    "probe",
    "time_limit",
    "to_plain",
    "encode",
    "decode",
    "serve",
    "send_frame",
    "recv_frame",
    "NotPlainData",
    "StudentCodeError",
    "MAGIC",
    "MAX_DEPTH",
    "MAX_FRAME",
]

_judge = None  # set by the judge process: then probe and time_limit go to the student's kernel


def probe(target, function, *args, **kwargs):
    """``function(target, *args, **kwargs)``, run where the student's objects live; its result as
    plain data."""
    if _judge is not None:
        return _judge.probe(target, function, args, kwargs)
    return to_plain(function(target, *args, **kwargs))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail the calls inside with TimeoutError when they take longer than ``seconds``."""
    if _judge is not None:
        with _judge.time_limit(seconds):
            yield
        return
    start = time.perf_counter()

    def too_slow(signum, frame):
        raise TimeoutError(f"took more than {seconds:g} s")

    alarm = hasattr(signal, "SIGALRM")  # stops a slow Python loop early (not on Windows)
    if alarm:
        previous = signal.signal(signal.SIGALRM, too_slow)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.perf_counter() - start > seconds:
        raise TimeoutError(f"took more than {seconds:g} s")

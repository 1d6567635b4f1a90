"""The judge's view of the student's notebook: proxies that reach it only through plain data.

A name a test uses that the judge does not define is the student's: a function or class becomes a
``StudentFunction`` (calling it sends plain-data arguments to the kernel, or to the clean room of
its ``grading.forbid`` rule, and brings plain data back), a plain value is copied, any other object
is a ``StudentObject`` that only ``cnnkit.grading.probe`` can reach. ``Student`` sends the requests
over the judge's channel to the grader, which relays them.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import json
import socket
import struct
import textwrap
import time

from cnnkit import grading
from cnnkit.grading import NotPlainData, StudentCodeError, recv_frame, send_frame


class KernelStopped(BaseException):
    """The student's kernel is gone: the test cannot go on (not catchable by ``except Exception``)."""


class StudentFunction:
    """A function or class of the student's notebook: calling it runs it in the student's kernel."""

    def __init__(self, student: Student, name: str):
        self._student, self._cnnkit_reference = student, name

    def __call__(self, *args, **kwargs):
        return self._student.call(self._cnnkit_reference, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self._cnnkit_reference}>"


class StudentObject:
    """An object of the student's notebook that is not plain data: reachable only with probe()."""

    def __init__(self, name: str, kind: str):
        self._cnnkit_reference, self._kind = name, kind

    def __getattr__(self, attribute):
        raise TypeError(
            f"{self._cnnkit_reference} is {self._kind} in the student's notebook; "
            "tests reach such objects with cnnkit.grading.probe()"
        )

    def __repr__(self) -> str:
        return f"<the student's {self._cnnkit_reference}: {self._kind}>"


def _prepare(value):
    """Arguments for the student's side: proxies stay references, the rest must be plain data."""
    if isinstance(value, (StudentFunction, StudentObject)):
        return value
    if type(value) in (list, tuple):
        return type(value)(_prepare(item) for item in value)
    if type(value) is dict:
        return {key: _prepare(item) for key, item in value.items()}
    return grading.to_plain(value)


def _student_error(name: str, reply: dict) -> BaseException:
    """The student's exception, as the built-in exception of its type (or its nearest built-in base)."""
    cls = getattr(builtins, str(reply.get("builtin")), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = StudentCodeError
    kind, message = str(reply.get("type"))[:100], str(reply.get("message"))[:2000]
    if kind != cls.__name__:
        message = f"{kind}: {message}"
    error = cls(message)
    error._cnnkit_student = name
    return error


class Student:
    """The student's notebook as the tests see it: one request at a time over the grader's channel."""

    def __init__(self, sock: socket.socket, rooms: dict[str, tuple[str, list[str]]] | None = None):
        self.sock = sock
        self.rooms = rooms or {}  # graded name -> (its clean room, the cells it needs)
        self.limits: list[float] = []  # deadlines of the enclosing time_limit blocks
        self.active = False  # lookups are refused while the judge cells run

    def request(self, message: dict) -> dict:
        """Send one request (a small header for the grader, the body for the kernel or the clean
        room that holds the name); the reply."""
        header = {"op": message["op"]}
        room = self.rooms.get(message.get("name"))
        if room is not None:
            header["room"], header["needs"] = room
        if self.limits:
            header["timeout"] = max(0.0, min(self.limits) - time.monotonic())
        head = json.dumps(header).encode()
        body = grading.encode(message, plain=False)
        send_frame(self.sock, struct.pack(">I", len(head)) + head + body)
        try:
            reply = grading.decode(recv_frame(self.sock))
        except (ValueError, TypeError, KeyError, struct.error):
            reply = None
        if not isinstance(reply, dict):
            reply = {"kind": "error", "message": "the student's side sent something unreadable"}
        if reply.get("kind") == "stopped":
            raise KernelStopped()
        return reply

    def read(self, name: str):
        if not self.active:
            raise KeyError(name)
        reply = self.request({"op": "read", "name": name})
        kind = reply.get("kind")
        if kind == "callable":
            return StudentFunction(self, name)
        if kind == "value":
            return reply.get("value")
        if kind == "object":
            return StudentObject(name, str(reply.get("type"))[:200])
        raise KeyError(name)  # missing, a module, or nonsense: a NameError in the test

    def call(self, name: str, args, kwargs):
        arguments = [_prepare(list(args)), _prepare(dict(kwargs))]
        reply = self.request({"op": "call", "name": name, "args": arguments})
        return self._result(name, reply)

    def probe(self, target, function, args, kwargs):
        name = getattr(target, "_cnnkit_reference", None)
        if not isinstance(name, str):
            raise TypeError("probe() reaches the student's functions and objects (by their names)")
        source = textwrap.dedent(inspect.getsource(function))
        message = {
            "op": "probe",
            "name": name,
            "function": function.__name__,
            "source": source,
            "args": [_prepare(list(args)), _prepare(dict(kwargs))],
        }
        return self._result(name, self.request(message))

    def _result(self, name: str, reply: dict):
        kind = reply.get("kind")
        if kind == "returned":
            return reply.get("value")
        if kind == "raised":
            raise _student_error(name, reply)
        if kind == "not plain":
            raise NotPlainData(
                f"{name} returned {str(reply.get('type'))[:200]}, which the tests cannot receive "
                "(plain data: numbers, strings, bytes, lists, tuples, dicts, NumPy arrays)"
            )
        if kind == "interrupted":
            error = TimeoutError(f"{name} ran past its time limit and was interrupted")
            error._cnnkit_student = name
            raise error
        raise NotPlainData(f"{name}: {str(reply.get('message'))[:300]}")

    @contextlib.contextmanager
    def time_limit(self, seconds: float):
        self.limits.append(time.monotonic() + seconds)
        try:
            yield
        finally:
            self.limits.pop()

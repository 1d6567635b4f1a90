"""Stage 4, judge: the test cells run here, in a process of their own, never in the student's kernel.

``python -m autograder.judge SOCKET TOKEN`` runs in its own sandbox. It receives from the grader
the assignment's judge cells (the test helpers) and test cells, hidden tests included, and the
student's code as text. It holds every reference, expected value and piece of evaluation data; the
student's kernel never sees them. A name a test uses that the judge does not define is the
student's: a function or class becomes a ``StudentFunction`` (calls send plain-data arguments to
the kernel and bring plain data back), a plain value is copied, any other object is a
``StudentObject`` that only ``cnnkit.grading.probe`` can reach. "Write it yourself" is checked here
on the submitted source (``autograder.reach``) before the tests run.

``JudgeProcess`` is the grader's side: it starts the judge, and relays its requests to the kernel
(``autograder.run.Kernel``) under the time limits.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import json
import linecache
import math
import secrets
import select
import socket
import struct
import sys
import time
import traceback
from pathlib import Path

from autograder.cpushare import TestClock
from autograder.room import CleanRoom, RoomFailed, plan_rooms
from autograder.run import STARTUP_TIMEOUT, Box, Stop, home_of, process_env
from autograder.student import KernelStopped, Student
from cnnkit import grading
from cnnkit.grading import NotPlainData, recv_frame, send_frame

ROOT = Path(__file__).resolve().parent.parent
JUDGE_SLACK = 60  # seconds a test may spend in the judge itself, beyond the cell's time limit


# --- the judge's side ---------------------------------------------------------------------------


class Namespace(dict):
    """The judge's globals: a name it does not define is looked up in the student's notebook."""

    def __init__(self, student: Student):
        super().__init__(__name__="__main__", __builtins__=builtins)
        self.student = student

    def __missing__(self, name: str):
        if name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        return self.student.read(name)


def _compile_cell(code: str, filename: str):
    """(body, last expression or None) of a cell, registered so that inspect.getsource works."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        last = compile(last, filename, "eval")
    return compile(tree, filename, "exec"), last


def _failing_line(error: BaseException, filename: str) -> int:
    line = 0
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def _reason(error: BaseException, filename: str, hidden_lines: set[int]) -> dict:
    """What went wrong, as data; ``hidden`` when it happened on a line of a hidden test."""
    hidden = _failing_line(error, filename) in hidden_lines
    message = str(error)[:2000]
    student = getattr(error, "_cnnkit_student", None)
    if isinstance(error, TimeoutError) and student:
        return {"kind": "timeout", "name": student, "hidden": hidden}
    if student:
        return {
            "kind": "student",
            "name": student,
            "type": type(error).__name__,
            "message": message,
            "hidden": hidden,
        }
    if isinstance(error, NotPlainData):
        return {"kind": "not plain", "message": message, "hidden": hidden}
    if isinstance(error, AssertionError):
        return {"kind": "assertion", "message": message, "hidden": hidden}
    if isinstance(error, NameError) and getattr(error, "name", None):
        return {"kind": "missing", "name": error.name, "hidden": hidden}
    return {"kind": "error", "type": type(error).__name__, "message": message, "hidden": hidden}


class Judge:
    def __init__(self, sock: socket.socket, setup: dict):
        self.sock = sock
        names, self.rooms, self.notes = plan_rooms(setup)
        self.student = Student(sock, names)
        self.namespace = Namespace(self.student)
        self.passed: dict[str, bool] = {}  # grade_id -> passed in full
        grading._judge = self.student

    def run_helpers(self, cells: list[dict]) -> str:
        """Run the judge cells; an error there is the instructor's, reported as such."""
        for cell in cells:
            filename = f"<judge cell {cell['label']}>"
            try:
                body, last = _compile_cell(cell["code"], filename)
                exec(body, self.namespace)
                if last is not None:
                    eval(last, self.namespace)
            except BaseException as error:  # noqa: BLE001
                first = (str(error).strip().splitlines() or [""])[0]
                return f"{cell['label']}: {type(error).__name__}: {first}"[:300]
        return ""

    def run_test(self, test: dict) -> dict:
        """One test cell's verdict. A cell with ``pairs_with`` (an error-path test: "bad padding
        raises") pays only when those success-path cells of the same function passed in full:
        a function that raises on every input does not collect the error-path points."""
        verdict = self._run_test(test)
        unpaid = [g for g in test.get("pairs_with") or [] if not self.passed.get(g)]
        if unpaid and verdict["outcome"] in ("passed", "partial"):
            verdict = {
                "score": 0.0,
                "outcome": "failed",
                "reason": {"kind": "paired", "cells": unpaid},
            }
        self.passed[test["grade_id"]] = verdict["outcome"] == "passed"
        return verdict

    def _run_test(self, test: dict) -> dict:
        grade_id, points = test["grade_id"], float(test["points"])
        filename = f"<test cell {grade_id}>"
        hidden_lines = set(test["hidden_lines"])
        self.student.active, self.student.limits = True, []
        try:
            body, last = _compile_cell(test["code"], filename)
            exec(body, self.namespace)
            value = eval(last, self.namespace) if last is not None else None
        except KernelStopped:
            return {"score": 0.0, "outcome": "not run", "reason": {"kind": "stopped"}}
        except SyntaxError as error:
            return {
                "score": 0.0,
                "outcome": "failed",
                "reason": {"kind": "judge", "message": str(error)},
            }
        except BaseException as error:  # noqa: BLE001 - every failure of the test is a verdict
            return {
                "score": 0.0,
                "outcome": "failed",
                "reason": _reason(error, filename, hidden_lines),
            }
        finally:
            self.student.active = False
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            score = max(0.0, min(float(value), points))
            if score < points:
                return {"score": score, "outcome": "partial", "reason": {"kind": "partial"}}
        return {"score": points, "outcome": "passed", "reason": {}}


def _send_header(sock: socket.socket, header: dict) -> None:
    head = json.dumps(header).encode()
    send_frame(sock, struct.pack(">I", len(head)) + head)


def main(argv: list[str]) -> int:
    path, token = argv
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    send_frame(sock, json.dumps({"hello": token}).encode())
    setup = json.loads(recv_frame(sock))
    judge = Judge(sock, setup)
    error = judge.run_helpers(setup["helpers"])
    for module in setup.get("preload", []):  # what the tests import: now, while the kernel works
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    _send_header(sock, {"op": "ready", "error": error, "rooms": judge.rooms, "notes": judge.notes})
    while True:
        try:
            message = json.loads(recv_frame(sock))
        except ConnectionError:
            return 0
        if message.get("op") != "test":
            return 0
        _send_header(sock, {"op": "result", **judge.run_test(message)})


# --- the grader's side ----------------------------------------------------------------------------


class JudgeFailed(Exception):
    """The judge itself failed (the grader's or the instructor's fault, never the student's)."""


class JudgeProcess:
    """Start the judge in its sandbox, hand it the tests, relay its requests to the kernel."""

    def __init__(self, box, limits):
        self.box, self.limits, self.startup = box, limits, STARTUP_TIMEOUT
        self.sock: socket.socket | None = None
        self.kernel_stopped = False
        self.rooms: dict[str, CleanRoom] = {}
        self.notes: list[str] = []  # what the reach analysis found, for the instructor

    def start(self) -> None:
        self.token = secrets.token_hex(16)
        self.box.run_dir.mkdir(parents=True)
        path = self.box.run_dir / "judge.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        path.chmod(0o666)
        self.listener.listen(1)
        argv = [sys.executable, "-s", "-m", "autograder.judge", str(path), self.token]
        env = process_env(self.limits, home_of(self.box, "judge"))
        readonly = [str(ROOT / "autograder")]
        if self.box.isolation.judge_data:  # the held-out evaluation data: only the judge sees it
            env["CNNKIT_JUDGE_DATA"] = self.box.isolation.judge_data
            readonly.append(self.box.isolation.judge_data)
        self.box.start(argv, env, "judge", extra_readonly=readonly)

    def connect(self, setup: dict, deadline: float) -> None:
        """Accept the judge's connection and send the set-up; the judge then runs its helpers while
        the kernel runs the student's first cells (``run_test`` waits until they are done)."""
        self.listener.settimeout(0.5)
        end = self.ready_by = min(time.monotonic() + self.startup, deadline)
        while self.sock is None:
            if time.monotonic() > end or not self.box.alive():
                raise JudgeFailed("the judge did not start")
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(30)
            hello = json.loads(recv_frame(connection, 1024))
            if hello.get("hello") == self.token:
                self.sock = connection
            else:
                connection.close()
        send_frame(self.sock, json.dumps(setup).encode())
        self.ready = False

    def _wait_ready(self, deadline: float) -> None:
        # The judge had the kernel's time so far; a loaded machine may need more (a helper cell that
        # imports TensorFlow and loads a data set): give it a few cell limits more, at least.
        patience = 3 * max(self.startup, self.limits.cell_timeout)
        ready, _ = self._receive(min(deadline, max(self.ready_by, time.monotonic() + patience)))
        if ready.get("op") != "ready":
            raise JudgeFailed("the judge did not get ready")
        if ready.get("error"):
            raise JudgeFailed(f"a judge cell failed: {ready['error']}")
        self.notes = [str(note)[:300] for note in ready.get("notes") or []][:20]
        self._start_rooms(ready.get("rooms") or {})
        self.ready = True

    def _start_rooms(self, rooms: dict) -> None:
        """Start every clean room now: they start together, and run their cells meanwhile."""
        for key, spec in sorted(rooms.items())[:20]:
            name = f"room{len(self.rooms)}"
            box = Box(self.box.job_dir, self.box.job_dir / name, self.limits, self.box.isolation)
            room = CleanRoom(box, self.limits, name, spec["forbid"], spec["cells"])
            self.rooms[str(key)] = room
            room.start()

    def _room(self, key, deadline: float) -> CleanRoom:
        room = self.rooms.get(key)
        if room is None:
            raise JudgeFailed(f"the judge asked for an unknown clean room {str(key)[:40]!r}")
        if room.sock is None and not room.broken:
            try:
                room.connect(deadline)
            except RoomFailed as error:
                raise JudgeFailed(str(error)) from None
        return room

    def _receive(self, end: float) -> tuple[dict, bytes]:
        """The judge's next frame: its header (what the grader reads) and body (for the kernel)."""
        while True:
            if not self.box.alive():
                raise JudgeFailed("the judge stopped")
            left = end - time.monotonic()
            if left <= 0:
                self.box.kill("the judge took too long")
                raise JudgeFailed("the judge took too long")
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if ready:
                self.sock.settimeout(60)
                frame = recv_frame(self.sock)
                (size,) = struct.unpack(">I", frame[:4])
                return json.loads(frame[4 : 4 + size]), frame[4 + size :]

    def run_test(self, test: dict, kernel, deadline: float, run) -> dict:
        """One test cell in the judge; the kernel answers its requests (outputs go to ``run``)."""
        if not self.ready:
            self._wait_ready(deadline)
        start = time.monotonic()
        cell_end = min(start + self.limits.cell_timeout, deadline)
        send_frame(self.sock, json.dumps({"op": "test", **test}).encode())
        serving = False
        stopped = grading.encode({"kind": "stopped"})
        try:
            while True:
                header, body = self._receive(cell_end + JUDGE_SLACK)
                if header.get("op") == "result":
                    return header
                if header.get("room") is not None:
                    started = time.monotonic()
                    room = self._room(header["room"], deadline)
                    room.ensure([str(label) for label in header.get("needs") or []], deadline)
                    # the room's start-up and the answer's cells do not count as the test's time
                    cell_end = min(cell_end + time.monotonic() - started, deadline)
                    left = cell_end - time.monotonic()
                    wanted = header.get("timeout")
                    timeout = left if wanted is None else min(float(wanted), left)
                    clock = None
                    if timeout < left:  # a test's time_limit: the room's CPU seconds
                        clock = TestClock(room.box, max(timeout, 0.0), cell_end)
                    reply, stopped_it = room.request(body, max(timeout, 0.0), deadline, clock)
                    if stopped_it and timeout >= left:
                        run.status = "interrupted"
                elif self.kernel_stopped:
                    reply = stopped
                else:
                    try:
                        if not serving:
                            kernel.open_channel(deadline, run)
                            serving = True
                        left = cell_end - time.monotonic()
                        wanted = header.get("timeout")
                        timeout = left if wanted is None else min(float(wanted), left)
                        reply = kernel.request(
                            body,
                            max(timeout, 0.0),
                            deadline,
                            run,
                            cell_limit=timeout >= left,
                            wall_end=cell_end,
                        )
                    except Stop:
                        self.kernel_stopped = True
                        reply = stopped
                send_frame(self.sock, reply)
        finally:
            run.seconds = time.monotonic() - start
            if serving and not self.kernel_stopped:
                try:
                    kernel.close_channel(deadline)
                except Stop:
                    self.kernel_stopped = True

    def close(self) -> None:
        for room in self.rooms.values():
            with contextlib.suppress(Exception):
                room.close()
        with contextlib.suppress(Exception):
            if self.sock is not None:
                self.sock.close()
        with contextlib.suppress(Exception):
            self.listener.close()
        self.box.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Stage 3b, the clean room: a function graded under ``grading.forbid`` runs where the forbidden
packages do not exist.

"Write it yourself" is not watched but made true. For each ``grading.forbid`` rule of a submission
the grader starts one more sandboxed interpreter (``autograder.sandbox``, like the kernel) in which
every forbidden package's folder (or module file) is replaced by a stub whose import raises
``ModuleNotFoundError`` with a sentence for the student: the package's code is not on the file
system that process sees, and a fresh interpreter has nothing of it in ``sys.modules``. The room
runs only the student's cells that the graded names reach (``autograder.reach.cells_needed``, which
chooses cells and no longer decides a score), then answers the judge's requests for those names
exactly as the kernel would (``autograder/room_server.py``). The room's program imports nothing of
``cnnkit``: the grader copies it, and ``cnnkit/grading/plain.py``, into the room's connection folder.

Everything the room sends is untrusted bytes that only the judge reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import select
import shutil
import socket
import sys
import time
from pathlib import Path

from autograder.box import Box, home_of, process_env
from autograder.run import GRACE, STARTUP_TIMEOUT
from cnnkit.grading import encode, recv_frame, send_frame

ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(__file__).resolve().parent / "room_server.py"
PLAIN = ROOT / "cnnkit" / "grading" / "plain.py"
STUB = "raise ModuleNotFoundError(\n    {message!r},\n    name={name!r},\n)\n"


def absent_sentence(module: str) -> str:
    return (
        f"{module} does not exist where this answer is graded: the exercise asks you to write it "
        f"without {module}, so the grader runs it in a fresh Python in which {module} is not installed"
    )


def package_locations(module: str) -> set[str]:
    """Where ``module`` lives for this Python: its package folders or its module file, each under
    every name the sandbox may mount it at (the path and its real path)."""
    found: set[str] = set()
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        if spec.submodule_search_locations:
            found |= set(spec.submodule_search_locations)
        elif spec.origin and os.path.isfile(spec.origin):
            found.add(spec.origin)
    if "." not in module:  # a copy elsewhere on the path (an editable install, a second site)
        for entry in sys.path:
            for candidate in (os.path.join(entry, module), os.path.join(entry, f"{module}.py")):
                if entry and os.path.exists(candidate):
                    found.add(candidate)
    return {
        variant for path in found for variant in (os.path.abspath(path), os.path.realpath(path))
    }


def absent_packages(forbid) -> list[dict]:
    """The sandbox's ``absent`` entries for a forbid list."""
    entries = []
    for module in sorted(set(forbid)):
        stub = STUB.format(message=absent_sentence(module), name=module)
        for path in sorted(package_locations(module)):
            entries.append({"path": path, "stub": stub})
    return entries


def _stopped(message: str) -> bytes:
    return encode({"kind": "raised", "type": "RuntimeError", "builtin": "RuntimeError",
                   "message": message})  # fmt: skip


class RoomFailed(Exception):
    """The room's sandbox did not start: the grader's problem, never the student's (no student
    code runs in a room before it connects)."""


class CleanRoom:
    """One clean room: start it, hand it its cells, relay requests to it."""

    def __init__(self, box: Box, limits, name: str, forbid: list[str], cells: list):
        self.box, self.limits, self.name = box, limits, name
        self.forbid, self.cells = list(forbid), [(str(c[0]), str(c[1])) for c in cells]
        self.sock: socket.socket | None = None
        self.ran: set[str] = set()  # labels of the cells the room has run
        self.broken = ""  # why the room cannot answer (then every request gets this as an error)

    def start(self) -> None:
        run_dir = self.box.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SERVER, run_dir / "room_server.py")
        shutil.copyfile(PLAIN, run_dir / "_plain.py")
        for path in (run_dir / "room_server.py", run_dir / "_plain.py"):
            path.chmod(0o644)
        self.token = secrets.token_hex(16)
        path = run_dir / "room.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        path.chmod(0o666)
        self.listener.listen(1)
        argv = [sys.executable, "-s", str(run_dir / "room_server.py"), str(path), self.token]
        env = process_env(self.limits, home_of(self.box, self.name))
        self.box.start(argv, env, self.name, absent=absent_packages(self.forbid))

    def connect(self, deadline: float) -> None:
        """Accept the room's connection; RoomFailed if it never comes."""
        self.listener.settimeout(0.5)
        end = min(time.monotonic() + STARTUP_TIMEOUT, deadline)
        while self.sock is None:
            if time.monotonic() > end or not self.box.alive():
                raise RoomFailed(f"a clean room did not start ({self.box.report(self.name)})"[:300])
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(30)
            try:
                hello = json.loads(recv_frame(connection, 1024))
            except (OSError, ValueError):
                connection.close()
                continue
            if hello.get("hello") == self.token:
                self.sock = connection
            else:
                connection.close()

    def ensure(self, labels, deadline: float) -> None:
        """Run, in the notebook's order, the cells of ``labels`` the room has not run yet: a room
        runs a cell only when a test first calls a name that reaches it."""
        if self.broken or self.sock is None:
            return
        wanted = set(labels) - self.ran
        cells = [[label, code] for label, code in self.cells if label in wanted]
        if not cells:
            return
        self.ran |= wanted
        send_frame(self.sock, json.dumps({"cells": cells, "absent": self.forbid}).encode())
        budget = self.limits.cell_timeout * len(cells)
        if self._wait(min(time.monotonic() + budget, deadline)) is None:
            self.broken = (
                "its cells did not finish running in the clean room"
                if self.box.alive()
                else "its clean room stopped while it ran the answer's cells"
            )
            self.box.kill()

    def _wait(self, end: float, clock=None) -> bytes | None:
        """The room's next frame; None past ``end``, or when the room is gone (its end closes the
        socket first: then the box gets a moment to finish, so that it reads as gone)."""
        if clock is not None:
            end = max(end, clock.wall_end)  # the clock decides, its wall watchdog included
        while time.monotonic() < end and not (clock is not None and clock.over()):
            if not self.box.alive():
                return None
            if select.select([self.sock], [], [], 0.1)[0]:
                self.sock.settimeout(60)
                try:
                    return recv_frame(self.sock)
                except (OSError, ValueError):
                    gone = time.monotonic() + 2
                    while self.box.alive() and time.monotonic() < gone:
                        time.sleep(0.05)
                    return None
        return None

    def request(
        self, payload: bytes, timeout: float, deadline: float, clock=None
    ) -> tuple[bytes, bool]:
        """The room's reply to one request of the judge (untrusted bytes), and whether the room
        was interrupted past ``timeout`` (or, with a test's ``clock``, past its CPU seconds)."""
        if self.broken:
            return _stopped(self.broken), False
        send_frame(self.sock, payload)
        reply = self._wait(min(time.monotonic() + timeout, deadline), clock)
        if reply is not None:
            return reply, False
        if self.box.alive():
            self.box.interrupt()
            reply = self._wait(time.monotonic() + GRACE)
            if reply is not None:
                return reply, True
            self.box.kill()
            self.broken = "it was stopped after running past its time limit"
            return encode({"kind": "interrupted"}), True
        self.broken = "its clean room stopped (the process ended)"
        return _stopped(self.broken), False

    def close(self) -> None:
        for thing in (self.sock, getattr(self, "listener", None)):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass
        self.box.close()


def plan_rooms(setup: dict) -> tuple[dict[str, str], dict[str, dict], list[str]]:
    """The clean rooms of a submission: names graded under the same ``grading.forbid`` rule share
    one, which runs the student's cells they reach with the rule's packages absent.

    Returns (room of each graded name, each room's forbid list and cells, notes for the instructor:
    what the static reach analysis finds; it no longer decides a score).
    """
    from autograder import reach

    cells = [tuple(cell) for cell in setup["student_cells"]]
    program = reach.Program(cells)
    helpers = set(setup["helper_names"]) - set(program.definitions)
    groups: dict[tuple[str, ...], list[str]] = {}
    notes = []
    for name, modules in sorted(setup["forbid"].items()):
        groups.setdefault(tuple(sorted(set(modules))), []).append(name)
        found = reach.check(program, name, modules, helpers)
        if found:
            notes.append(found.sentence())
    names, rooms = {}, {}
    for number, (modules, graded) in enumerate(sorted(groups.items())):
        key = f"room{number}"
        needed = {name: reach.cells_needed(program, [name]) for name in graded}
        every = set().union(*needed.values())
        rooms[key] = {
            "forbid": list(modules),
            "cells": [
                [label, _python_or_blank(source)] for label, source in cells if label in every
            ],
        }
        names.update({name: (key, sorted(needed[name])) for name in graded})
    return names, rooms, sorted(set(notes))


def _python_or_blank(source: str) -> str:
    from autograder.reach_source import python_source

    try:
        return python_source(source)
    except Exception:  # noqa: BLE001 - it does not run in the kernel either
        return source

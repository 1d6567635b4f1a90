"""Stage 3, run: the student's notebook in a sandboxed kernel, cell by cell, under limits.

A ``Box`` is one sandboxed process tree (``autograder.sandbox``) with a watchdog for memory and
processes; the student's kernel runs in one, the judge (``autograder.judge``) in another. The
grader is the kernel's client (``jupyter_client``) over the Unix sockets the kernel binds: in its
private ``/tmp`` (``KERNEL_SOCKETS``), which the grader reaches through the box's root, with
namespaces; in its connection folder without them. While a test cell runs in the judge, the kernel
runs ``cnnkit.grading.serve`` and answers the judge's requests over a socket the grader binds in
the connection folder (``Kernel.channel``), which the kernel sees read-only. Everything the kernel
sends is untrusted input: it is size-checked, capped (``autograder.outputs``), and never decides a
verdict alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import socket
import sys
import time
from pathlib import Path
from queue import Empty

from autograder import sandbox
from autograder.box import (  # noqa: F401 - the names the grader knows them by
    MEMORY_SLACK,
    Box,
    Isolation,
    Limits,
    home_of,
    process_env,
)
from autograder.cpushare import TestClock
from autograder.outputs import CellRun, Outputs, clipped
from cnnkit.grading import recv_frame, send_frame

ROOT = Path(__file__).resolve().parent.parent
KERNEL_SOCKETS = "/tmp/ipc"  # with namespaces: where the kernel binds its sockets (private tmpfs)
STARTUP_TIMEOUT = 120  # seconds for a kernel to answer its first request
GRACE = 5  # seconds a kernel gets to stop after an interrupt
IOPUB_GRACE = 3  # seconds to wait for the last outputs after the reply


class Stop(Exception):
    """The kernel is gone (or was stopped): the run ends here."""


class Kernel:
    """The student's kernel: run cells, and serve the judge's requests (all replies untrusted)."""

    def __init__(self, box: Box, limits: Limits):
        self.box, self.limits = box, limits
        self.client = None
        self.outputs = Outputs(limits)
        self.channel: socket.socket | None = None
        self._serving: str | None = None  # msg_id of the running serve() request
        self._serve_run: CellRun | None = None
        self.sockets: int | None = None  # the descriptor of the kernel's socket folder

    def start(self) -> None:
        inside = self.box.isolation.mode == "namespaces"
        info = {
            "transport": "ipc",
            # the kernel binds its sockets: in its private /tmp, with namespaces
            "ip": f"{KERNEL_SOCKETS}/k" if inside else str(self.box.run_dir / "k"),
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": secrets.token_hex(32),
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }
        self.box.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.box.run_dir / "kernel.json"
        path.write_text(json.dumps(info), encoding="utf-8")
        path.chmod(0o644)
        self.box.start(
            [
                sys.executable,
                "-s",
                "-m",
                "ipykernel_launcher",
                "-f",
                str(self.box.run_dir / "kernel.json"),
                "--HistoryManager.enabled=False",
                "--IPKernelApp.quiet=True",
            ],
            process_env(self.limits, home_of(self.box, "kernel")),
            "kernel",
            folders=[KERNEL_SOCKETS] if inside else [],
        )
        self.info = info
        self.serve_path = self.box.run_dir / "serve.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.serve_path))
        self.serve_path.chmod(0o666)
        self.listener.listen(1)

    def _connect(self, end: float) -> None:
        """The grader's client of the kernel's sockets. With namespaces the kernel binds them in
        its private /tmp, which the grader reaches through the box's root (/proc/self/fd/N/k-1)."""
        from jupyter_client import BlockingKernelClient

        info = self.info
        if self.box.isolation.mode == "namespaces":
            try:
                self.sockets = self.box.inside(KERNEL_SOCKETS, end)
            except OSError as error:
                raise Stop("the kernel did not start") from error
            info = {**info, "ip": f"/proc/self/fd/{self.sockets}/k"}
        self.client = BlockingKernelClient()
        self.client.load_connection_info(info)
        self.client.start_channels()

    def wait_ready(self, deadline: float) -> None:
        end = min(time.monotonic() + STARTUP_TIMEOUT, deadline)
        self._connect(end)
        while time.monotonic() < end:
            if not self.box.alive():
                raise Stop("the kernel did not start")
            msg_id = self.client.kernel_info()
            try:
                while True:
                    reply = self.client.get_shell_msg(timeout=1)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        time.sleep(0.2)
                        self._drain(None, {})
                        return
            except Empty:
                continue
        raise Stop("the kernel did not start in time")

    # --- running a cell ---------------------------------------------------------------------

    def execute(self, code: str, deadline: float) -> CellRun:
        """Run one cell; interrupt it past the cell limit, kill the kernel if it does not stop."""
        run = CellRun()
        start = time.monotonic()
        msg_id = self.client.execute(
            code, store_history=True, allow_stdin=False, stop_on_error=False
        )
        cell_deadline = min(start + self.limits.cell_timeout, deadline)
        reply = self._wait_reply(msg_id, run, cell_deadline, deadline)
        run.seconds = time.monotonic() - start
        if run.status != "interrupted":
            run.status = "ok" if reply.get("status") == "ok" else "error"
        if reply.get("status") != "ok":
            run.ename = clipped(reply.get("ename"), 200) or run.ename or "Error"
            run.evalue = clipped(reply.get("evalue"), 2000) or run.evalue
        return run

    def _wait_reply(self, msg_id, run: CellRun, cell_deadline: float, deadline: float) -> dict:
        interrupted_at = None
        reply = None
        idle = False
        idle_deadline = 0.0
        streams: dict[str, dict] = {}
        while not (reply is not None and (idle or time.monotonic() > idle_deadline)):
            now = time.monotonic()
            if self.box.reason or not self.box.alive():
                raise Stop("")
            if reply is None and now > cell_deadline:
                if now >= deadline and interrupted_at is None:
                    self.box.kill("over_time")
                    raise Stop("")
                if interrupted_at is None:
                    interrupted_at = now
                    run.status = "interrupted"
                    self.box.interrupt()
                elif now > interrupted_at + GRACE:
                    self.box.kill("cell_stuck")
                    raise Stop("")
            if self._poll_iopub(0.05, msg_id, run, streams) == "idle":
                idle = True
            if reply is None:
                try:
                    shell = self.client.get_shell_msg(timeout=0)
                except Empty:
                    shell = None
                if shell is not None and shell.get("parent_header", {}).get("msg_id") == msg_id:
                    reply = shell.get("content") if isinstance(shell.get("content"), dict) else {}
                    idle_deadline = time.monotonic() + IOPUB_GRACE
        return reply

    def _poll_iopub(self, timeout: float, msg_id, run: CellRun | None, streams: dict):
        """Handle one iopub message (outputs of ``msg_id`` go to ``run``); "empty" when none came."""
        try:
            msg = self.client.get_iopub_msg(timeout=timeout)
        except Empty:
            return "empty"
        if self.outputs.flooded(msg):
            self.box.kill("flood")
            raise Stop("")
        if run is None or msg.get("parent_header", {}).get("msg_id") != msg_id:
            return None
        return self.outputs.handle(msg, run, streams)

    def _drain(self, run: CellRun | None, streams: dict, most: int = 1000) -> None:
        """Handle the iopub messages already waiting (without blocking)."""
        for _ in range(most):
            if self._poll_iopub(0.0, self._serving, run, streams) == "empty":
                return

    # --- serving the judge -------------------------------------------------------------------

    def open_channel(self, deadline: float, run: CellRun) -> None:
        """Start ``cnnkit.grading.serve`` in the kernel and accept its connection."""
        token = secrets.token_hex(16)
        code = (
            "__import__('cnnkit.grading', fromlist=['serve']).serve("
            f"{str(self.serve_path)!r}, {token!r})"
        )
        self._serving = self.client.execute(code, silent=True, store_history=False)
        self._serve_run = run
        self.listener.settimeout(0.2)
        end = min(time.monotonic() + 30, deadline)
        while time.monotonic() < end:
            if self.box.reason or not self.box.alive():
                raise Stop("")
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                self._drain(run, {})
                continue
            connection.settimeout(10)
            try:
                hello = json.loads(recv_frame(connection, 1024))
            except (OSError, ValueError):
                connection.close()
                continue
            if hello.get("hello") == token:
                self.channel = connection
                return
            connection.close()
        raise Stop("the kernel did not answer the tests (it may be busy or broken)")

    def request(
        self,
        payload: bytes,
        timeout: float,
        deadline: float,
        run: CellRun,
        cell_limit: bool = True,
        wall_end: float | None = None,
    ) -> bytes:
        """Send one request of the judge to the kernel and return its reply (untrusted bytes).

        Past ``timeout`` the kernel is interrupted (the reply then says so); if it does not answer
        within the grace period after that, it is killed (Stop). ``cell_limit``: the timeout is the
        cell's own limit (the cell is then reported as interrupted), not a test's ``time_limit``,
        which counts the kernel's CPU seconds, with wall time up to ``wall_end`` as a watchdog.
        """
        send_frame(self.channel, payload)
        end = min(time.monotonic() + timeout, deadline)
        clock = None if cell_limit else TestClock(self.box, timeout, min(wall_end or end, deadline))
        interrupted_at = None
        streams: dict[str, dict] = {}
        while True:
            if self.box.reason or not self.box.alive():
                raise Stop("")
            ready, _, _ = select.select([self.channel], [], [], 0.05)
            if ready:
                self.channel.settimeout(60)
                try:
                    return recv_frame(self.channel)
                except (OSError, ValueError) as error:
                    self._wait_for_exit(2.0)  # a dying kernel closes the channel first
                    if self.box.alive():
                        self.box.kill(f"it broke the connection to the tests ({error})")
                    raise Stop("") from error
            self._drain(run, streams)
            now = time.monotonic()
            past = clock.over() if clock is not None else now > end
            if interrupted_at is None and (past or now >= deadline):
                if now >= deadline:
                    self.box.kill("over_time")
                    raise Stop("")
                interrupted_at = now
                if cell_limit:  # past a test's own time_limit, the reply says so and the test fails
                    run.status = "interrupted"
                self.box.interrupt()
            elif interrupted_at is not None and now > interrupted_at + GRACE:
                self.box.kill("cell_stuck")
                raise Stop("")

    def _wait_for_exit(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.box.alive() and time.monotonic() < end:
            time.sleep(0.05)

    def close_channel(self, deadline: float) -> None:
        """Tell ``serve`` to return and wait for its reply (the kernel is then free again)."""
        if self.channel is not None:
            with contextlib.suppress(OSError):
                send_frame(self.channel, b'{"op": "end"}')
            self.channel.close()
            self.channel = None
        if self._serving is not None:
            run = self._serve_run or CellRun()
            self._wait_reply(self._serving, run, time.monotonic() + GRACE * 2, deadline)
            self._serving = None

    @property
    def truncated(self) -> bool:
        """Whether some output was cut (the graded notebook then says so)."""
        return self.outputs.truncated

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()
        with contextlib.suppress(Exception):
            self.listener.close()
        if self.sockets is not None:
            with contextlib.suppress(OSError):
                os.close(self.sockets)
            self.sockets = None


def stop_reason(reason: str, code: int | None, limits: Limits) -> str:
    """Why the kernel stopped, in plain words (deterministic: no measured values)."""
    if reason == "over_time":
        return f"the notebook ran past its time limit of {limits.timeout:g} s"
    if reason == "cell_stuck":
        return (
            f"a cell ran past the {limits.cell_timeout:g} s limit and did not stop when interrupted"
        )
    if reason == "flood":
        return f"it printed more than {limits.output_flood_bytes / 2**20:g} MB of output"
    if reason:
        return reason
    if code is None:
        return "the kernel stopped answering"
    if code >= 128:
        number = code - 128
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        if number == signal.SIGXCPU:
            return "it used up its CPU time"
        if number == signal.SIGXFSZ:
            return "it wrote a file larger than the limit"
        return f"the kernel was killed by signal {name}"
    if code == sandbox.SETUP_FAILED:
        return "the kernel could not be started"
    return f"the kernel exited (exit code {code}): the notebook ended its own process"

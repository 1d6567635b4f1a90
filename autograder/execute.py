"""Run an assembled notebook in a sandboxed kernel, cell by cell, and record what happened.

The grader is the kernel's client (``jupyter_client``) over Unix sockets in a folder the sandbox
shares with the kernel; nothing else of the grader is visible from the kernel. Everything the
kernel sends is untrusted input: it is size-checked, capped, and never decides a verdict alone.

Limits: a time limit per cell (interrupt, then kill if the kernel does not stop) and per
submission; memory (per process in the sandbox, and for all of its processes together, watched
every quarter second); the number of processes; the output kept (per cell and per notebook) and
received (beyond which the kernel is stopped). A kernel that dies, or is stopped, ends the run: the
cells from there on do not run.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

from autograder import sandbox
from autograder.assemble import Assembled

ROOT = Path(__file__).resolve().parent.parent
GUARD_SOURCE = (Path(__file__).resolve().parent / "guard.py").read_text(encoding="utf-8")
STARTUP_TIMEOUT = 120  # seconds for the kernel to answer its first request
GRACE = 5  # seconds a kernel gets to stop after an interrupt
IOPUB_GRACE = 3  # seconds to wait for the last outputs after the reply
GUARD_TIMEOUT = 60


@dataclass
class Limits:
    timeout: float = 1800  # seconds per submission
    cell_timeout: float = 120  # seconds per cell
    memory_bytes: int = 4 << 30  # per process (RLIMIT_DATA); all processes: + MEMORY_SLACK
    max_processes: int = 64
    output_keep_bytes: int = 2 << 20  # outputs kept in the graded notebook
    output_cell_bytes: int = 100_000  # ... per cell
    output_flood_bytes: int = 256 << 20  # received output beyond which the kernel is stopped
    threads: int = 1
    fsize_bytes: int = 256 << 20
    tmp_mb: int = 512

    def describe(self) -> str:
        return (
            f"{self.timeout:g} s per notebook, {self.cell_timeout:g} s per cell, "
            f"{self.memory_bytes / 2**30:g} GB of memory, {self.max_processes} processes"
        )


MEMORY_SLACK = 1 << 30  # all processes together: memory_bytes + this (libraries' shared pages)


@dataclass
class CellRun:
    status: str = "not run"  # ok, error, interrupted, not run
    ename: str = ""
    evalue: str = ""
    outputs: list = field(default_factory=list)
    result_text: str | None = None  # text/plain of the execute_result (partial credit)
    seconds: float = 0.0
    guard_before: dict | None = None
    guard_after: dict | None = None
    kept: int = 0  # bytes of output kept


@dataclass
class Execution:
    runs: dict[int, CellRun] = field(default_factory=dict)
    stopped: str = ""  # why the kernel stopped before the end, in plain words
    stopped_at: int | None = None  # index of the cell that was running
    incidents: list[str] = field(default_factory=list)
    truncated: bool = False
    isolation: dict = field(default_factory=dict)
    internal_error: str = ""  # the grader's own failure (not the student's)


class Stop(Exception):
    """The kernel is gone (or was stopped): the run ends here."""


class Sandbox:
    """One sandboxed kernel process tree: start, watch, interrupt, kill."""

    def __init__(self, job_dir: Path, run_dir: Path, limits: Limits, mode: str, hidden, readonly):
        self.job_dir, self.run_dir, self.limits = job_dir, run_dir, limits
        self.mode, self.hidden, self.readonly = mode, hidden, readonly
        self.process: subprocess.Popen | None = None
        self.reason = ""  # set by the watchdog (or us) before killing
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.peak_memory = 0

    def connection(self) -> dict:
        info = {
            "transport": "ipc",
            "ip": str(self.run_dir / "k"),
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": secrets.token_hex(32),
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }
        path = self.run_dir / "kernel.json"
        path.write_text(json.dumps(info), encoding="utf-8")
        path.chmod(0o644)
        return info

    def start(self, env: dict) -> None:
        self.run_dir.mkdir(parents=True)
        self.run_dir.chmod(0o755)
        self.job_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-s",
            "-m",
            "ipykernel_launcher",
            "-f",
            str(self.run_dir / "kernel.json"),
            "--HistoryManager.enabled=False",
            "--IPKernelApp.quiet=True",
        ]
        limits = self.limits
        config = sandbox.base_config(
            argv,
            rundir=self.run_dir,
            report=self.job_dir / "sandbox.json",
            log=self.job_dir / "kernel.log",
            hide=self.hidden,
            readonly=self.readonly,
            env=env,
            limits={
                "data_bytes": limits.memory_bytes,
                "nproc": limits.max_processes + 256 * max(1, limits.threads),  # threads count too
                "fsize_bytes": limits.fsize_bytes,
                "cpu_seconds": int(limits.timeout * (limits.threads + 1)) + 60,
                "nofile": 4096,
            },
            mode=self.mode,
            cwd="/tmp/home" if self.mode == "namespaces" else str(self.job_dir / "home"),
            tmp_size_mb=limits.tmp_mb,
        )
        config_path = self.job_dir / "sandbox-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "autograder.sandbox", str(config_path)],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.job_dir / "launcher.log").open("wb"),
            start_new_session=True,
        )
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def report(self) -> dict:
        try:
            return json.loads((self.job_dir / "sandbox.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def interrupt(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGINT)

    def kill(self, reason: str = "") -> None:
        if reason and not self.reason:
            self.reason = reason
        if self.process is None:
            return
        for process in self._tree():
            with contextlib.suppress(Exception):
                process.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)

    def close(self) -> None:
        self._stop.set()
        self.kill()
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)

    def _tree(self):
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _watch(self) -> None:
        limit = self.limits.memory_bytes + MEMORY_SLACK
        while not self._stop.wait(0.25):
            if not self.alive():
                return
            tree = self._tree()
            helpers = 3 if self.mode == "namespaces" else 2  # launcher, (outer child), init
            if len(tree) - helpers > self.limits.max_processes:
                self.kill(f"it started more than {self.limits.max_processes} processes")
                return
            memory = sum(_memory_of(process.pid) for process in tree)
            self.peak_memory = max(self.peak_memory, memory)
            if memory > limit:
                self.kill(f"it used more than {limit / 2**30:.1f} GB of memory")
                return


def _memory_of(pid: int) -> int:
    """Proportional set size (shared pages split between their users), else resident size."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def kernel_env(limits: Limits, home: str) -> dict:
    """The kernel's environment: nothing of the grader's but what notebooks need."""
    threads = str(max(1, limits.threads))
    env = {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "HOME": home,
        "TMPDIR": "/tmp" if home.startswith("/tmp/") else home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        # The course package is the repository's own cnnkit, the one the sandbox puts back (and the
        # grader trusts), whatever an editable install of the virtual environment points at.
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
        "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": f"{home}/.local/share/jupyter/runtime",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "GRPC_VERBOSITY": "ERROR",
        "ABSL_MIN_LOG_LEVEL": "3",
    }
    for key, value in os.environ.items():
        if key in (
            "KERAS_HOME",
            "TFDS_DATA_DIR",
            "TORCH_HOME",
            "KERAS_BACKEND",
            "CUDA_VISIBLE_DEVICES",
        ) or key.startswith("CNNKIT_"):
            env[key] = value
    return env


class Kernel:
    """Talk to the sandboxed kernel (all of its replies are untrusted)."""

    def __init__(self, box: Sandbox, info: dict, limits: Limits):
        from jupyter_client.asynchronous import AsyncKernelClient

        self.box, self.limits = box, limits
        # No ZeroMQ message size limit: a dropped message breaks the output channel for good.
        # The kernel's memory limit bounds the size of what it can send.
        self.client = AsyncKernelClient()
        self.client.load_connection_info(info)
        self.key_guard = secrets.token_hex(32)  # signs the guard's reports (see guard.py)
        self.received = 0
        self.kept = 0
        self.truncated = False

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        self.client.start_channels()
        while time.monotonic() < deadline:
            if not self.box.alive():
                raise Stop("the kernel did not start")
            msg_id = self.client.kernel_info()
            try:
                while True:
                    reply = await self.client.get_shell_msg(timeout=1)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        await self._drain_iopub(0.2)
                        return
            except Empty:
                continue
        raise Stop("the kernel did not start in time")

    async def _drain_iopub(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                await self.client.get_iopub_msg(timeout=0.05)
            except Empty:
                return

    async def run(
        self, code: str, timeout: float, deadline: float, *, silent=False, expressions=None
    ):
        """Execute ``code``; return (CellRun, reply content or None)."""
        run = CellRun()
        start = time.monotonic()
        msg_id = self.client.execute(
            code,
            silent=silent,
            store_history=not silent,
            user_expressions=expressions or {},
            allow_stdin=False,
            stop_on_error=False,
        )
        cell_deadline = min(start + timeout, deadline)
        interrupted_at = None
        reply = None
        idle = False
        idle_deadline = None
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
                    self.box.interrupt()
                elif now > interrupted_at + GRACE:
                    self.box.kill("cell_stuck")
                    raise Stop("")
            try:
                msg = await self.client.get_iopub_msg(timeout=0.05)
            except Empty:
                msg = None
            if msg is not None:
                self._count(msg)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    if self._handle(msg, run, streams) == "idle":
                        idle = True
            if reply is None:
                try:
                    shell = await self.client.get_shell_msg(timeout=0)
                except Empty:
                    shell = None
                if shell is not None and shell.get("parent_header", {}).get("msg_id") == msg_id:
                    reply = shell.get("content") if isinstance(shell.get("content"), dict) else {}
                    idle_deadline = time.monotonic() + IOPUB_GRACE
        run.seconds = time.monotonic() - start
        status = reply.get("status")
        run.status = "ok" if status == "ok" else "error"
        if run.status == "error":
            run.ename = _text(reply.get("ename"), 200) or run.ename or "Error"
            run.evalue = _text(reply.get("evalue"), 2000) or run.evalue
        if interrupted_at is not None:
            run.status = "interrupted"
        return run, reply

    def _count(self, msg: dict) -> None:
        """All output counts, whichever cell it claims to come from (a thread may keep printing)."""
        self.received += _size(msg.get("content"))
        if self.received > self.limits.output_flood_bytes:
            self.box.kill("flood")
            raise Stop("")

    def _handle(self, msg: dict, run: CellRun, streams: dict) -> str | None:
        kind = msg.get("msg_type")
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if kind == "status":
            return "idle" if content.get("execution_state") == "idle" else None
        if kind == "stream":
            name = "stderr" if content.get("name") == "stderr" else "stdout"
            text = content.get("text") if isinstance(content.get("text"), str) else ""
            self._keep_stream(run, streams, name, text)
        elif kind in ("display_data", "execute_result"):
            data = content.get("data") if isinstance(content.get("data"), dict) else {}
            if kind == "execute_result":
                run.result_text = _text(data.get("text/plain"), 200)
            self._keep_data(run, kind, data)
        elif kind == "error":
            run.ename = _text(content.get("ename"), 200)
            run.evalue = _text(content.get("evalue"), 2000)
            traceback = (
                content.get("traceback") if isinstance(content.get("traceback"), list) else []
            )
            lines = [_text(line, 2000) for line in traceback[-30:]]
            self._keep(
                run,
                {
                    "output_type": "error",
                    "ename": run.ename,
                    "evalue": run.evalue,
                    "traceback": lines,
                },
                sum(map(len, lines)) + len(run.evalue),
                always=True,  # small (capped above), and what the instructor looks for first
            )
        elif kind == "clear_output":
            run.outputs = [o for o in run.outputs if o.get("output_type") == "error"]
            streams.clear()
        return None

    def _keep(self, run: CellRun, output: dict, size: int, always: bool = False) -> bool:
        full = (
            self.kept + size > self.limits.output_keep_bytes
            or run.kept + size > self.limits.output_cell_bytes
        )
        if full and not always:
            self._mark_truncated(run)
            return False
        self.kept += size
        run.kept += size
        run.outputs.append(output)
        return True

    def _mark_truncated(self, run: CellRun) -> None:
        self.truncated = True
        if not any(o.get("_autograder") for o in run.outputs):
            note = "\n[autograder] output cut here: the limit was reached\n"
            run.outputs.append(
                {"output_type": "stream", "name": "stdout", "text": note, "_autograder": True}
            )

    def _keep_stream(self, run: CellRun, streams: dict, name: str, text: str) -> None:
        if not text:
            return
        output = streams.get(name)
        room = min(
            self.limits.output_cell_bytes - run.kept, self.limits.output_keep_bytes - self.kept
        )
        piece = text[: max(0, room)]
        if piece:
            if output is None:
                output = {"output_type": "stream", "name": name, "text": ""}
                streams[name] = output
                run.outputs.append(output)
            output["text"] += piece
            self.kept += len(piece)
            run.kept += len(piece)
        if len(piece) < len(text):
            self._mark_truncated(run)

    def _keep_data(self, run: CellRun, kind: str, data: dict) -> None:
        kept = {}
        for mime in ("text/plain", "image/png", "text/html"):
            value = data.get(mime)
            if isinstance(value, str):
                kept[mime] = value
        output = {"output_type": kind, "data": kept, "metadata": {}}
        if kind == "execute_result":
            output["execution_count"] = None
        if not self._keep(run, output, _size(kept)):
            return

    async def guard(self, expression: str, deadline: float) -> dict | None:
        """Evaluate a guard call; return its verified report, or None."""
        nonce = secrets.token_hex(8)
        expression = expression.replace("NONCE", repr(nonce))
        run, reply = await self.run(
            "",
            min(GUARD_TIMEOUT, self.limits.cell_timeout),
            deadline,
            silent=True,
            expressions={"r": expression},
        )
        try:
            value = reply["user_expressions"]["r"]["data"]["text/plain"]
            envelope = json.loads(ast.literal_eval(value))
            body, mac = envelope["body"], envelope["mac"]
            expected = hmac.new(
                self.key_guard.encode(), (nonce + body).encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(str(mac), expected):
                return None
            report = json.loads(body)
            return report if isinstance(report, dict) else None
        except Exception:  # noqa: BLE001 - anything unexpected: no valid report
            return None


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _size(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values()) + 16
    if isinstance(value, list):
        return sum(_size(v) for v in value) + 16
    return 16


def prelude(guard_key: str, checker: str, module: str, packages, roots, preload) -> str:
    """Code run silently before the first cell: the guard, imported libraries, snapshots."""
    return (
        "def _ag_install():\n"
        "    import sys, types\n"
        f"    module = types.ModuleType({module!r})\n"
        f"    exec(compile({GUARD_SOURCE!r}, '<autograder guard>', 'exec'), module.__dict__)\n"
        f"    module.guard = module.install({guard_key!r}, {checker!r}, {list(packages)!r}, "
        f"{list(roots)!r}, {list(preload)!r})\n"
        f"    sys.modules[{module!r}] = module\n"
        f"    get_ipython().user_ns[{checker!r}] = module.guard.checker\n"
        "_ag_install()\n"
        "del _ag_install\n"
    )


async def execute(
    assembled: Assembled,
    *,
    checker: str,
    job_dir: Path,
    run_dir: Path,
    limits: Limits,
    mode: str,
    hidden: list,
    readonly: list,
    packages: list[str],
    preload: list[str],
    trusted_roots: list[str],
) -> Execution:
    """Run the assembled notebook in a fresh sandboxed kernel."""
    result = Execution()
    home = "/tmp/home" if mode == "namespaces" else str(job_dir / "home")
    box = Sandbox(job_dir, run_dir, limits, mode, hidden, readonly)
    deadline = time.monotonic() + limits.timeout
    current = None
    kernel = None
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        box.start(kernel_env(limits, home))
        info = box.connection()
        kernel = Kernel(box, info, limits)
        module = f"_ag_guard_{secrets.token_hex(6)}"
        try:
            await kernel.wait_ready()
        except Stop as stop:
            result.internal_error = str(stop) or "the kernel did not start"
            return result
        result.isolation = box.report()
        setup, _ = await kernel.run(
            prelude(kernel.key_guard, checker, module, packages, trusted_roots, preload),
            STARTUP_TIMEOUT,
            deadline,
            silent=True,
        )
        if setup.status != "ok":
            result.internal_error = (
                f"the grader's guard did not start ({setup.ename}: {setup.evalue})"
            )
            return result
        call = f"__import__('sys').modules[{module!r}].guard"
        for index, cell in enumerate(assembled.cells):
            if not cell.run or not cell.run.strip():
                continue
            current = index
            if cell.kind == "test":
                before = await kernel.guard(f"{call}.before(NONCE)", deadline)
            run, reply = await kernel.run(cell.run, limits.cell_timeout, deadline)
            if cell.kind == "test":
                run.guard_before = before
                token = cell.token or ""
                run.guard_after = await kernel.guard(f"{call}.after(NONCE, {token!r})", deadline)
            result.runs[index] = run
            current = None
    except Stop:
        pass
    except Exception as error:  # noqa: BLE001 - the grader's own failure: say so, never crash
        result.internal_error = f"{type(error).__name__}: {error}"
    finally:
        if kernel is not None:
            result.truncated = kernel.truncated
            with contextlib.suppress(Exception):
                kernel.client.stop_channels()
        code = box.exit_code()
        reason = box.reason
        box.close()
        if current is not None and not result.internal_error:
            result.stopped_at = current
            result.stopped = stop_reason(reason, code, limits)
        if not result.isolation:
            result.isolation = box.report()
    return result


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

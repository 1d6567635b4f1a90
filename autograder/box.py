"""One sandboxed process tree (``Box``), the limits it runs under and its environment.

A ``Box`` starts ``autograder.sandbox`` with a config written here and watches the tree from the
grader: its memory (proportional set size) and its number of processes. Its connection folder, on
the grader's disk, holds what the grader writes and the sockets the grader binds; the sandbox sees
it read-only. With namespaces a sandbox writes only into its private tmpfs (``/tmp``, ``/dev/shm``,
``/var/tmp``), which the grader reaches through ``inside`` (``/proc/PID/root``) for the sockets the
kernel binds. Without them (``mode: limits``) the box writes on the grader's disk wherever its
user may, and the watch also counts the bytes in its connection folder. The student's kernel, the
judge and every clean room run in a box of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import cpushare, sandbox

ROOT = Path(__file__).resolve().parent.parent


MEMORY_SLACK = 1 << 30  # all processes together: memory_bytes + this (libraries' shared pages)


@dataclass(frozen=True)
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
    folder_bytes: int = 16 << 20  # without namespaces: what a box may write on the grader's disk

    def describe(self) -> str:
        return (
            f"{self.timeout:g} s per notebook, {self.cell_timeout:g} s per cell, "
            f"{self.memory_bytes / 2**30:g} GB of memory, {self.max_processes} processes"
        )


@dataclass(frozen=True)
class Isolation:
    """How every process of a batch is sandboxed: the mode, and the places covered or put back."""

    mode: str  # namespaces or limits (see autograder.sandbox)
    hidden: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()
    binds: tuple[tuple[str, str], ...] = ()  # (copy, original) data files: autograder.evaldata
    judge_data: str | None = None  # the folder only the judge sees (CNNKIT_JUDGE_DATA)


class Box:
    """One sandboxed process tree: start, watch, interrupt, kill."""

    def __init__(self, job_dir: Path, run_dir: Path, limits: Limits, isolation: Isolation):
        self.job_dir, self.run_dir, self.limits, self.isolation = (
            job_dir,
            run_dir,
            limits,
            isolation,
        )
        self.process: subprocess.Popen | None = None
        self.reason = ""  # set by the watchdog (or us) before killing
        self.name = ""  # its program's name: the prefix of its files in job_dir
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.group: cpushare.CpuGroup | None = None  # its CPU share, where the system allows one

    def start(
        self, argv: list[str], env: dict, name: str, extra_readonly=(), absent=(), folders=()
    ) -> None:
        """Start ``argv`` in the sandbox; ``folders``: made in its private ``/tmp`` before it starts
        (with namespaces), ``absent``: the packages a clean room does not have."""
        self.name = name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o755)
        self.job_dir.mkdir(parents=True, exist_ok=True)
        limits, mode = self.limits, self.isolation.mode
        absent = [dict(entry) for entry in absent]
        for number, entry in enumerate(absent):  # a module file's stub: bound read-only over it
            entry["stub_file"] = str(self.run_dir / f".absent-{number}.py")
            Path(entry["stub_file"]).write_text(entry["stub"], encoding="utf-8")
            Path(entry["stub_file"]).chmod(0o644)
        config = sandbox.base_config(
            argv,
            rundir=self.run_dir,
            report=self.job_dir / f"{name}-sandbox.json",
            log=self.job_dir / f"{name}.log",
            hide=list(self.isolation.hidden),
            readonly=[*self.isolation.readonly, *extra_readonly],
            env=env,
            limits={
                "data_bytes": limits.memory_bytes,
                "nproc": limits.max_processes + 256 * max(1, limits.threads),  # threads count too
                "fsize_bytes": limits.fsize_bytes,
                "cpu_seconds": int(limits.timeout * (limits.threads + 1)) + 60,
                "nofile": 4096,
            },
            mode=mode,
            cwd="/tmp/home" if mode == "namespaces" else str(self.job_dir / f"{name}-home"),
            tmp_size_mb=limits.tmp_mb,
            absent=absent,
            binds=list(self.isolation.binds) if mode == "namespaces" else [],
        )
        config["folders"] = list(folders)
        config_path = self.job_dir / f"{name}-config.json"
        batch = self.job_dir.parent.parent.name  # the batch's work folder: work/jobs/N
        self.group = cpushare.CpuGroup.create(f"{batch}-{self.job_dir.name}-{name}-{id(self)}")
        if self.group is not None:  # the launcher joins it before it starts anything
            config["cgroup_procs"] = [str(folder / "cgroup.procs") for folder in self.group.folders]
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "autograder.sandbox", str(config_path)],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.job_dir / f"{name}-launcher.log").open("wb"),
            start_new_session=True,
        )
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    def inside(self, path: str, deadline: float) -> int:
        """An ``O_PATH`` descriptor of the folder ``path`` as the box's processes see it (their own
        mount namespace), once the sandbox is set up: the grader connects to the sockets a box
        binds in its private ``/tmp`` through ``/proc/self/fd/N/...``. The caller closes it."""
        while time.monotonic() < deadline:
            if not self.alive():
                break
            if self.report(self.name).get("setup") == "ok":
                for process in reversed(self._tree()):  # the last found first: the box's program
                    with contextlib.suppress(OSError):
                        fd = os.open(
                            f"/proc/{process.pid}/root{path}",
                            os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
                        )
                        if _mount_id(fd) != _mount_id_of(path):  # not the grader's own /tmp
                            return fd
                        os.close(fd)
            time.sleep(0.02)
        raise OSError(f"the sandbox's {path} cannot be reached")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def report(self, name: str) -> dict:
        try:
            return json.loads((self.job_dir / f"{name}-sandbox.json").read_text(encoding="utf-8"))
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
        if self.group is not None:
            self.group.remove()

    def cpu_seconds(self) -> float:
        """CPU seconds the box's processes used so far (its control group's count, where it has
        one; else the sum over the processes alive now)."""
        seconds = self.group.seconds() if self.group is not None else None
        return seconds if seconds is not None else cpushare.cpu_seconds_of(self._tree())

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
            helpers = 3 if self.isolation.mode == "namespaces" else 2  # launcher, child, init
            if len(tree) - helpers > self.limits.max_processes:
                self.kill(f"it started more than {self.limits.max_processes} processes")
                return
            if _memory_of(tree, limit) > limit:
                self.kill(f"it used more than {limit / 2**30:.1f} GB of memory")
                return
            if self.isolation.mode == "namespaces":
                continue  # it cannot write on the grader's disk: nothing to count
            cap = self.limits.folder_bytes
            if _folder_bytes(self.run_dir, cap) > cap:
                self.kill(f"it wrote more than {cap / 2**20:g} MB into the grader's folder")
                return


def _folder_bytes(folder: Path, limit: int, most_entries: int = 2000) -> int:
    """Bytes under ``folder`` (without namespaces: a box's connection folder, on the grader's
    disk); past ``most_entries`` files it counts as over ``limit`` (a flood of small files)."""
    total, seen, stack = 0, 0, [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > most_entries:
                return limit + 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


def _mount_id(fd: int) -> int | None:
    """The id of the mount that holds the open folder ``fd`` (``mnt_id`` of /proc/self/fdinfo)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _mount_id_of(path: str) -> int | None:
    """The mount id of ``path`` in the grader's own namespace (None where it does not exist)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _mount_id(fd)
    finally:
        os.close(fd)


def _memory_of(tree, limit: int) -> int:
    """The processes' memory, shared pages split between their users (proportional set size),
    where it matters: past ``limit``.


    Their resident sizes come first (``/proc/PID/statm``, cheap): they count shared pages in full,
    so their sum is never below the proportional one, and while it is under the limit nothing more
    is read. Only past it is ``/proc/PID/smaps_rollup`` read, which walks a process's page tables:
    read four times a second for a process that holds TensorFlow, it cost the grader a third of a core.
    """
    resident = sum(_resident(process.pid) for process in tree)
    return resident if resident <= limit else sum(_proportional(p.pid) for p in tree)


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _proportional(pid: int) -> int:
    """Proportional set size, else (no smaps_rollup) the resident size."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _resident(pid)


def process_env(limits: Limits, home: str) -> dict:
    """A sandboxed process's environment: nothing of the grader's but what notebooks need."""
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
        # grader trusts), whatever an editable install of the virtual environment points at; the
        # judge also finds autograder there (the kernel does not: it is not put back for it).
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
        # Waiting OpenMP threads sleep instead of spinning: the batch's kernels share the cores
        # (benchmarks/thread_wait_policy.py).
        "OMP_WAIT_POLICY": "PASSIVE",
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
        ):
            env[key] = value
        elif key.startswith("CNNKIT_") and key != "CNNKIT_JUDGE_DATA":  # the judge's: judge.py
            env[key] = value
    return env


def home_of(box: Box, name: str) -> str:
    return "/tmp/home" if box.isolation.mode == "namespaces" else str(box.job_dir / f"{name}-home")

"""A CPU share per sandbox, and the CPU seconds of its process tree (issue 22, class 5).

Each ``Box``'s launcher joins a control group of its own as it starts (``autograder.sandbox``),
so every process below it is there too, with the default weight (cgroup v2 ``cpu.weight`` 100, or cgroup v1 ``cpu.shares`` 1024): the
scheduler then splits a busy machine evenly between the batch's kernels, judges and rooms, whatever
number of threads or processes one of them starts, so a neighbour cannot starve a speed test. The
group's CPU time (v2 ``cpu.stat``, v1 ``cpuacct.usage``) is what a test's ``time_limit`` counts.

Where the system does not let this process create groups (no delegation, a read-only
``/sys/fs/cgroup``), ``CpuGroup.create`` returns ``None``: the box then runs without a share, and
its CPU seconds are summed from its processes (``cpu_seconds_of``), which misses the processes
that already ended.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "autograder-"


class CpuGroup:
    """One box's control group(s): the CPU controller's, and v1's separate accounting one."""

    def __init__(self, folders: list[Path], usage: Path, version: int):
        self.folders, self.usage, self.version = folders, usage, version

    @classmethod
    def create(cls, name: str) -> CpuGroup | None:
        name = f"{PREFIX}{name}"
        try:
            if (ROOT / "cgroup.controllers").exists():  # v2: one tree
                parent = _own_v2_group()
                folder = parent / name
                folder.mkdir()
                with contextlib.suppress(OSError):  # the controller may not be delegated
                    (folder / "cpu.weight").write_text("100")
                return cls([folder], folder / "cpu.stat", 2)
            cpu, accounting = ROOT / "cpu" / name, ROOT / "cpuacct" / name
            cpu.mkdir()
            try:
                (cpu / "cpu.shares").write_text("1024")
                accounting.mkdir()
            except OSError:
                cpu.rmdir()
                raise
            return cls([cpu, accounting], accounting / "cpuacct.usage", 1)
        except OSError:
            return None

    def seconds(self) -> float | None:
        try:
            text = self.usage.read_text()
        except OSError:
            return None
        if self.version == 1:
            return int(text) / 1e9
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        return None

    def remove(self, wait: float = 3.0) -> None:
        """Remove the group once every process of the box has ended (they may take a moment to)."""
        import time

        end = time.monotonic() + wait
        for folder in self.folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > end:
                        break  # left behind, empty soon: a few bytes of the kernel's memory
                    time.sleep(0.05)


def sweep(batch: str) -> None:
    """Remove the groups of a batch's boxes that are still there (``batch``: the start of their
    names, the batch's work folder's name): a box's own removal gives up after a few seconds."""
    for parent in _parent_folders():
        with contextlib.suppress(OSError):
            for folder in parent.glob(f"{PREFIX}{batch}*"):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def sweep_stale(work_parent: Path) -> None:
    """Remove the empty groups of batches whose work folder (``ag-*`` in ``work_parent``) is gone:
    a grader killed mid-batch never swept its own."""
    for parent in _parent_folders():
        with contextlib.suppress(OSError):
            for folder in parent.glob(f"{PREFIX}ag-*"):
                batch = "-".join(folder.name[len(PREFIX) :].split("-")[:2])
                if not (work_parent / batch).exists():
                    with contextlib.suppress(OSError):
                        folder.rmdir()


def _parent_folders() -> list[Path]:
    """Where the boxes' groups are made: this process's own v2 group, and v1's two controllers."""
    own = [_own_v2_group()] if (ROOT / "cgroup.controllers").exists() else []
    return [*own, ROOT / "cpu", ROOT / "cpuacct"]


def _own_v2_group() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return ROOT / line[3:].strip("/")
    return ROOT


class TestClock:
    """A test's ``time_limit`` on one request: ``seconds`` of CPU time of the box's processes, so
    that a busy neighbour does not fail a fast answer; wall time (``WALL_FACTOR`` times as long,
    plus ``WALL_SLACK``, within ``wall_end``) only as a watchdog, for an answer that sleeps or waits."""

    WALL_FACTOR, WALL_SLACK = 3.0, 5.0

    def __init__(self, box, seconds: float, wall_end: float):
        import time

        self.box, self.seconds, self._time = box, seconds, time.monotonic
        now = self._time()
        self.wall_end = min(now + self.WALL_FACTOR * seconds + self.WALL_SLACK, wall_end)
        self.start, self._next, self.passed = box.cpu_seconds(), now, False

    def over(self) -> bool:
        """Whether the limit has passed (and stays passed)."""
        now = self._time()
        if not self.passed and now > self.wall_end:
            self.passed = True
        elif not self.passed and now >= self._next:
            self._next = now + 0.1  # the count is cheap, but not free: ten times a second
            self.passed = self.box.cpu_seconds() - self.start > self.seconds
        return self.passed


def cpu_seconds_of(processes) -> float:
    """User and system seconds of these processes and of their children that they waited for."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(Exception):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total

"""A CPU share per sandbox and speed tests in CPU seconds (issue 22, class 5). A few seconds.

Each box's launcher joins a control group of its own (``autograder.cpushare``) where the system
allows one; a test's ``time_limit`` counts the CPU seconds of the box's processes, so an answer
that waits for a busy machine is not failed for it, and wall time is only a watchdog.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import cpushare  # noqa: E402
from autograder.grade import isolation_for  # noqa: E402
from autograder.run import Box, Limits, process_env  # noqa: E402

BUSY = "import time\nend = time.process_time() + 30\nwhile time.process_time() < end: pass\n"
IDLE = "import time\ntime.sleep(30)\n"


def start(tmp_path, name: str, code: str) -> Box:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    work.chmod(0o755)
    limits = Limits(timeout=60, cell_timeout=30, memory_bytes=1 << 30, max_processes=8)
    box = Box(work, work / name, limits, isolation_for(work, []))
    box.start([sys.executable, "-c", code], process_env(limits, "/tmp/home"), name)
    return box


def test_a_speed_test_counts_cpu_seconds_and_not_the_wait(tmp_path):
    busy, idle = start(tmp_path, "busy", BUSY), start(tmp_path, "idle", IDLE)
    try:
        time.sleep(1.0)  # both started
        fast, slow = cpushare.TestClock(busy, 1.0, time.monotonic() + 60), None
        slow = cpushare.TestClock(idle, 1.0, time.monotonic() + 60)
        end = time.monotonic() + 30
        while not fast.over() and time.monotonic() < end:
            time.sleep(0.05)
        assert fast.over(), "a busy answer passes its CPU seconds"
        assert busy.cpu_seconds() - fast.start > 1.0
        waited = time.monotonic()
        while time.monotonic() - waited < 1.5:  # over a second of wall time, almost no CPU time
            assert not slow.over(), "a waiting answer is not out of time before the watchdog"
            time.sleep(0.1)
        assert slow.wall_end <= slow._time() + cpushare.TestClock.WALL_FACTOR + 5.0
    finally:
        busy.close()
        idle.close()


def test_each_box_gets_its_own_cpu_group_where_the_system_allows_one(tmp_path):
    box = start(tmp_path, "share", BUSY)
    try:
        end = time.monotonic() + 30
        while box.cpu_seconds() < 0.3 and time.monotonic() < end:  # a loaded machine: wait
            time.sleep(0.1)
        if box.group is None:  # no cgroup delegation here: CPU seconds from the processes
            assert box.cpu_seconds() > 0.2
            return
        assert all(folder.is_dir() for folder in box.group.folders)
        procs = (box.group.folders[0] / "cgroup.procs").read_text().split()
        assert str(box.process.pid) in procs, "the launcher joined its group"
        assert box.group.seconds() > 0.2
    finally:
        box.close()
    assert not any(folder.exists() for folder in box.group.folders), "the group goes with the box"

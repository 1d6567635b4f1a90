"""tests/machine_cpu.py: the machine's busy CPU seconds between two marks, from /proc/stat."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine_cpu  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "machine_cpu.py"


def test_idle_and_iowait_are_not_busy():
    ticks = machine_cpu.os.sysconf("SC_CLK_TCK")
    first = machine_cpu.snapshot(f"cpu  {ticks} 0 {ticks} {10 * ticks} {ticks} 0 0 0 0 0\n")
    assert first["busy"] == 2 and first["total"] == 13


def test_busy_seconds_and_cores_between_two_snapshots():
    ticks = machine_cpu.os.sysconf("SC_CLK_TCK")
    before = {**machine_cpu.snapshot(f"cpu  0 0 0 {ticks} 0 0 0 0\n"), "wall": 100.0}
    after = {
        **machine_cpu.snapshot(f"cpu  {30 * ticks} 0 {10 * ticks} {ticks} 0 0 0 0\n"),
        "wall": 120.0,
    }
    assert machine_cpu.since(before, after) == pytest.approx((40.0, 2.0))
    with pytest.raises(ValueError, match="not later"):
        machine_cpu.since(after, before)


def test_a_busy_child_shows_between_the_marks(tmp_path):
    mark = tmp_path / "mark"
    subprocess.run([sys.executable, str(SCRIPT), "mark", str(mark)], check=True)
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    printed = subprocess.run([sys.executable, str(SCRIPT), "since", str(mark)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    busy = float(printed.split(" CPU s")[0])
    assert busy >= 0.9, printed
    assert "cores busy" in printed

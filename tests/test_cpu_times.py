"""tests/cpu_times.py reads what `times` prints, in dash's and bash's formats, from a real shell too."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_times import children_seconds  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "cpu_times.py"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0m0.000000s 0m0.000000s\n1m2.500000s 0m0.250000s\n", 62.75),  # dash
        ("0m0.002s 0m0.000s\n0m0.679s 0m0.036s\n", 0.715),  # bash
    ],
)
def test_the_second_line_is_summed(text, seconds):
    assert children_seconds(text) == pytest.approx(seconds)


def test_anything_else_is_refused():
    with pytest.raises(ValueError, match="two lines"):
        children_seconds("0m1s 0m1s\n")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_shell_counts_the_cpu_time_of_a_busy_child(shell, tmp_path):
    busy = f"{sys.executable} -c 'import time; end = time.process_time() + 1.2\nwhile time.process_time() < end: pass'"
    script = f"{busy}; times > {tmp_path}/t; {sys.executable} {SCRIPT} {tmp_path}/t"
    printed = subprocess.run([shell, "-c", script], capture_output=True, text=True, check=True)
    assert 1 <= int(printed.stdout) <= 3

"""The CPU seconds (user + system) of a shell's finished children, from what its `times` wrote to a file.

    times > FILE; python tests/cpu_times.py FILE     (prints whole seconds)

`times` (POSIX) prints two lines, the shell's own times and its children's, as ``0m1.5s 0m0.2s`` (dash)
or ``0m1.500s 0m0.200s`` (bash); the Makefile's `make test` uses the second line to print how many CPU
seconds each phase's process tree spent: on 2 cores, a phase whose CPU seconds are near twice its
wall seconds kept both busy.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TIME = re.compile(r"(\d+)m([\d.]+)s")


def children_seconds(text: str) -> float:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        raise ValueError(f"expected the two lines of `times`, got {text!r}")
    times = TIME.findall(lines[1])
    if len(times) != 2:
        raise ValueError(f"expected user and system times, got {lines[1]!r}")
    return sum(int(minutes) * 60 + float(seconds) for minutes, seconds in times)


if __name__ == "__main__":
    print(round(children_seconds(Path(sys.argv[1]).read_text(encoding="utf-8"))))

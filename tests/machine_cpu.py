"""How busy the machine's cores were between two moments, from /proc/stat (Linux).

    python tests/machine_cpu.py mark FILE          write the machine's busy and total CPU seconds now
    python tests/machine_cpu.py since FILE         print the busy CPU seconds since FILE's mark, and
                                                   the cores that were busy on average

`make test` marks the start and the end of its phases and prints, for each, how many CPU seconds the
whole machine spent and how many cores that keeps busy on average: on a quiet 2-core machine, a
phase near 2 keeps both cores busy (a shorter run needs less work), one near 1 leaves a core idle
(it needs more parallel work). The whole machine, not the phase's process tree, because the grader's
sandboxed kernels are not children that `times` or `getrusage` can count; on a busy machine the
figure counts the other programs too, and says so by exceeding what the phase alone could use.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def snapshot(stat: str | None = None) -> dict:
    """Busy and total CPU seconds of every core since boot, and the wall clock, now."""
    text = stat if stat is not None else Path("/proc/stat").read_text(encoding="ascii")
    fields = [int(value) for value in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    ticks = os.sysconf("SC_CLK_TCK")
    return {"busy": (total - idle) / ticks, "total": total / ticks, "wall": time.time()}


def since(before: dict, after: dict) -> tuple[float, float]:
    """(busy CPU seconds, cores busy on average) between two snapshots."""
    busy, wall = after["busy"] - before["busy"], after["wall"] - before["wall"]
    if wall <= 0 or busy < 0:
        raise ValueError(f"the second snapshot is not later than the first: {before} {after}")
    return busy, busy / wall


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("mark", "since"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    if argv[0] == "mark":
        path.write_text(json.dumps(snapshot()), encoding="utf-8")
        return 0
    busy, cores = since(json.loads(path.read_text(encoding="utf-8")), snapshot())
    print(f"{busy:.0f} CPU s ({cores:.2f} of {os.cpu_count()} cores busy)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

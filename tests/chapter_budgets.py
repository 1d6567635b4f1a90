"""The chapters' budgets, in CPU seconds of the kernel's process tree (tests/test_book.py checks them)."""

from __future__ import annotations

# The chapters' budgets, quick profile, in CPU seconds of the kernel's process tree (user + system,
# children included, from the kernel's start to its exit: tests/build_book.py measures it). Another
# program on the machine slows a chapter's wall time down, not its CPU time, so these hold on a busy
# machine. They are the wall budgets (4 minutes a chapter; 5 for chapters 6 and 7, which train
# detectors and segmenters) at the CPU seconds per wall second that the chapters spend when they run
# alone on 2 quiet cores: CPU_PER_WALL_S. Measured (December 2026): 0.81 to 0.96 with
# benchmarks/chapter_cpu_time.py (chapters 1, 2, 4, A; wall time less the run-queue delay of the
# kernel's main thread), 0.86 and 1.01 for chapter 6 and the appendix against the wall times they had
# alone on a quiet machine (87 s, 66 s): the chapters' Python, plotting and small models keep about
# one core busy. Budgets: 240 CPU seconds a chapter; chapters 6 and 7 below.
WALL_BUDGET_S = {"book/06_": 300, "book/07_": 300}
DEFAULT_WALL_BUDGET_S = 240
CPU_PER_WALL_S = 1.0
# Chapters 6 and 7 spend most of their time training with both cores (TensorFlow's and PyTorch's two
# threads), so they burn more CPU seconds per wall second than the others; each has its own ratio,
# measured on 2 quiet cores (December 2026, the whole chapter in a kernel of its own, alone or in the
# book's build, which runs one chapter at a time): chapter 6 258 s wall and 369 CPU s (1.43), 261 and
# 373 (1.43), 256 and 355 (1.39); chapter 7 204 s and 275 CPU s (1.35), 231 and 309 (1.34) (a third
# run, 225 s and 267, had another program beside it: its wall time was inflated).
CPU_PER_WALL_S_OF = {"book/06_": 1.45, "book/07_": 1.35}
# The wall-clock limit that is left is a watchdog for a hung kernel: _config.yml's execute.timeout
# (per cell), far above any budget.


def wall_budget(notebook: str) -> int:
    """A chapter's budget in wall seconds on a quiet 2-core machine."""
    prefixes = [prefix for prefix in WALL_BUDGET_S if notebook.startswith(prefix)]
    return WALL_BUDGET_S[prefixes[0]] if prefixes else DEFAULT_WALL_BUDGET_S


def cpu_budget(notebook: str) -> float:
    """A chapter's budget in CPU seconds of its kernel's process tree."""
    ratios = [ratio for prefix, ratio in CPU_PER_WALL_S_OF.items() if notebook.startswith(prefix)]
    return round(wall_budget(notebook) * (ratios[0] if ratios else CPU_PER_WALL_S))


def over_budget(notebook: str, record: dict, budget_cpu_s: float) -> str | None:
    """Why a chapter's record of the build breaks its CPU budget, or None when it keeps it."""
    cpu = record.get("cpu_seconds")
    if cpu is None:
        return f"{notebook}: no CPU time recorded (a build of an older tests/build_book.py?)"
    if cpu > budget_cpu_s:
        return (f"{notebook} used {cpu:.0f} CPU seconds (in {record.get('seconds') or 0:.0f} s of "
                f"wall time): its budget is {budget_cpu_s:.0f} CPU seconds")  # fmt: skip
    return None

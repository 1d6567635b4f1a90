"""What the tests of the built book share: the build's report, or why there is none to check.

`make book` and `make test` build the book once (``tests/build_book.py``); the tests check that
build. Outside `make test` (``REQUIRE_BOOK_BUILD`` unset, and not in CI), a missing build or browser
skips those tests instead of failing them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import build_book
import pytest

REPO = build_book.ROOT
HTML = build_book.BUILD / "html"


def required() -> bool:
    """True in CI and under `make test`: the book's checks never skip there."""
    return bool(os.environ.get("CI") or os.environ.get("REQUIRE_BOOK_BUILD"))


def missing(why: str):
    """Fail where the checks are required, else skip."""
    if required():
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def load_report() -> dict:
    """The report of the last build, which must be of the sources as they are now."""
    if not build_book.REPORT.is_file() or not HTML.is_dir():
        missing("no built book to check: run `make book` (or `make test`, which builds it first)")
    report = json.loads(build_book.REPORT.read_text(encoding="utf-8"))
    now = build_book.sources_digest(REPO)
    stale = sorted(path for path in set(now) | set(report["sources"])
                   if now.get(path) != report["sources"].get(path))  # fmt: skip
    if stale:
        pytest.fail(f"the built book is older than {', '.join(stale)}: run `make book` again",
                    pytrace=False)  # fmt: skip
    return report


def page_source(page: Path) -> Path | None:
    """The notebook or Markdown file a page of ``_build/html`` was built from (None: generated)."""
    entry = page.relative_to(HTML).with_suffix("").as_posix()
    if entry == "index":
        entry = build_book.toc_files(REPO)[0]
    for suffix in (".ipynb", ".md"):
        if (REPO / f"{entry}{suffix}").is_file():
            return REPO / f"{entry}{suffix}"
    return None


def pages() -> list[Path]:
    """Every HTML page of the built book (not the files under _static, _sources, _images)."""
    return sorted(path for path in HTML.rglob("*.html")
                  if not path.relative_to(HTML).parts[0].startswith("_"))  # fmt: skip


# The chapters' budgets, quick profile, in CPU seconds of the kernel's process tree (user + system,
# children included, from the kernel's start to its exit: tests/build_book.py measures it). Another
# program on the machine slows a chapter's wall time down, not its CPU time, so these hold on a busy
# machine. They are the wall budgets (4 minutes a chapter; 5 for chapters 6 and 7, which train
# detectors and segmenters) at the CPU seconds per wall second that the chapters spend when they run
# alone on 2 quiet cores: CPU_PER_WALL_S. Measured (December 2026): 0.81 to 0.96 with
# benchmarks/chapter_cpu_time.py (chapters 1, 2, 4, A; wall time less the run-queue delay of the
# kernel's main thread), 0.86 and 1.01 for chapter 6 and the appendix against the wall times they had
# alone on a quiet machine (87 s, 66 s): the chapters' Python, plotting and small models keep about
# one core busy. Budgets: 240 CPU seconds a chapter, 300 for chapters 6 and 7.
WALL_BUDGET_S = {"book/06_": 300, "book/07_": 300}
DEFAULT_WALL_BUDGET_S = 240
CPU_PER_WALL_S = 1.0
# The wall-clock limit that is left is a watchdog for a hung kernel: _config.yml's execute.timeout
# (per cell), far above any budget.


def wall_budget(notebook: str) -> int:
    """A chapter's budget in wall seconds on a quiet 2-core machine."""
    prefixes = [prefix for prefix in WALL_BUDGET_S if notebook.startswith(prefix)]
    return WALL_BUDGET_S[prefixes[0]] if prefixes else DEFAULT_WALL_BUDGET_S


def cpu_budget(notebook: str) -> float:
    """A chapter's budget in CPU seconds of its kernel's process tree."""
    return round(wall_budget(notebook) * CPU_PER_WALL_S)


def over_budget(notebook: str, record: dict, budget_cpu_s: float) -> str | None:
    """Why a chapter's record of the build breaks its CPU budget, or None when it keeps it."""
    cpu = record.get("cpu_seconds")
    if cpu is None:
        return f"{notebook}: no CPU time recorded (a build of an older tests/build_book.py?)"
    if cpu > budget_cpu_s:
        return (f"{notebook} used {cpu:.0f} CPU seconds (in {record.get('seconds') or 0:.0f} s of "
                f"wall time): its budget is {budget_cpu_s:.0f} CPU seconds")  # fmt: skip
    return None

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

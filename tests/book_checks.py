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


def glued_values(notebook: str, profile: str) -> dict:
    """The values a chapter glued (``myst_nb.glue``) in the build's execution of it: ``{name: value}``.

    Read from Jupyter Book's execution cache, which holds the executed notebook of the sources as
    they are now (a notebook changed since the build has no match there: that fails).
    """
    import ast

    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(build_book.cache_dir(REPO, profile)))
    try:
        record = cache.match_cache_notebook(nbformat.read(REPO / notebook, as_version=4))
    except KeyError:
        missing(f"{notebook} has no executed version in the build's cache: run `make book`")
    executed = cache.get_cache_bundle(record.pk).nb
    values = {}
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text.strip("'\"")
    return values

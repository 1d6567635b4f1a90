"""Every page of the built book, opened in headless Chromium as a reader's browser would show it.

The pages are served over HTTP from ``_build/html`` on 127.0.0.1 (no internet: what the page needs
must come from the book). Each page is loaded, MathJax is awaited, and the page is checked for
console errors, broken internal links and images, formulas left unrendered, figures without alt
text, code wider than the column, the Colab and download buttons of notebook pages, and a heading
repeated right below itself. A screenshot of each page is saved under ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import book_checks
import pytest
from browser import Chromium, Visit, find_chromium

REPO = book_checks.REPO
HTML = book_checks.HTML
SCREENSHOTS = REPO / "_build" / "screenshots"
WIDTH, HEIGHT = 1280, 900

# After the load event: wait for MathJax to typeset and for every image and font to arrive.
SETTLE = """(async () => {
  const deadline = Date.now() + 30000;
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  if (document.querySelector('.math')) {
    while (!ready() && Date.now() < deadline) await sleep(50);
  }
  if (ready()) await MathJax.startup.promise;
  for (const img of document.images) img.loading = 'eager';
  const images = [...document.images].filter(img => !img.complete)
    .map(img => new Promise(resolve => { img.onload = img.onerror = resolve; }));
  await Promise.race([Promise.all(images), sleep(20000)]);
  await document.fonts.ready;
  return true;
})()"""

# What a reader sees, measured in the page: everything the checks need, as plain data.
INSPECT = r"""(() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main')
    || document.body || document.documentElement;
  const clip = s => (s || '').replace(/\s+/g, ' ').trim().slice(0, 120);
  const out = {links: [], images: [], unrendered: [], math_errors: [], rendered: 0, wide: [],
               headings: [], colab: [], downloads: []};
  for (const a of document.querySelectorAll('a[href]')) {
    out.links.push(a.href);
    if (a.href.startsWith('https://colab.research.google.com/')) out.colab.push(a.href);
    if (/\.ipynb$/.test(a.getAttribute('href'))) out.downloads.push(a.href);
  }
  for (const img of article.querySelectorAll('img')) {
    out.images.push({src: img.currentSrc || img.src, alt: img.getAttribute('alt'),
                     loaded: img.complete && img.naturalWidth > 0});
  }
  out.rendered = article.querySelectorAll('mjx-container').length;
  for (const el of article.querySelectorAll('.math')) {
    if (!el.querySelector('mjx-container')) out.unrendered.push(clip(el.textContent));
  }
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {acceptNode: node =>
    node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const tex = /\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\(frac|times|cdot|sum|mathbf|left|right)\b/;
  while (walker.nextNode()) {
    if (tex.test(walker.currentNode.textContent)) out.unrendered.push(clip(walker.currentNode.textContent));
  }
  for (const el of article.querySelectorAll('mjx-merror')) {
    out.math_errors.push(clip(el.getAttribute('data-mjx-error') || el.textContent));
  }
  const right = article.getBoundingClientRect().right;
  for (const el of article.querySelectorAll('pre, div.cell_output, table')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    const hidden = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible';
    if (hidden || box.right > right + 1) {
      const lines = el.innerText.split('\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      out.wide.push({element: el.tagName.toLowerCase() + '.' + [...el.classList].join('.'),
                     overflow: Math.round(Math.max(el.scrollWidth - el.clientWidth, box.right - right)),
                     line: longest.slice(0, 120)});
    }
  }
  for (const h of article.querySelectorAll('h1, h2, h3, h4, h5, h6, p.caption')) {
    out.headings.push(clip(h.textContent.replace(/[#¶]/g, '')));
  }
  return out;
})()"""


REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)
EMPTY = {"links": [], "images": [], "unrendered": [], "math_errors": [], "rendered": 0, "wide": [],
         "headings": [], "colab": [], "downloads": []}  # fmt: skip


def redirect(page: Path) -> str | None:
    """The target of a page that only redirects (Jupyter Book's index.html), else None."""
    text = page.read_text(encoding="utf-8", errors="replace")
    match = REFRESH.search(text)
    return match.group(1) if match and "<body" not in text else None


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Ids(html.parser.HTMLParser):
    """The ids (and anchor names) of an HTML page: the targets of its #fragments."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value or "")


@functools.cache
def ids_of(path: Path) -> frozenset[str]:
    parser = Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


@pytest.fixture(scope="module")
def visits():
    """Open every page once: {page path: (the load's Visit, what INSPECT found, seconds)}."""
    book_checks.load_report()
    if not find_chromium():
        book_checks.missing("no Chromium to open the book with: `apt-get install chromium`")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    results = {}
    try:
        with Chromium() as browser:
            page = browser.new_page(WIDTH, HEIGHT)
            for path in book_checks.pages():
                relative = path.relative_to(HTML).as_posix()
                if target := redirect(path):  # e.g. index.html -> the root page: not a page itself
                    found = {**EMPTY, "links": [urljoin(base + relative, target)]}
                    results[relative] = (Visit(base + relative), found, 0.0)
                    continue
                start = time.monotonic()
                visit = page.open(base + relative, settle_js=SETTLE)
                found = page.evaluate(INSPECT)
                page.screenshot(SCREENSHOTS / Path(relative).with_suffix(".png"), WIDTH)
                results[relative] = (visit, found, time.monotonic() - start)
    finally:
        server.shutdown()
        server.server_close()
    return {"base": base, "pages": results}


def failures(visits, check) -> str:
    """Every page's problems found by ``check(page, visit, found)``, one line each."""
    lines = [f"{page}: {problem}" for page, (visit, found, _) in visits["pages"].items()
             for problem in check(page, visit, found)]  # fmt: skip
    return "\n".join(lines)


def test_every_page_is_opened_and_photographed(visits):
    assert set(visits["pages"]) == {p.relative_to(HTML).as_posix() for p in book_checks.pages()}
    for entry in book_checks.build_book.toc_files(REPO):
        assert f"{entry}.html" in visits["pages"], entry
    for page in visits["pages"]:
        if redirect(HTML / page):
            continue  # its target is checked as a link
        shot = SCREENSHOTS / Path(page).with_suffix(".png")
        assert shot.is_file() and shot.stat().st_size > 5000, shot


def own_request(url: str) -> bool:
    """The browser's own request for a site icon at the server's root: no page asks for it."""
    return urlsplit(url).path == "/favicon.ico"


def test_no_console_errors(visits):
    def check(page, visit, found):
        for error in visit.console_errors:
            if not (error.startswith("network:") and own_request(error.split()[-1])):
                yield error
        for kind, url, why in visit.failed_requests:
            if kind != "Image" and not own_request(url):  # images: see the next test
                yield f"{kind or 'request'} {url} failed: {why}"

    assert not (problems := failures(visits, check)), problems


def test_internal_links_and_images_resolve(visits):
    base = visits["base"]

    def check(page, visit, found):
        for kind, url, why in visit.failed_requests:
            if kind == "Image":
                yield f"image {url} failed: {why}"
        for image in found["images"]:
            if not image["loaded"]:
                yield f"image {image['src']} did not load"
        for href in found["links"]:
            if not href.startswith(base):
                continue  # external: the book's pages cannot check them offline
            parts = urlsplit(href)
            target = HTML / unquote(parts.path[1:] if not parts.path.endswith("/") else
                                    parts.path[1:] + "index.html")  # fmt: skip
            if not target.is_file():
                yield f"broken link {href[len(base) :]}"
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in ids_of(target):
                    yield f"broken link {href[len(base) :]} (no such anchor)"

    assert not (problems := failures(visits, check)), problems


def test_formulas_are_rendered(visits):
    def check(page, visit, found):
        for text in found["unrendered"]:
            yield f"formula not rendered: {text}"
        for text in found["math_errors"]:
            yield f"formula with a TeX error: {text}"

    assert not (problems := failures(visits, check)), problems
    # not vacuous: the chapter on convolution math shows its formulas typeset
    assert visits["pages"]["book/02_convolution_math.html"][1]["rendered"] > 10


def test_figures_have_alt_text(visits):
    """A figure's alt text describes it for screen readers; a file name or nothing does not."""

    def check(page, visit, found):
        for image in found["images"]:
            alt = (image["alt"] or "").strip()
            name = Path(urlsplit(image["src"]).path).name
            if not alt or re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.I) or name in alt:
                yield f"figure {name} has alt text {image['alt']!r}"

    assert not (problems := failures(visits, check)), problems


def test_code_fits_the_column(visits):
    def check(page, visit, found):
        for wide in found["wide"]:
            yield f"{wide['element']} runs {wide['overflow']} px past the column: {wide['line']!r}"

    assert not (problems := failures(visits, check)), problems


def test_notebook_pages_have_colab_and_download_buttons(visits):
    url = book_checks.build_book.load_yaml(REPO / "_config.yml")["repository"]["url"]
    github = url.removeprefix("https://github.com/")

    def check(page, visit, found):
        source = book_checks.page_source(HTML / page)
        if source is None or source.suffix != ".ipynb":
            return
        notebook = source.relative_to(REPO).as_posix()
        colab = f"https://colab.research.google.com/github/{github}/blob/main/{notebook}"
        if colab not in found["colab"]:
            yield f"no Colab button for {notebook} (found {found['colab']})"
        if not any(href.endswith(f"_sources/{notebook}") for href in found["downloads"]):
            yield f"no download button for {notebook} (found {found['downloads']})"

    assert not (problems := failures(visits, check)), problems
    notebooks = [page for page in visits["pages"] if page.startswith("book/")]
    assert notebooks, "no chapter pages"


def test_no_heading_is_doubled(visits):
    def check(page, visit, found):
        headings = found["headings"]
        for upper, lower in zip(headings, headings[1:], strict=False):
            if upper and upper.lower() == lower.lower():
                yield f"heading {upper!r} right above the same heading"

    assert not (problems := failures(visits, check)), problems


BROKEN_PAGE = """<!doctype html><html><head><title>broken</title></head><body>
<main><article class="bd-article" style="width: 400px">
<h2>Results</h2><p class="caption">Results</p>
<p>An unrendered formula: \\(a^2 + b^2\\)</p>
<div class="highlight"><pre style="overflow-x: auto">x = "%s"</pre></div>
<img src="missing.png" alt="">
<img src="figure.png" alt="../_images/figure.png">
<a href="nowhere.html">a broken link</a>
<script>console.error("something broke")</script>
</article></main></body></html>"""


def test_the_checks_see_what_is_wrong_with_a_broken_page(tmp_path):
    """Not vacuous: on a page with every problem, each one is found."""
    if not find_chromium():
        book_checks.missing("no Chromium to open a page with: `apt-get install chromium`")
    (tmp_path / "page.html").write_text(BROKEN_PAGE % ("long " * 60))
    (tmp_path / "figure.png").write_bytes(b"not a PNG")  # served, but no image
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Chromium() as browser:
            page = browser.new_page(WIDTH, HEIGHT)
            visit = page.open(f"http://127.0.0.1:{server.server_port}/page.html", settle_js=SETTLE)
            found = page.evaluate(INSPECT)
    finally:
        server.shutdown()
        server.server_close()
    assert any("something broke" in error for error in visit.console_errors), visit
    assert any(url.endswith("missing.png") for _, url, _ in visit.failed_requests), visit
    assert found["unrendered"] and "a^2" in found["unrendered"][0]
    assert found["wide"] and found["wide"][0]["line"].startswith('x = "long')
    assert [image["alt"] for image in found["images"]] == ["", "../_images/figure.png"]
    assert not any(image["loaded"] for image in found["images"])
    assert any(link.endswith("/nowhere.html") for link in found["links"])
    assert found["headings"] == ["Results", "Results"]

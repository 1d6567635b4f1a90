"""Headless Chromium, driven through the DevTools protocol over a pipe: no driver and no extra package.

    with Chromium() as browser:
        page = browser.new_page(width=1280, height=900)
        report = page.open("http://127.0.0.1:8000/index.html")   # console errors, failed requests
        value = page.evaluate("document.title")
        page.screenshot("out.png")

Chromium reads protocol commands from its file descriptor 3 and writes answers and events to 4
(``--remote-debugging-pipe``), one JSON message per NUL-terminated chunk.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Headless, and quiet on a closed network: no background connections that would hang or fail.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium executable on PATH (or in ``$CHROMIUM``), None when there is none."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def _above_four(fd: int) -> int:
    """``fd`` moved to a number above 4 (the original is closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error, stopped, or did not answer in time."""


class Chromium:
    """One headless Chromium process with a fresh profile."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise FileNotFoundError("no Chromium found: install Debian's `chromium` package")
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._buffer = b""
        self._events: list[dict] = []
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Keep the child's ends away from 3 and 4, where bash puts them for the browser.
        to_browser_r, from_browser_w = (_above_four(fd) for fd in (to_browser_r, from_browser_w))
        # The browser expects the pipe on fds 3 (commands) and 4 (answers): bash puts them there.
        redirect = (
            f"exec 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-"
        )
        command = [*FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", redirect + '; exec "$0" "$@"', self.executable, *command],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        try:
            self.version = self.send("Browser.getVersion")["product"]
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            try:
                self._write({"id": next(self._ids), "method": "Browser.close"})
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    # -- the protocol -------------------------------------------------------------------------------
    def _write(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data) :]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    err = self.process.stderr.read().decode(errors="replace")[-2000:]
                    raise ProtocolError(f"Chromium stopped:\n{err}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:  # fmt: skip
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            answer = self._read(deadline)
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise ProtocolError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def wait_for(self, method: str, session: str | None = None, timeout: float | None = None):
        """The first event ``method`` (of ``session``) not yet seen; earlier events are kept."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self._events.pop(index)
            answer = self._read(deadline)
            if "method" in answer:
                self._events.append(answer)

    def take_events(self, session: str) -> list[dict]:
        """Every event of ``session`` received so far (they are removed)."""
        mine = [event for event in self._events if event.get("sessionId") == session]
        self._events = [event for event in self._events if event.get("sessionId") != session]
        return mine

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page


@dataclass
class Visit:
    """What happened while a page loaded: console errors and requests that failed."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[tuple[str, str, str]] = field(default_factory=list)  # (type, url, why)


class Page:
    """One tab of the browser."""

    def __init__(self, browser: Chromium, session: str):
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        return self.browser.send(method, params, self.session, timeout)

    def open(self, url: str, settle_js: str | None = None) -> Visit:
        """Load ``url``; then, if given, await the promise ``settle_js`` (e.g. MathJax typesetting)."""
        self.browser.take_events(self.session)
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise ProtocolError(f"{url}: {answer['errorText']}")
        self.browser.wait_for("Page.loadEventFired", self.session)
        if settle_js:
            self.evaluate(settle_js)
        return self._visit(url, self.browser.take_events(self.session))

    def _visit(self, url: str, events: list[dict]) -> Visit:
        visit = Visit(url)
        requests: dict[str, tuple[str, str]] = {}
        for event in events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                requests[params["requestId"]] = (params.get("type", ""), params["request"]["url"])
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                response = params["response"]
                why = f"HTTP {response['status']}"
                visit.failed_requests.append((params.get("type", ""), response["url"], why))
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                kind, target = requests.get(params["requestId"], (params.get("type", ""), "?"))
                visit.failed_requests.append((kind, target, params.get("errorText", "failed")))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                visit.console_errors.append(f"uncaught: {text}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                args = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
                visit.console_errors.append("console.error: " + " ".join(args))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                visit.console_errors.append(f"{entry.get('source', 'log')}: {entry['text']} "
                                            f"{entry.get('url', '')}".strip())  # fmt: skip
        return visit

    def evaluate(self, expression: str, timeout: float | None = None):
        """The JSON value of a JavaScript expression; promises are awaited."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise ProtocolError(f"JavaScript error: {text}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path, width: int = 1280, max_height: int = 60000) -> int:
        """Save a PNG of the whole page (up to ``max_height`` pixels); return the height saved."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        height = int(min(max(size["height"], 1), max_height))
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            timeout=120,
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return height

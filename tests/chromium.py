"""Real headless Debian chromium driven over the DevTools protocol (websockets; no chromedriver).

The one browser helper of the tests (comparison page and portal). Real browser behaviour is the
point: cookies (HttpOnly, SameSite=Strict), form posts without JavaScript, file inputs and downloads
all go through chromium itself, and the page tests ask the live DOM questions (layout widths at
390 px, what a click does) and take full-page screenshots whose pixel width shows overflow.
``--dump-dom`` cannot do that: the page renders after several API calls.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-allow-origins=*")


class Browser:
    """One chromium process with one page. ``with Browser(profile) as page: ...`` or ``close()``.

    ``javascript=False`` disables the page's own scripts (DevTools still evaluates expressions), to
    show that a page works without them.
    """

    def __init__(self, profile: Path, downloads: Path | None = None, *, javascript: bool = True) -> None:
        self.downloads = downloads or profile / "downloads"
        profile.mkdir(parents=True, exist_ok=True)
        self.downloads.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # left by an earlier run on the same profile
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws = None
        self._id = 0
        self.events: list[dict] = []
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.call("Page.enable")
        self.call("Page.setDownloadBehavior", behavior="allow", downloadPath=str(self.downloads))
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", value=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- protocol ------------------------------------------------------------------------------

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result; events arriving meanwhile are kept for wait_for."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(event)
            try:
                self.events.append(json.loads(self.ws.recv(timeout=remaining)))
            except TimeoutError:
                raise TimeoutError(event) from None

    def evaluate(self, expression: str):
        """The expression's value (promises awaited); runs even when the page's own scripts are disabled."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    # --- pages ---------------------------------------------------------------------------------

    def viewport(self, width: int, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)

    def goto(self, url: str) -> None:
        """Navigate and wait for the load event (server-rendered pages)."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def open(self, url: str) -> float:
        """Navigate and wait until a script-drawn page says it has rendered (``body[data-ready=1]``);
        returns the seconds taken (reported by the page test, never asserted)."""
        start = time.perf_counter()
        self.goto(url)
        self.wait_ready()
        return time.perf_counter() - start

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.evaluate("document.body ? document.body.dataset.ready : ''")
            if state == "1":
                return
            if state == "error" or time.monotonic() > deadline:
                raise RuntimeError(f"page not ready ({state}): {self.text()[:500]}")
            time.sleep(0.02)

    def text(self) -> str:
        return self.evaluate("document.body.innerText")

    def html(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path: Path) -> tuple[int, int]:
        """Full-page PNG (beyond the viewport); returns its pixel (width, height) read from the PNG header."""
        metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1})
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        return struct.unpack(">II", data[16:24])

    # --- forms and downloads -------------------------------------------------------------------

    def set_file(self, selector: str, path: Path) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def _centre(self, selector: str) -> list[float]:
        found = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                              " if (!e) return null; e.scrollIntoView(); const r = e.getBoundingClientRect();"
                              " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        if found is None:
            raise LookupError(selector)
        return found

    def click_and_load(self, selector: str) -> None:
        """Click (a real mouse click at the element) and wait for the next page to load."""
        self.events.clear()
        x, y = self._centre(selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        self.wait_for("Page.loadEventFired")

    def download(self, url: str, timeout: float = 60) -> Path:
        """Navigate to a download URL; returns the finished file."""
        before = set(self.downloads.iterdir())
        self.events.clear()
        with contextlib.suppress(RuntimeError):  # a download aborts the navigation; chromium reports an error
            self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [p for p in set(self.downloads.iterdir()) - before if not p.name.endswith(".crdownload")]
            if new:
                return new[0]
            time.sleep(0.1)
        raise TimeoutError(url)

    def close(self) -> None:
        """Close chromium the way a person does (Browser.close), so cookies are written to the profile."""
        if self.ws is not None:
            with contextlib.suppress(Exception):  # a browser that is already gone is terminated below
                self.ws.send(json.dumps({"id": self._id + 1, "method": "Browser.close", "params": {}}))
                self.proc.wait(timeout=15)
            with contextlib.suppress(Exception):
                self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

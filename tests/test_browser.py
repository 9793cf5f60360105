"""The built smoke book in a real browser: headless Chromium opens every page over local HTTP.

Chromium (Debian's package; `make chromium` installs it) is driven over the DevTools protocol with
websocket-client, so nothing is downloaded at test time. The site is served by a local
`http.server` thread, as file:// would hide broken absolute links and blocked fetches. Every page
must load without a console error, load every image, link only to pages and anchors that exist,
typeset every equation with MathJax (no raw `$...$`, `\\(`, `\\[` left in the text) and request
nothing outside the local server. The landing page's screenshot goes to build/screenshots/.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import websocket

from fashion_lib import paths
from fashion_lib.book.runner import discover

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = paths.PROJECT_ROOT / "build" / "screenshots" / "landing.png"
# Headless, no sandbox (containers run as root), no GPU or /dev/shm, no traffic of Chromium's own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--mute-audio",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
)
# Run in each page after its load event: wait for MathJax's first typeset and for every image,
# then report what the checks need. Code, outputs and typeset math are cut from the scanned text.
INSPECT = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const math = [...document.querySelectorAll(".math")];
  const text = document.body.cloneNode(true);
  text.querySelectorAll("pre, code, kbd, samp, script, style, textarea, mjx-container, .math")
    .forEach((el) => el.remove());
  return {
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src),
    math: math.length,
    untypeset: math.filter((el) => !el.querySelector("mjx-container"))
      .map((el) => el.textContent.trim().slice(0, 80))
      .concat([...document.querySelectorAll("mjx-merror")].map((el) => el.textContent)),
    text: text.textContent,
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    ids: [...document.querySelectorAll("[id]")].map((el) => el.id)
      .concat([...document.querySelectorAll("a[name]")].map((a) => a.name)),
  };
})()"""
RAW_MATH = re.compile(r"\$[^$\s][^$\n]{0,200}\$|\\\(|\\\[|\\begin\{")
LOCAL_SCHEMES = ("data:", "blob:", "about:")
# Console errors that are not the book's: (substring, why it is tolerated).
KNOWN_ERRORS = (
    (
        "Identifier 'THEBE_JS_URL' has already been declared",
        "Sphinx 7.4 writes inline scripts added after Builder.init() twice (fixed upstream in"
        " sphinx-doc/sphinx#13402, Sphinx 8.2; Jupyter Book 1.x pins Sphinx < 8); thebe is off",
    ),
    ("/favicon.ico", "the browser's own favicon probe; the book declares no favicon"),
)
REFRESH = re.compile(r'http-equiv="refresh"[^>]*url=([^"]+)"', re.IGNORECASE)


class DevTools:
    """A minimal synchronous DevTools-protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        self._ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result; events arriving meanwhile are kept."""
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def pump(self, seconds: float) -> None:
        """Collect the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._ws.settimeout(left)
            try:
                self.events.append(json.loads(self._ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        self._ws.settimeout(60)

    def seen(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every kept event named `method`."""
        return [e["params"] for e in self.events if e.get("method") == method]

    def close(self) -> None:
        self._ws.close()


@dataclass(frozen=True)
class PageReport:
    """What one page did in the browser."""

    console_errors: list[str]
    requests: list[str]
    broken_images: list[str]
    math_elements: int
    untypeset_math: list[str]
    raw_math: list[str]
    links: list[str]
    ids: frozenset[str]


def _page_target(port: int) -> str:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
        targets = json.load(response)
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    """Headless Chromium with a fresh profile, connected to its one tab."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed; `make chromium` installs Debian's package")
    profile = tmp_path_factory.mktemp("chromium")
    log = profile / "chromium.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"Chromium exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"Chromium did not start: {log.read_text()[-2000:]}"
            time.sleep(0.1)
        tools = DevTools(_page_target(int(port_file.read_text().split()[0])))
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(smoke_site: Path) -> Iterator[str]:
    """The built book over HTTP on a free loopback port; yields its base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(smoke_site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def pages(site: Path) -> list[str]:
    """Every built HTML page, relative to the site, except index.html (a redirect) and assets."""
    found = [p.relative_to(site).as_posix() for p in site.rglob("*.html")]
    return sorted(p for p in found if not p.startswith("_") and p != "index.html")


def _console_errors(tools: DevTools) -> list[str]:
    errors = [
        " ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])
        for e in tools.seen("Runtime.consoleAPICalled")
        if e["type"] in ("error", "assert")
    ]
    for thrown in tools.seen("Runtime.exceptionThrown"):
        details = thrown["exceptionDetails"]
        error = details.get("exception", {}).get("description") or details.get("text", "")
        errors.append(f"{error} {details.get('url', '')}")
    errors += [
        f"{e['entry']['text']} {e['entry'].get('url', '')}"
        for e in tools.seen("Log.entryAdded")
        if e["entry"]["level"] == "error"
    ]
    return errors


def _wait_for_network_idle(tools: DevTools, quiet: float = 0.3, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = {e["requestId"] for e in tools.seen("Network.requestWillBeSent")}
        ended = {
            e["requestId"]
            for name in ("Network.loadingFinished", "Network.loadingFailed")
            for e in tools.seen(name)
        }
        count = len(tools.events)
        tools.pump(quiet)
        if started <= ended and len(tools.events) == count:
            return


def visit(tools: DevTools, url: str) -> PageReport:
    """Open `url`, wait for its load, MathJax, images and network to settle, and report."""
    tools.events.clear()
    nav = tools.call("Page.navigate", url=url)
    assert "errorText" not in nav, f"{url}: {nav['errorText']}"
    deadline = time.monotonic() + 60
    while not tools.seen("Page.loadEventFired"):
        assert time.monotonic() < deadline, f"{url} did not load within 60 s"
        tools.pump(0.1)
    found = tools.call(
        "Runtime.evaluate", expression=INSPECT, awaitPromise=True, returnByValue=True
    )
    assert "exceptionDetails" not in found, f"{url}: {found['exceptionDetails']}"
    page = found["result"]["value"]
    _wait_for_network_idle(tools)
    return PageReport(
        console_errors=_console_errors(tools),
        requests=[e["request"]["url"] for e in tools.seen("Network.requestWillBeSent")],
        broken_images=page["broken"],
        math_elements=page["math"],
        untypeset_math=page["untypeset"],
        raw_math=[m.group(0) for m in RAW_MATH.finditer(page["text"])],
        links=page["links"],
        ids=frozenset(page["ids"]),
    )


@pytest.fixture(scope="module")
def reports(smoke_site: Path, server: str, browser: DevTools) -> dict[str, PageReport]:
    """Every page of the book visited once; the landing page's screenshot saved on the way."""
    visited = {page: visit(browser, server + page) for page in pages(smoke_site)}
    landing = REFRESH.search((smoke_site / "index.html").read_text(encoding="utf-8"))
    assert landing, "index.html does not redirect to the landing page"
    visit(browser, server + landing.group(1))
    shot = browser.call("Page.captureScreenshot", format="png")["data"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot))
    return visited


def _problems(reports: dict[str, PageReport], field: str) -> str:
    return "\n".join(f"{page}: {item}" for page, r in reports.items() for item in getattr(r, field))


def test_every_chapter_was_opened(reports: dict[str, PageReport]) -> None:
    chapters = [f"book/executed/{p.stem}.html" for p in discover()]
    assert set(chapters) <= set(reports), sorted(set(chapters) - set(reports))


def test_no_console_errors(reports: dict[str, PageReport]) -> None:
    errors = [
        f"{page}: {error}"
        for page, r in reports.items()
        for error in r.console_errors
        if not any(known in error for known, _ in KNOWN_ERRORS)
    ]
    assert not errors, "\n".join(errors)


def test_every_image_loads(reports: dict[str, PageReport]) -> None:
    assert not _problems(reports, "broken_images"), _problems(reports, "broken_images")


def test_nothing_is_requested_outside_the_local_server(
    reports: dict[str, PageReport], server: str
) -> None:
    outside = [
        f"{page}: {url}"
        for page, r in reports.items()
        for url in r.requests
        if not url.startswith((server, *LOCAL_SCHEMES))
    ]
    assert not outside, "\n".join(outside)


def test_math_is_typeset_by_mathjax(reports: dict[str, PageReport]) -> None:
    assert sum(r.math_elements for r in reports.values()) > 0, "no page has an equation"
    untypeset = _problems(reports, "untypeset_math")
    raw = _problems(reports, "raw_math")
    assert not (untypeset or raw), f"not typeset:\n{untypeset}\nraw math in text:\n{raw}"


def _has_anchor(site: Path, page: str, fragment: str, reports: dict[str, PageReport]) -> bool:
    """Whether `fragment` names an element of `page` (always true for a non-HTML file)."""
    if not page.endswith(".html"):
        return True
    if page in reports:
        return fragment in reports[page].ids
    return fragment in re.findall(r'\b(?:id|name)="([^"]+)"', (site / page).read_text("utf-8"))


def test_internal_links_reach_existing_pages_and_anchors(
    reports: dict[str, PageReport], smoke_site: Path, server: str
) -> None:
    landing = REFRESH.search((smoke_site / "index.html").read_text(encoding="utf-8"))
    links = [("index.html", server + landing.group(1))] if landing else []
    links += [(page, url) for page, r in reports.items() for url in r.links]
    broken = []
    for page, url in links:
        if not url.startswith(server):
            continue  # papers, repositories: plain links, never loaded by the page
        parts = urlsplit(url)
        target = unquote(parts.path).lstrip("/") or "index.html"
        target += "index.html" if target.endswith("/") else ""
        if not (smoke_site / target).is_file():
            broken.append(f"{page}: {url} (no page {target})")
        elif parts.fragment and not _has_anchor(
            smoke_site, target, unquote(parts.fragment), reports
        ):
            broken.append(f"{page}: {url} (no #{parts.fragment} in {target})")
    assert not broken, "\n".join(broken)


def test_landing_page_screenshot(reports: dict[str, PageReport]) -> None:
    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000, f"{SCREENSHOT}: {len(png)} bytes"

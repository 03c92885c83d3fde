"""Helpers for the browser tier: servers on free 127.0.0.1 ports in background threads, and a
Chromium page that records every request and refuses any that would leave this machine."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL = "127.0.0.1"
AXE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1, see its README
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def browser_marks() -> list:
    """The marks every browser test module carries: the tier, and a skip where Chromium is missing."""
    import pytest

    return [
        pytest.mark.browser,
        pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (`make browser-deps` installs it)"),
        # Gradio's queue statistics use pandas options that pandas 3 deprecates; not ours to fix.
        pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
        pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    ]


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free local port (no race between choosing and binding)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOCAL, 0))
    return sock


@contextlib.contextmanager
def uvicorn_server(app, sock: socket.socket):
    """Serve ``app`` on ``sock`` in a thread; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{LOCAL}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


@contextlib.contextmanager
def static_server(directory: Path):
    """Serve ``directory`` over HTTP on a free local port; yields the origin."""
    httpd = ThreadingHTTPServer((LOCAL, 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def expect(locator):
    """Playwright's web-first assertions (imported late: the fast tier never loads Playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


class Recorder:
    """Every URL the browser asked for; anything not on 127.0.0.1 is aborted and kept in ``outside``."""

    def __init__(self):
        self.urls: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []

    def route(self, route) -> None:
        url = route.request.url
        self.urls.append(url)
        if urlsplit(url).hostname != LOCAL:
            self.outside.append(url)
            route.abort()
        else:
            route.continue_()

    def dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def paths(self) -> list[str]:
        return [urlsplit(u).path for u in self.urls]

    def watch(self, context) -> None:
        context.route("**/*", self.route)
        context.on("page", lambda page: page.on("dialog", self.dialog))


def axe_violations(page) -> list[str]:
    """Every WCAG 2.1 A/AA violation axe-core finds on the page (shadow DOM included), one line each."""
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "tests/assets/axe-core/axe.min.js changed"
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(content=source.decode("utf-8"))
    found = page.evaluate("""async tags => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
        .violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => [n.target, n.failureSummary])}))""",
                          WCAG_21_AA)
    return [f"{v['id']} ({v['impact']}): {target} {summary}" for v in found for target, summary in v["nodes"]]

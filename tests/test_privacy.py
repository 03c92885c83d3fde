"""Privacy: questions and answers are neither logged nor stored by default, through every interface;
the operator's MGQA_LOG_QUESTIONS=1 turns the question log on; the web chat keeps nothing in the
browser once the tab or the browser is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import mgqa.answer
from browser_util import CHROMIUM, CHROMIUM_ARGS, Recorder, static_server
from mgqa.cli import main
from mgqa.serve.app import Asker, create_app
from mgqa.serve.chat import make_respond
from netguard import guarded_env, refused
from reliability import mgqa_server, record

REPO = Path(__file__).resolve().parents[1]
SECRET = "zebrafinch"  # a word in every question here and in no document, log line or file
QUESTION = f"My name is Ann {SECRET}; what dose of magnesium did the fibromyalgia trial use?"
FIGURES: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    record("privacy", **dict(FIGURES), errors=0)


class Everything(logging.Handler):
    """Every record of every logger, whatever its level or ``propagate``."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._seen: set[int] = set()

    def emit(self, record):
        if id(record) not in self._seen:  # attached to every logger: a record reaches it once per ancestor
            self._seen.add(id(record))
            self.lines.append(f"{record.name} {self.format(record)} {record.args!r}")


@contextlib.contextmanager
def all_logs_at_debug():
    handler = Everything()
    handler.setFormatter(logging.Formatter("%(message)s %(exc_text)s %(stack_info)s"))
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
            lg.removeHandler(handler)


class Writes:
    """Every file or directory this process creates, writes, renames or removes (an audit hook, so
    any thread and any library counts), while ``on``. Compiled bytecode is the interpreter's own."""

    EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.truncate", "os.link", "os.symlink",
              "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.rmtree", "sqlite3.connect",
              "tempfile.mkstemp", "tempfile.mkdtemp"}

    def __init__(self):
        self.on = False
        self.seen: list[str] = []
        sys.addaudithook(self.hook)  # hooks cannot be removed: ``on`` gates it

    def hook(self, event: str, args: tuple) -> None:
        if not self.on:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and not isinstance(path, int) and not str(path).endswith(".pyc") and str(path) != os.devnull:
                self.seen.append(f"open {path} {mode or flags}")
        elif event in self.EVENTS:
            self.seen.append(f"{event} {args[:2]!r}")


WRITES = Writes()


@pytest.fixture
def interfaces(engine, monkeypatch):
    """Ask through each interface: the library, the CLI (argument and standard input), the JSON API
    (answers and every error), the chat (answers and errors)."""
    monkeypatch.setattr(mgqa.answer, "get_engine", lambda index_dir=None: engine)
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    respond = make_respond(Asker(engine), engine.index.clinic)
    broken = Asker(type("Broken", (), {"ask": lambda self, q, h=None: 1 / 0})())

    def ask_everywhere() -> int:
        calls = [
            lambda: engine.ask(QUESTION),
            lambda: engine.ask(QUESTION + " and for migraines?", history=[QUESTION]),
            lambda: CliRunner().invoke(main, ["ask", "--json", QUESTION]),
            lambda: CliRunner().invoke(main, ["ask"], input=f"{QUESTION}\n{SECRET * 200}\n"),
            lambda: client.post("/api/ask", json={"question": QUESTION, "history": [QUESTION]}),
            lambda: client.post("/api/ask", json={"question": SECRET * 200}),  # 422: too long
            lambda: client.post("/api/ask", content=f"{{'question': '{SECRET}'"),  # 422: not JSON
            lambda: client.post("/api/ask", json={"question": SECRET * 5000}),  # 413
            lambda: respond(QUESTION, [{"role": "user", "content": QUESTION}]),
            lambda: respond(SECRET * 200, []),
            lambda: make_respond(broken, engine.index.clinic)(QUESTION, []),  # an internal error: logged, without the question
        ]
        for call in calls:
            with contextlib.suppress(Exception):
                call()
        return len(calls)

    return ask_everywhere


def test_nothing_is_logged_by_default(interfaces, monkeypatch):
    monkeypatch.delenv("MGQA_LOG_QUESTIONS", raising=False)
    interfaces()  # warm-up: first imports may log about themselves
    with all_logs_at_debug() as lines:
        FIGURES["requests without a log line"] += interfaces()
    assert lines, "the capture saw nothing at all: it is broken"  # the internal error is logged
    assert not [line for line in lines if SECRET in line]
    assert any("ZeroDivisionError" in line for line in lines)


def test_the_operator_setting_turns_the_question_log_on(interfaces, monkeypatch):
    monkeypatch.setenv("MGQA_LOG_QUESTIONS", "1")
    with all_logs_at_debug() as lines:
        interfaces()
    logged = [line for line in lines if line.startswith("mgqa.questions ") and SECRET in line]
    assert len(logged) == 2, logged  # the API's and the chat's valid questions: the log is the server's
    assert all("status=" in line and f"question={QUESTION!r}" in line for line in logged)


def test_asking_writes_no_file(interfaces, tmp_path, monkeypatch):
    """Nothing is stored: no file is created, written, renamed or removed while asking."""
    monkeypatch.setenv("MGQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    interfaces()  # warm-up
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    WRITES.on, WRITES.seen = True, []
    try:
        FIGURES["requests without a file written"] += interfaces()
    finally:
        WRITES.on = False
    assert WRITES.seen == []
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_the_audit_hook_sees_writes(tmp_path):
    """Self-test of the check above."""
    WRITES.on, WRITES.seen = True, []
    try:
        (tmp_path / "x.txt").write_text("x")
        with tempfile.NamedTemporaryFile(dir=tmp_path):
            pass
    finally:
        WRITES.on = False
    assert len(WRITES.seen) >= 2


# ---------------------------------------------------------------- the real server


@pytest.mark.model
def test_the_server_logs_questions_when_the_operator_turns_it_on(tmp_path):
    """`mgqa serve` as an operator starts it. (With the default, the browser test below finds the
    question nowhere in the server's output.)"""
    with mgqa_server(tmp_path, dict(os.environ, MGQA_LOG_QUESTIONS="1")) as server:
        assert httpx.post(server.base + "/api/ask", json={"question": QUESTION}, timeout=60).status_code == 200
        assert httpx.post(server.base + "/api/ask", json={"question": SECRET * 200}, timeout=60).status_code == 422
    logged = [line for line in server.stderr().splitlines() if SECRET in line]
    assert len(logged) == 1 and "mgqa.questions status=" in logged[0], server.stderr()


# ---------------------------------------------------------------- the browser


def profile_hits(profile: Path) -> list[str]:
    """Files of the browser profile that hold the secret word, in UTF-8 or UTF-16 (as Chromium
    stores web storage)."""
    needles = [SECRET.encode(), SECRET.encode("utf-16-le")]
    hits = []
    for f in profile.rglob("*"):
        with contextlib.suppress(OSError):
            if f.is_file() and any(n in f.read_bytes() for n in needles):
                hits.append(str(f.relative_to(profile)))
    return hits


STORED = """async () => ({
    local: JSON.stringify(Object.entries(localStorage)), session: JSON.stringify(Object.entries(sessionStorage)),
    databases: indexedDB.databases ? (await indexedDB.databases()).length : 0, cookies: document.cookie,
    caches: (await caches.keys()).length, text: document.body.innerText})"""


def nothing_kept(page) -> dict:
    stored = page.evaluate(STORED)
    assert SECRET not in stored["local"] + stored["session"] + stored["text"], stored
    assert stored["databases"] == 0 and stored["caches"] == 0 and stored["cookies"] == "", stored
    return stored


@pytest.mark.browser
@pytest.mark.model
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (`make browser-deps` installs it)")
@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting")
def test_the_chat_keeps_nothing_in_the_browser_after_the_tab_closes(tmp_path):
    """The chat and the widget in a real Chromium profile on disk; the server is `mgqa serve` with the
    network guarded, so the chat's round trip through Gradio is also shown to stay offline."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pages = tmp_path / "pages"
    pages.mkdir()
    refused_log = tmp_path / "refused.jsonl"
    env = guarded_env(tmp_path, refused_log)
    profile = tmp_path / "profile"
    recorder = Recorder()
    with static_server(pages) as clinic:
        env["MGQA_ALLOWED_ORIGINS"] = clinic
        with mgqa_server(tmp_path, env) as server, sync_api.sync_playwright() as p:
            page_html = (REPO / "examples" / "clinic.html").read_text(encoding="utf-8")
            (pages / "clinic.html").write_text(page_html.replace("http://127.0.0.1:7860", server.base))

            def browser():
                context = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM,
                                                               args=CHROMIUM_ARGS)
                recorder.watch(context)
                return context

            context = browser()
            tab = context.new_page()
            tab.goto(server.base + "/")
            box = tab.get_by_role("textbox").first
            box.fill(QUESTION)
            box.press("Enter")
            tab.locator(".mgqa-answer").first.wait_for(timeout=60_000)
            assert SECRET in tab.locator("body").inner_text()  # the conversation is on the screen
            widget = context.new_page()
            widget.goto(clinic + "/clinic.html")
            widget.locator(".launcher").click()
            widget.locator("#mgqa-input").fill(QUESTION)
            widget.locator("#mgqa-input").press("Enter")
            widget.locator(".turn .a").last.wait_for(timeout=60_000)
            assert SECRET in widget.locator(".turn .q").last.inner_text()
            tab.close()
            widget.close()

            again = context.new_page()  # a new tab, same browser
            again.goto(server.base + "/")
            again.get_by_role("textbox").first.wait_for()
            assert again.locator(".mgqa-answer").count() == 0
            nothing_kept(again)
            again.goto(clinic + "/clinic.html")
            again.locator(".launcher").click()
            assert again.locator(".turn").count() == 0
            nothing_kept(again)
            context.close()

            assert profile_hits(profile) == []  # the closed browser's profile on disk
            context = browser()  # the browser reopened on the same profile
            again = context.new_page()
            again.goto(server.base + "/")
            again.get_by_role("textbox").first.wait_for()
            assert again.locator(".mgqa-answer").count() == 0
            nothing_kept(again)
            again.evaluate(f"() => localStorage.setItem('probe', '{SECRET}')")  # self-test of the disk scan
            context.close()
            assert profile_hits(profile), "the profile scan would not see stored text"
    assert recorder.outside == [] and recorder.dialogs == []
    assert SECRET not in server.stderr()  # default settings: the question is in no log
    FIGURES["server runs without a question in its output"] += 1
    assert refused(refused_log) == [], "the server tried to reach the network"
    FIGURES["browser sessions checked (tab closed, browser closed)"] += 2

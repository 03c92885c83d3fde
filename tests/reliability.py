"""Shared by the reliability tests: the answer-contract check for any corpus, the HTML whitelist
of the chat, and the figures that docs/RELIABILITY.md quotes.

Each test adds its counts to one JSON file (``MGQA_RELIABILITY_FIGURES``, default
``$TMPDIR/mgqa-reliability.json``), so one ``pytest -m ""`` run yields every figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from mgqa.clinic import Clinic, packaged
from mgqa.normalize import clean_controls
from mgqa.types import Document

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording

FIGURES = Path(os.environ.get("MGQA_RELIABILITY_FIGURES") or Path(tempfile.gettempdir()) / "mgqa-reliability.json")


def record(name: str, **figures) -> None:
    """Merge ``figures`` under ``name`` in the figures file (one pytest process writes it)."""
    try:
        data = json.loads(FIGURES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[name] = dict(data.get(name, {}), **figures)
    FIGURES.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def cleaned(question: str) -> str:
    """What ``validate`` makes of a question, computed here so the tests can predict the outcome."""
    return " ".join(clean_controls(question).split())


def check_contract(obj: dict, docs: dict[str, Document], question: str | None = None, words: Clinic = WORDS) -> None:
    """The public answer contract, for answers from any corpus: verbatim passages, citations,
    the notice that goes with the status, always the disclaimer (the corpus's ``words``)."""
    assert set(obj) == {"question", "status", "passages", "disclaimer", "notice", "triage"}, obj
    assert obj["disclaimer"] == words.disclaimer
    if obj["status"] == "emergency":  # an emergency says why; nothing else carries triage
        assert set(obj["triage"]) == {"category", "by", "score"} and obj["triage"]["by"] in ("rule", "model")
        assert 0 < obj["triage"]["score"] <= 1
    else:
        assert obj["triage"] is None
    notices = {"answered": None, "no_answer": words.no_answer, "emergency": words.emergency_notice}
    assert obj["status"] in notices and obj["notice"] == notices[obj["status"]]
    if question is not None:
        assert obj["question"] == cleaned(question)
    assert (obj["status"] == "answered") == bool(obj["passages"])
    json.dumps(obj, ensure_ascii=False).encode("utf-8")  # the whole answer can be sent as UTF-8
    for i, p in enumerate(obj["passages"], 1):
        assert set(p) == {"rank", "text", "score", "highlights", "citation"}
        c = p["citation"]
        assert set(c) == {"n", "doc_id", "title", "section", "source", "start", "end", "link"}
        assert c["link"] is None or c["link"].startswith(c["source"].split(":~:")[0])  # the source, deep
        assert p["rank"] == i and c["n"] == i and isinstance(p["score"], float)
        assert docs[c["doc_id"]].text[c["start"]:c["end"]] == p["text"]  # verbatim, at its offsets
        for s, e in p["highlights"]:
            assert 0 <= s < e <= len(p["text"])


def check_error(response, status: int) -> str:
    """An HTTP error is the documented status with ``{"error": "<one line>"}`` and nothing else."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


# The chat's markup: every tag and attribute chat.answer_html / notice_html write. Anything else
# in a message came from a document or a question, unescaped.
CHAT_TAGS = {"div": {"class"}, "p": {"class", "role"}, "strong": set(), "blockquote": {"class"}, "mark": set(),
             "span": {"class"}, "a": {"href", "target", "rel"}}


class _Markup(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        allowed = CHAT_TAGS.get(tag)
        if allowed is None or any(name not in allowed for name, _ in attrs):
            self.bad.append(f"<{tag} {attrs}>")
        for name, value in attrs:
            if name == "href" and not (value or "").startswith(("http://", "https://")):
                self.bad.append(f"href={value!r}")

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.bad.append(f"<!--{data}-->")


def check_chat_html(out: str, words: Clinic = WORDS) -> str:
    """``out`` uses only the chat's own tags, carries no Markdown an image or link could come from,
    and shows the disclaimer (the corpus's ``words``). Returns the text a reader sees."""
    parser = _Markup()
    parser.feed(out)
    parser.close()
    assert parser.bad == [], parser.bad
    for markdown in ("](", "![", "<script", "<img", "<svg", "<iframe", "\n"):
        assert markdown not in out.lower(), markdown
    shown = "".join(parser.text)
    assert words.disclaimer in shown
    return shown


# ---------------------------------------------------------------- the real server, in a subprocess


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    pid: int  # the Python process serving (not strace's, when traced)
    log: Path  # its stderr

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mgqa_server(tmp: Path, env: dict | None = None, prefix: list[str] | None = None, start_seconds: float = 120,
                args: tuple[str, ...] = ()):
    """``mgqa serve [ARGS]`` on a free 127.0.0.1 port, exactly as an operator starts it (``prefix``:
    e.g. strace); yields a ``Server`` once ``/healthz`` answers, and stops it with SIGINT."""
    import httpx
    import psutil

    port = free_port()
    log = tmp / f"server-{port}.stderr"
    with open(log, "w") as err:
        process = subprocess.Popen([*(prefix or []), sys.executable, "-m", "mgqa", "serve", "--port", str(port), *args],
                                   env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=Path(__file__).parents[1])
    python = psutil.Process(process.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_seconds
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        if prefix:
            python = python.children()[0]
        yield Server(base, process, python.pid, log)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            python.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            python.kill()
            process.wait(10)

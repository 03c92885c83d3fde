"""The server in-process: the JSON contract, errors as HTTP statuses, limits, CORS, headers, privacy.

Uses the fake-encoder engine, so no model is loaded; the browser tier drives the real thing.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import time
from dataclasses import fields, replace

import pytest
from fastapi.testclient import TestClient

import mgqa.answer
from mgqa.clinic import packaged
from mgqa.errors import IndexNotFound, MgqaError
from mgqa.ingest import default_documents
from mgqa.serve.app import create_app
from mgqa.serve.chat import answer_html, earlier_questions, escape, make_respond, plain_text_chatbot
from mgqa.types import Answer, Citation, Passage

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording
DISCLAIMER = WORDS.disclaimer
EMERGENCY_NOTICE = WORDS.emergency_notice
NO_ANSWER_NOTICE = WORDS.no_answer

DOCS = {d.id: d for d in default_documents()}
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"
CLINIC = "https://clinic.example"


class Swappable:
    """Stands in for an engine so one app (slow to build) serves every test's own engine."""

    engine = None

    def ask(self, question, history=None, k=None):
        return self.engine.ask(question, history, k)


@pytest.fixture(scope="module")
def swappable():
    return Swappable()


@pytest.fixture(scope="module")
def shared_app(swappable):
    return create_app(swappable)


@pytest.fixture
def client(shared_app, swappable, engine):
    swappable.engine = engine
    return TestClient(shared_app, raise_server_exceptions=False)


def make_client(engine, monkeypatch, **env) -> TestClient:
    """A fresh app built under ``MGQA_*`` settings (read when the app is created)."""
    for name, value in env.items():
        monkeypatch.setenv("MGQA_" + name.upper(), str(value))
    return TestClient(create_app(engine), raise_server_exceptions=False)


def check_contract(obj: dict) -> None:
    assert set(obj) == {"question", "status", "passages", "disclaimer", "notice", "triage"}
    assert obj["status"] in ("answered", "no_answer", "emergency")
    assert obj["disclaimer"] == DISCLAIMER
    assert isinstance(obj["passages"], list)
    for i, p in enumerate(obj["passages"], 1):
        assert set(p) == {"rank", "text", "score", "highlights", "citation"}
        c = p["citation"]
        assert set(c) == {"n", "doc_id", "title", "section", "source", "start", "end", "link"}
        assert p["rank"] == i and c["n"] == i
        assert isinstance(p["score"], float) and isinstance(p["text"], str) and isinstance(c["title"], str)
        doc = DOCS[c["doc_id"]]
        assert p["text"] in doc.text
        assert doc.text[c["start"]:c["end"]] == p["text"]
        for s, e in p["highlights"]:
            assert isinstance(s, int) and 0 <= s < e <= len(p["text"])


def check_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


# ---------------------------------------------------------------- the contract


def test_answer_contract(client):
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    obj = r.json()
    check_contract(obj)
    assert obj["status"] == "answered" and obj["question"] == QUESTION and obj["notice"] is None
    assert "100 milligrams of a slow-release magnesium supplement" in obj["passages"][0]["text"]


def test_history_is_accepted_and_used(client, engine):
    r = client.post("/api/ask", json={"question": "what about for migraines?", "history": [QUESTION]})
    assert r.status_code == 200
    check_contract(r.json())
    alone = client.post("/api/ask", json={"question": "what about for migraines?"}).json()
    expected = engine.ask("what about for migraines?", [QUESTION]).to_dict()
    assert r.json() == expected
    assert client.post("/api/ask", json={"question": QUESTION, "history": None}).status_code == 200
    assert alone["question"] == "what about for migraines?"


@pytest.mark.parametrize("question, status", [
    ("Where can I buy a used car?", "no_answer"),
    ("crushing chest pain and I can't breathe", "emergency"),
])
def test_no_answer_and_emergency_keep_the_contract(client, question, status):
    obj = client.post("/api/ask", json={"question": question}).json()
    check_contract(obj)
    assert obj["status"] == status and obj["passages"] == []
    assert obj["triage"] == ({"category": "breathing", "by": "rule", "score": 1.0} if status == "emergency" else None)
    assert obj["notice"] == (EMERGENCY_NOTICE if status == "emergency" else NO_ANSWER_NOTICE)


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize("body", [
    {"question": ""},
    {"question": "   \t\n "},
    {},
    {"history": [QUESTION]},
    {"question": 5},
    {"question": None},
    {"question": ["a", "b"]},
    {"question": QUESTION, "history": "not a list"},
    {"question": QUESTION, "history": [1, 2]},
    {"question": "x" * 1001},
    [QUESTION],
    "just a string",
], ids=lambda b: repr(b)[:30])
def test_invalid_questions_are_422_with_one_line(client, body):
    check_error(client.post("/api/ask", json=body), 422)


@pytest.mark.parametrize("raw", [b"not json", b"", b"{\"question\": ", b"\xff\xfe", b"[" * 5000])
def test_non_json_bodies_are_422(client, raw):
    message = check_error(client.post("/api/ask", content=raw, headers={"content-type": "application/json"}), 422)
    assert "JSON" in message


def test_question_length_limit_follows_the_setting(engine, monkeypatch, client):
    assert "limit is 1,000" in check_error(client.post("/api/ask", json={"question": "y" * 1001}), 422)
    monkeypatch.setenv("MGQA_MAX_QUESTION_CHARS", "20")
    assert "limit is 20" in check_error(client.post("/api/ask", json={"question": "magnesium " * 5}), 422)


def test_body_over_the_limit_is_413(engine, monkeypatch):
    client = make_client(engine, monkeypatch, max_body_bytes=300)
    big = {"question": "magnesium " * 40}  # ~420 bytes: under the question limit, over the body limit
    check_error(client.post("/api/ask", json=big), 413)
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_streamed_body_without_content_length_is_counted(engine, monkeypatch):
    client = make_client(engine, monkeypatch, max_body_bytes=300)

    def chunks():
        yield b'{"question": "'
        for _ in range(100):
            yield b"magnesium "
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    check_error(r, 413)


def test_default_body_limit_is_16_kib(client):
    check_error(client.post("/api/ask", content=b" " * 16385, headers={"content-type": "application/json"}), 413)


# ---------------------------------------------------------------- CORS and embedding


def test_allowed_origin_gets_cors_headers(engine, monkeypatch):
    client = make_client(engine, monkeypatch, allowed_origins=f"{CLINIC}, https://other.example/")
    pre = client.options("/api/ask", headers={"Origin": CLINIC, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == CLINIC
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in pre.headers
    r = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": CLINIC})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == CLINIC
    # the trailing slash in the setting is normalised away
    r = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": "https://other.example"})
    assert r.headers["access-control-allow-origin"] == "https://other.example"
    # errors are readable by the widget too
    r = client.post("/api/ask", json={"question": ""}, headers={"Origin": CLINIC})
    assert r.status_code == 422 and r.headers["access-control-allow-origin"] == CLINIC


def test_refused_origin_gets_no_cors_headers(engine, monkeypatch):
    client = make_client(engine, monkeypatch, allowed_origins=CLINIC)
    pre = client.options("/api/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    r = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    # the chat's own Gradio routes do not reflect the origin either
    r = client.get("/config", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_default_allows_no_other_origin(client):
    for origin in ("https://clinic.example", "http://localhost:7860", "null"):
        pre = client.options("/api/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        r = client.post("/api/ask", json={"question": QUESTION}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in pre.headers and "access-control-allow-origin" not in r.headers


def test_frame_ancestors_lists_the_allowed_origins(engine, monkeypatch):
    client = make_client(engine, monkeypatch, allowed_origins=CLINIC)
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {CLINIC};" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/", "/healthz", "/widget.js", "/docs", "/openapi.json", "/config"])
def test_every_response_has_the_security_headers_and_no_cookie(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("frame-ancestors 'self'")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in r.headers


def test_api_sets_no_cookie(client):
    for r in (client.post("/api/ask", json={"question": QUESTION}), client.post("/api/ask", json={})):
        assert "set-cookie" not in r.headers
    assert not client.cookies


@pytest.mark.parametrize("bad", ["clinic.example", "https://clinic.example/path", "https://a.example; script-src *", "*"])
def test_a_bad_allowed_origin_is_refused_at_start(engine, monkeypatch, bad):
    monkeypatch.setenv("MGQA_ALLOWED_ORIGINS", bad)
    with pytest.raises(MgqaError, match="MGQA_ALLOWED_ORIGINS"):
        create_app(engine)


# ---------------------------------------------------------------- the other routes


def test_healthz(client, engine):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "pid": os.getpid(), "index": None, "refused": None}
    fixed = TestClient(create_app(engine)).get("/healthz").json()  # an engine's own index is reported
    assert fixed["index"]["passages"] == len(engine.index.chunks) and fixed["index"]["documents"] == 2


def test_widget_js_is_served_as_cacheable_javascript(client):
    r = client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert "max-age" in r.headers["cache-control"]
    assert "/api/ask" in r.text
    again = client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_docs_page_needs_nothing_external(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/api/ask" in page.text and "<script" not in page.text
    assert "http://" not in page.text and "https://" not in page.text
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/ask"]["post"]
    assert "question" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"200", "413", "422", "503"} <= set(op["responses"])
    citation = spec["components"]["schemas"]["CitationBody"]["properties"]
    assert set(citation) == {f.name for f in fields(Citation)}  # the description follows the record
    assert "#:~:text=" in citation["link"]["description"]
    assert client.get("/redoc").status_code == 404


def test_gradio_extras_are_off(client):
    config = client.get("/config").json()
    assert config["analytics_enabled"] is False and config["run_history"] is False
    assert config["footer_links"] == [] and config["show_error"] is False and config["mcp_server"] is False
    chatbots = [c["props"] for c in config["components"] if c.get("type") == "chatbot"]
    assert len(chatbots) == 1
    assert chatbots[0]["render_markdown"] is False and chatbots[0]["buttons"] == []
    assert chatbots[0]["latex_delimiters"] == [] and chatbots[0]["sanitize_html"] is True
    assert client.get("/monitoring").status_code in (403, 404)
    assert client.get("/gradio_api/runs").status_code == 404
    assert client.get("/gradio_api/info").json()["named_endpoints"] == {}  # the chat is no public API


def test_engine_is_loaded_on_the_first_question_only(engine, monkeypatch):
    """Without a server's lifespan (which loads it at start-up), nothing loads until a question."""
    loads = []
    monkeypatch.setattr(mgqa.answer.Engine, "load", classmethod(lambda cls, *a: loads.append(1) or engine))
    client = TestClient(create_app(), raise_server_exceptions=False)
    assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200
    assert loads == []
    for _ in range(2):
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    assert loads == [1]


# ---------------------------------------------------------------- failures


class Raising:
    def __init__(self, exc):
        self.exc = exc

    def ask(self, question, history=None, k=None):
        raise self.exc


def test_index_error_is_503_with_its_message():
    client = TestClient(create_app(Raising(IndexNotFound("no index at /srv/idx; run `mgqa index build`"))),
                        raise_server_exceptions=False)
    assert check_error(client.post("/api/ask", json={"question": QUESTION}), 503) == \
        "no index at /srv/idx; run `mgqa index build`"


def test_internal_error_is_500_without_details(caplog):
    client = TestClient(create_app(Raising(KeyError("secret detail from " + QUESTION))), raise_server_exceptions=False)
    r = client.post("/api/ask", json={"question": QUESTION})
    assert check_error(r, 500) == "internal error"
    assert "secret" not in r.text and "KeyError" not in r.text
    assert "KeyError" in caplog.text and QUESTION not in caplog.text


class Slow:
    """An engine that holds its slot until released."""

    def __init__(self, engine):
        self.engine = engine
        self.entered = threading.Event()
        self.release = threading.Event()

    def ask(self, question, history=None, k=None):
        self.entered.set()
        assert self.release.wait(10)
        return self.engine.ask(question, history, k)


def _ask_in_background(client, results):
    thread = threading.Thread(target=lambda: results.append(client.post("/api/ask", json={"question": QUESTION})))
    thread.start()
    return thread


def test_overload_is_503_json_with_retry_after(engine, monkeypatch):
    slow = Slow(engine)
    client = make_client(slow, monkeypatch, max_concurrency=1, max_queue=0)
    results: list = []
    first = _ask_in_background(client, results)
    assert slow.entered.wait(5)
    started = time.monotonic()
    busy = client.post("/api/ask", json={"question": QUESTION})
    assert time.monotonic() - started < 2  # refused at once, not queued
    assert "busy" in check_error(busy, 503)
    assert int(busy.headers["retry-after"]) > 0
    assert client.get("/healthz").status_code == 200  # the event loop is not blocked
    slow.release.set()
    first.join(10)
    assert results[0].status_code == 200


def test_a_request_that_waits_too_long_gets_503(engine, monkeypatch):
    slow = Slow(engine)
    monkeypatch.setenv("MGQA_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("MGQA_MAX_QUEUE", "5")
    client = TestClient(create_app(slow, wait_seconds=0.3), raise_server_exceptions=False)
    results: list = []
    first = _ask_in_background(client, results)
    assert slow.entered.wait(5)
    started = time.monotonic()
    check_error(client.post("/api/ask", json={"question": QUESTION}), 503)
    assert 0.25 < time.monotonic() - started < 3
    slow.release.set()
    first.join(10)
    assert results[0].status_code == 200


# ---------------------------------------------------------------- privacy of questions


def test_questions_are_not_logged_by_default(client, caplog):
    caplog.set_level(logging.DEBUG)
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    assert client.post("/api/ask", json={"question": "x" * 1001}).status_code == 422
    assert QUESTION not in caplog.text and "x" * 100 not in caplog.text


def test_questions_are_logged_when_enabled(client, caplog, monkeypatch):
    monkeypatch.setenv("MGQA_LOG_QUESTIONS", "1")
    caplog.set_level(logging.INFO, logger="mgqa.questions")
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    records = [r for r in caplog.records if r.name == "mgqa.questions"]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert QUESTION in records[0].getMessage() and "answered" in records[0].getMessage()


# ---------------------------------------------------------------- the chat's HTML


def _passage(text: str, highlights=(), source="https://example.org/a(b)") -> Passage:
    return Passage(1, text, 0.9, list(highlights), Citation(1, "d", "Title <i>", "Sec_tion", source, 0, len(text)))


def test_escape_neutralises_html_and_markdown():
    for nasty in ["<img src=x onerror=alert(1)>", "![pic](http://127.0.0.1:1/evil.png)", "[a](javascript:x)",
                  "**b** _i_ `c` $$x$$ ~s~ # h | t \\ {}"]:
        out = escape(nasty)
        assert not set(re.sub(r"&#\d+;", "", out)) & set("<>\"'!()[]*_`$~#|\\{}&")
        assert html.unescape(out) == nasty


def test_answer_html_quotes_escaped_text_with_marks_citation_and_disclaimer():
    text = "Take it daily. ![pic](http://127.0.0.1:1/evil.png) <script>alert(1)</script>\nNew line."
    out = answer_html(Answer("q", "answered", [_passage(text, [(0, 14)])], DISCLAIMER))
    assert "<mark>Take it daily.</mark>" in out
    assert "<script" not in out and "<img" not in out and "](" not in out and "![" not in out
    assert f"&#91;1&#93;</span> {escape('Title <i>')} &#8250; Sec&#95;tion" in out
    assert 'href="https://example.org/a&#40;b&#41;"' in out and 'rel="noopener noreferrer nofollow"' in out
    assert "\n" not in out  # Gradio dedents multi-line messages; one line keeps the quote verbatim
    assert out.endswith(f"<strong>Disclaimer:</strong> {escape(DISCLAIMER)}</p></div>")


def test_a_web_source_links_to_the_quoted_passage():
    link = "https://example.org/a#:~:text=Take%20it%20daily."
    p = _passage("Take it daily.", source="https://example.org/a")
    p = Passage(p.rank, p.text, p.score, p.highlights, replace(p.citation, link=link))
    out = answer_html(Answer("q", "answered", [p], DISCLAIMER))
    assert f'<a href="{escape(link)}" target="_blank"' in out and f">{escape('https://example.org/a')}</a>" in out


def test_only_web_sources_become_links():
    for source in ["javascript:alert(1)", "Zena le Roux, The Epoch Times", "file:///etc/passwd", "https://x y"]:
        out = answer_html(Answer("q", "answered", [_passage("t", source=source)], DISCLAIMER))
        assert "<a " not in out and escape(source) in out


def test_emergency_and_no_answer_look_different():
    emergency = answer_html(Answer("q", "emergency", [], DISCLAIMER, EMERGENCY_NOTICE))
    assert emergency.startswith('<div class="mgqa-answer mgqa-emergency"><p class="mgqa-notice" role="alert">')
    assert escape(EMERGENCY_NOTICE) in emergency and escape(DISCLAIMER) in emergency
    nothing = answer_html(Answer("q", "no_answer", [], DISCLAIMER, NO_ANSWER_NOTICE))
    assert 'class="mgqa-answer mgqa-no-answer"' in nothing and escape(NO_ANSWER_NOTICE) in nothing


def test_chat_passes_earlier_questions_and_maps_errors():
    seen = []

    class Asker:
        def ask(self, question, history=None):
            seen.append((question, history))
            mgqa.answer.validate(question)
            if question == "boom":
                raise RuntimeError("boom")
            if question == "broken":
                raise IndexNotFound("no index")
            return mgqa.answer.Answer(question, "no_answer", [], DISCLAIMER, NO_ANSWER_NOTICE)

    respond = make_respond(Asker(), WORDS)
    history = [{"role": "user", "content": [{"type": "text", "text": QUESTION}]},
               {"role": "assistant", "content": [{"type": "text", "text": "<div>answer</div>"}]},
               {"role": "user", "content": "<b>second</b>"}]
    assert earlier_questions(history) == [QUESTION, "<b>second</b>"]
    assert escape(NO_ANSWER_NOTICE) in respond("and for migraines?", history)
    assert seen[-1] == ("and for migraines?", [QUESTION, "<b>second</b>"])
    for question in ("boom", "broken"):
        out = respond(question, [])
        assert "unavailable" in out and "boom" not in out and escape(DISCLAIMER) in out
    out = respond("   ", [])
    assert "empty" in out and escape(DISCLAIMER) in out


def test_chatbot_escapes_the_patients_messages_on_the_wire_only():
    bot = plain_text_chatbot(render_markdown=False, render=False)
    nasty = "<img src=x onerror=alert(1)> ![p](http://h/e.png) &amp;"
    wire = bot.postprocess([{"role": "user", "content": nasty},
                            {"role": "assistant", "content": "<div class=\"mgqa-answer\">ok</div>"}])
    user, assistant = wire.root
    assert "<" not in user.content[0].text and "](" not in user.content[0].text
    assert assistant.content[0].text == "<div class=\"mgqa-answer\">ok</div>"
    back = bot.preprocess(wire)
    assert back[0]["content"][0]["text"] == nasty
    assert back[1]["content"][0]["text"] == "<div class=\"mgqa-answer\">ok</div>"

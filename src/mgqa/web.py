"""The server: the chat at /, the JSON API at /api and /api/ask, /healthz, /widget.js and /docs.

One ASGI app (FastAPI, with the Gradio chat mounted at /). Every route is a thin layer over
``Engine.ask``; mgqa's exceptions become an HTTP status and ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from mgqa import __version__, settings
from mgqa.answer import validate
from mgqa.clinic import Clinic, generic
from mgqa.errors import InvalidQuestion, MgqaError, Overloaded
from mgqa.index import saved_clinic
from mgqa.live import Build, LiveEngine, watching
from mgqa.types import Answer, Triage

QUEUE_WAIT_SECONDS = 5.0  # a request that gets no slot within this long is answered 503
RETRY_AFTER_SECONDS = 5
# Gradio's own routes carry the chat transcript (answer HTML included), so they get more room.
OTHER_BODY_BYTES = 1024 * 1024
INTERNAL_ERROR = "internal error"

log = logging.getLogger("mgqa.web")
question_log = logging.getLogger("mgqa.questions")


class BodyTooLarge(MgqaError):
    http_status = 413


# ---------------------------------------------------------------- the one library call, guarded


class Asker:
    """``Engine.ask`` with the question log applied. By default the engine is a ``LiveEngine``:
    the index directory's newest good build, loaded on first use and hot-reloaded."""

    def __init__(self, engine=None):
        self.engine = engine if engine is not None else LiveEngine()

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        if not all(_is_unicode(text) for text in (question, *(history or []))):
            raise InvalidQuestion("the question is not valid Unicode text (it has an unpaired surrogate)")
        answer = self.engine.ask(question, history)
        if settings.get("log_questions"):
            question_log.info("status=%s question=%r", answer.status, answer.question)
        return answer

    def health(self) -> dict:
        """/healthz: the build this process answers from, without loading anything."""
        live = self.engine if isinstance(self.engine, LiveEngine) else None
        if live is not None:
            build, refused = live.build, live.refused
        else:  # a fixed engine (tests, embedding): its index, if it has one
            build = Build.of(self.engine) if hasattr(self.engine, "index") else None
            refused = None
        return {"status": "ok", "pid": os.getpid(), "index": asdict(build) if build else None,
                "refused": refused.to_dict() if refused else None}

    def words(self) -> Clinic:
        """The clinic's words (its clinic.toml) in the build answering now."""
        engine = self.engine.engine() if isinstance(self.engine, LiveEngine) else self.engine
        index = getattr(engine, "index", None)  # a fake engine (tests) has none
        return index.clinic if index is not None else generic()

    def words_at_start(self) -> Clinic:
        """The clinic's words for the chat page, which is built once: those of the build on disk
        when the server starts, read without loading it."""
        if isinstance(self.engine, LiveEngine):
            return saved_clinic(self.engine.path)
        return self.words()


def _is_unicode(text: object) -> bool:
    """JSON's ``"\\ud800"`` (or a browser's lone surrogate) decodes to text that no encoder or
    UTF-8 response can carry."""
    try:
        str(text).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Gate:
    """At most ``slots`` answers computed at once and ``queue`` requests waiting for one.

    Anyone beyond the queue, or waiting longer than ``wait`` seconds, gets ``Overloaded``.
    """

    def __init__(self, slots: int, queue: int, wait: float):
        self._free = asyncio.Semaphore(max(1, slots))
        self._queue = queue
        self._waiting = 0
        self._wait = wait

    @contextlib.asynccontextmanager
    async def slot(self):
        if self._free.locked() and self._waiting >= self._queue:
            raise Overloaded("the server is busy; please try again in a few seconds")
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait):
                await self._free.acquire()
        except TimeoutError:
            raise Overloaded("the server is busy; please try again in a few seconds") from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._free.release()


def log_internal_error(exc: BaseException, where: str) -> None:
    """Type and stack only: an exception's message could quote the patient's question."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error in %s: %s\n%s", where, type(exc).__name__, stack)


# ---------------------------------------------------------------- request parsing


def parse_ask(body: bytes) -> tuple[str, list[str]]:
    """``{"question": "...", "history": ["...", ...]}`` -> (question, history), or InvalidQuestion."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidQuestion('the request body must be JSON like {"question": "..."}') from None
    if not isinstance(data, dict):
        raise InvalidQuestion('the request body must be a JSON object like {"question": "..."}')
    if "question" not in data:
        raise InvalidQuestion('the request has no "question" field')
    validate(data["question"])
    history = data.get("history")
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise InvalidQuestion('"history" must be a list of the earlier questions, as strings')
    return data["question"], history


# ---------------------------------------------------------------- ASGI middleware


class BodyLimit:
    """Refuse bodies over the limit from Content-Length, and count streamed bytes too."""

    def __init__(self, app, limit: Callable[[str], int]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(_too_large_message(limit))
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _too_large(limit)(scope, receive, send)


def _too_large_message(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": _too_large_message(limit)}, status_code=413, headers={"Connection": "close"})


class SecurityHeaders:
    """The same policy on every response: who may frame us, no sniffing, no referrer, no cookies."""

    def __init__(self, app, csp: str):
        self.app = app
        self.csp = csp

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/api/") or scope["path"] in ("/api", "/healthz")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if private:
                    headers["Cache-Control"] = "no-store"
                del headers["set-cookie"]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$")


def allowed_origins() -> list[str]:
    """The ``allowed_origins`` setting, normalised; anything that is not an origin is refused."""
    origins = []
    for raw in settings.get("allowed_origins"):
        origin = raw.strip().rstrip("/").lower()
        if not _ORIGIN.match(origin):
            raise MgqaError(f"MGQA_ALLOWED_ORIGINS: {raw!r} is not an origin like https://clinic.example")
        origins.append(origin)
    return origins


def content_security_policy(origins: list[str]) -> str:
    """Who may frame the chat, plus belt-and-braces limits on what a page of ours may load."""
    return "; ".join([
        " ".join(["frame-ancestors 'self'", *origins]),
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


# ---------------------------------------------------------------- OpenAPI documentation models


class AskRequest(BaseModel):
    question: str = Field(description="The patient's question (at most MGQA_MAX_QUESTION_CHARS characters).",
                          examples=["How should I prepare for my appointment?"])
    history: list[str] = Field(default_factory=list,
                               description="The patient's earlier questions in this conversation, oldest first.")


class CitationBody(BaseModel):
    """Where a passage comes from (``Citation``; a test keeps the fields in step)."""

    n: int = Field(description="The citation's number, as shown beside the passage ([1], [2], ...).")
    doc_id: str
    title: str
    section: str | None = Field(description="The heading the passage sits under, if any.")
    source: str | None = Field(description="The document's URL where known, else its publisher, author or file name.")
    start: int = Field(description="Offset of the passage in the document's text.")
    end: int = Field(description="End offset: text == document.text[start:end].")
    link: str | None = Field(
        description="The source URL opened at the quoted passage: `source#:~:text=<start words>,<end words>`, "
                    "a URL Text Fragment (browsers that support it scroll to and highlight the passage). "
                    "null when the source is not an http(s) URL.")


class PassageBody(BaseModel):
    """A verbatim passage (``Passage``)."""

    rank: int
    text: str = Field(description="Exactly document.text[start:end].")
    score: float
    highlights: list[tuple[int, int]] = Field(description="[start, end) offsets into text of the sentences "
                                                          "that best answer the question.")
    citation: CitationBody


class AnswerBody(BaseModel):
    """The answer contract: ``Answer.to_dict()``."""

    question: str
    status: Literal["answered", "no_answer", "emergency"]
    passages: list[PassageBody]
    disclaimer: str
    notice: str | None
    triage: Triage | None = Field(description='Emergency answers only (else null): the red-flag category, what '
                                              'raised the alarm ("rule" of the floor or the learned "model") and '
                                              "the model's probability (1.0 for a rule).")


class EmergencyBody(BaseModel):
    notice: str = Field(description="What a message describing an emergency gets instead of any answer.")
    number: str = Field(description="The local emergency number, as the clinic writes it; empty when it gives none.")


class ClinicBody(BaseModel):
    """The clinic's words, from the clinic.toml of the index build served (mgqa's generic wording
    for a corpus without one)."""

    title: str = Field(description="The heading of the chat and of the widget's panel.")
    topic: str = Field(description='What patients ask about: it completes "Ask a question about …" '
                                   '(empty: "Ask a question").')
    introduction: str = Field(description="One line under the title.")
    examples: list[str] = Field(description="Example questions to offer.")
    disclaimer: str = Field(description="The medical disclaimer, as every answer carries it.")
    no_answer: str = Field(description="The notice of an answer whose status is no_answer.")
    emergency: EmergencyBody


class ApiBody(BaseModel):
    name: Literal["mgqa"]
    version: str
    clinic: ClinicBody


class ErrorBody(BaseModel):
    error: str = Field(description="One line saying what went wrong.")


class BuildBody(BaseModel):
    build_id: str = Field(description="The index build's id (UTC build time and a random suffix), "
                                      "as `mgqa index info` shows it.")
    documents: int
    passages: int
    built: str | None = Field(description="When the build was made (UTC, ISO 8601).")


class RefusalBody(BaseModel):
    build_id: str | None = Field(description="The build on disk that was not loaded (null: its manifest is unreadable).")
    reason: str = Field(description="Why, in one line.")


class HealthBody(BaseModel):
    """What one server process is serving. Always 200 while the process runs."""

    status: Literal["ok"]
    pid: int = Field(description="The server process that answered (with --workers N, one of N).")
    index: BuildBody | None = Field(description="The build this process answers from; null until it has "
                                                "loaded one (the first seconds after start, or while no "
                                                "build on disk can be loaded).")
    refused: RefusalBody | None = Field(description="The newest build on disk, when it failed verification "
                                                    "and was not swapped in (the previous one keeps serving).")


ASK_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": AskRequest.model_json_schema()}},
}
ASK_RESPONSES: dict[int | str, dict] = {
    200: {"model": AnswerBody, "description": "Verbatim passages with citations, or a notice; always the disclaimer."},
    413: {"model": ErrorBody, "description": "The request body is larger than MGQA_MAX_BODY_BYTES."},
    422: {"model": ErrorBody, "description": "Not JSON, no question, an empty question or one that is too long."},
    500: {"model": ErrorBody, "description": "Internal error."},
    503: {"model": ErrorBody, "description": "The server is busy (see Retry-After) or its index is unusable."},
}


# ---------------------------------------------------------------- the app


def create_app(engine=None, *, wait_seconds: float = QUEUE_WAIT_SECONDS, chat_upstream: str | None = None) -> FastAPI:
    """The whole server. With no ``engine``, a ``LiveEngine`` over the `index_dir` setting: loaded
    when the server starts (or by the first question, without a lifespan) and hot-reloaded.
    ``chat_upstream``: the Unix socket of the worker process that runs the chat (see workers.py)."""
    origins = allowed_origins()
    asker = Asker(engine)
    gate = Gate(settings.get("max_concurrency"), settings.get("max_queue"), wait_seconds)
    lifespan = _lifespan(asker, settings.get("reload_seconds"))  # read now: a bad value is one line, not a traceback
    app = FastAPI(title="mgqa", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Answers patients' questions with passages quoted verbatim from the "
                              "clinic's vetted documents, each with a citation, always with the disclaimer.")
    _add_error_handlers(app)
    _add_routes(app, asker, gate)

    max_body = settings.get("max_body_bytes")
    app.add_middleware(BodyLimit, limit=lambda path: max_body if path.startswith("/api/") else OTHER_BODY_BYTES)
    # Configuring CORS here also switches off Gradio's own CORS handling, which reflects any origin.
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Content-Type"], max_age=600)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(origins))
    if chat_upstream:
        from mgqa.workers import ChatForward

        # Outermost: the chat's worker applies every policy above to what it is sent, once.
        app.add_middleware(ChatForward, upstream=chat_upstream)

    from mgqa.chat import mount_chat

    mount_chat(app, asker, asker.words_at_start())  # last: it is mounted at / and would shadow any route added after it
    return app


def _lifespan(asker: Asker, reload_seconds: float):
    """While serving, a live engine loads its build at once and watches for new ones."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if isinstance(asker.engine, LiveEngine):
            async with watching(asker.engine, reload_seconds):
                yield
        else:
            yield

    return lifespan


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MgqaError)
    async def mgqa_error(request: Request, exc: MgqaError) -> JSONResponse:
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, Overloaded) else None
        return _error(exc.http_status, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, retry)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log_internal_error(exc, request.url.path)
        return _error(500, INTERNAL_ERROR)


def _add_routes(app: FastAPI, asker: Asker, gate: Gate) -> None:
    @app.get("/api", summary="The clinic's words", response_model=ApiBody,
             responses={503: {"model": ErrorBody, "description": "The index is unusable."}})
    async def api_root() -> dict:
        """What to show before any question, as the widget does: the clinic's title, introduction,
        example questions, disclaimer, and emergency notice and number (its clinic.toml). They
        follow the index build served."""
        words = await run_in_threadpool(asker.words)
        return {"name": "mgqa", "version": __version__, "clinic": words.to_dict()}

    @app.post("/api/ask", summary="Answer a question", responses=ASK_RESPONSES, openapi_extra={"requestBody": ASK_REQUEST_BODY})
    async def api_ask(request: Request) -> Response:
        """Passages quoted verbatim from the clinic's documents, with numbered citations and the
        disclaimer. Send the patient's earlier questions as ``history`` so that follow-ups work.
        A citation whose source is a web page has a ``link`` that opens the page at the passage."""
        try:
            question, history = parse_ask(await request.body())
            async with gate.slot():
                answer = await run_in_threadpool(asker.ask, question, history)
        except MgqaError:
            raise
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client
            log_internal_error(exc, "/api/ask")
            return _error(500, INTERNAL_ERROR)
        return JSONResponse(answer.to_dict())

    @app.get("/healthz", summary="Liveness, and which index build is served", response_model=HealthBody)
    async def healthz() -> dict:
        """200 while the process is up, with the index build it answers from (id, document and
        passage counts, build time) and any newer build it refused. Cheap: it never loads or reads
        the index."""
        return asker.health()

    widget = _StaticFile("widget.js")

    @app.get("/widget.js", summary="The embeddable widget", response_class=Response,
             responses={200: {"content": {"application/javascript": {}}}})
    async def widget_js(request: Request) -> Response:
        """The script a clinic's page includes; it shows this server's ``/api`` words and asks its ``/api/ask``."""
        body, etag = widget.read()
        headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))


class _StaticFile:
    """A file shipped in ``mgqa/static``, read once."""

    def __init__(self, name: str):
        self.name = name
        self._cached: tuple[bytes, str] | None = None

    def read(self) -> tuple[bytes, str]:
        if self._cached is None:
            body = (resources.files("mgqa") / "static" / self.name).read_bytes()
            self._cached = body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return self._cached


# ---------------------------------------------------------------- /docs without external assets


def docs_page(spec: dict) -> str:
    """The OpenAPI description as one self-contained HTML page (Swagger UI would load a CDN)."""
    e = html.escape
    parts = [f"<h1>{e(spec['info']['title'])} API <small>{e(spec['info']['version'])}</small></h1>",
             f"<p>{e(spec['info'].get('description', ''))}</p>",
             '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. '
             'The chat is at <a href="/">/</a>.</p>']
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<section><h2><code>{e(method.upper())} {e(path)}</code> {e(op.get('summary', ''))}</h2>")
            if op.get("description"):
                parts.append(f"<p>{e(op['description'])}</p>")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                parts.append(f"<h3>Request body ({e(media)})</h3><pre>{e(json.dumps(content.get('schema', {}), indent=2))}</pre>")
            parts.append("<h3>Responses</h3><ul>")
            for code, resp in op.get("responses", {}).items():
                schemas = [c.get("schema") for c in resp.get("content", {}).values() if c.get("schema")]
                ref = schemas[0].get("$ref", "").rsplit("/", 1)[-1] if schemas else ""
                link = f' &mdash; <a href="#schema-{e(ref)}">{e(ref)}</a>' if ref else ""
                parts.append(f"<li><b>{e(str(code))}</b> {e(resp.get('description', ''))}{link}</li>")
            parts.append("</ul></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        parts.append(f'<h3 id="schema-{e(name)}">{e(name)}</h3><pre>{e(json.dumps(schema, indent=2))}</pre>')
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "pre{background:#f5f7fa;padding:.75rem;overflow:auto;font-size:.85rem}section{border-top:1px solid #ddd}")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mgqa API</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


# ---------------------------------------------------------------- serving


def serve(host: str, port: int, workers: int = 1) -> None:
    """Run the server until interrupted: one process, or ``workers`` sharing the socket."""
    for setting in settings.SETTINGS:  # a bad MGQA_* value is one line here, not one per worker
        settings.get(setting.name)
    allowed_origins()
    sock = _listen(host, port)
    more = f", {workers} worker processes" if workers > 1 else ""
    print(f"mgqa: chat on http://{host}:{port}/  (API /api/ask, docs /docs, widget /widget.js{more})", file=sys.stderr)
    if workers > 1:
        from mgqa.workers import run_workers

        run_workers(sock, workers)
        return
    with contextlib.suppress(KeyboardInterrupt):
        run_app(serve_app(), [sock])


def serve_app(chat_upstream: str | None = None) -> FastAPI:
    """The app as `mgqa serve` runs it, in each server process: with its log lines on stderr."""
    configure_logging()
    return create_app(chat_upstream=chat_upstream)


def run_app(app, sockets: list[socket.socket]) -> bool:
    """Serve ``app`` on ``sockets`` until SIGINT/SIGTERM (no access log: URLs and bodies stay
    private); False if the server could not start."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, server_header=False))
    server.run(sockets=sockets)
    return server.started


def configure_logging() -> None:
    """mgqa's own lines on stderr: index reloads, internal errors (type and stack, never the
    question) and, only when MGQA_LOG_QUESTIONS is on, questions (``Asker`` decides that)."""
    logger = logging.getLogger("mgqa")
    if any(getattr(h, "mgqa", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.mgqa = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s mgqa[%(process)d] %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _listen(host: str, port: int) -> socket.socket:
    """Bind here, so that a port in use is one clear line (uvicorn would exit 3 after a log line)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MgqaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock

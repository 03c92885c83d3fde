"""The server's one ASGI app: the chat at /, the JSON API at /api and /api/ask, /healthz,
/widget.js and /docs.

One FastAPI app, with the Gradio chat mounted at /. Every route is a thin layer over
``Engine.ask``; mgqa's exceptions become an HTTP status and ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import asdict
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mgqa import __version__, settings
from mgqa.clinic import Clinic, generic
from mgqa.errors import InvalidQuestion, MgqaError, Overloaded
from mgqa.index import saved_clinic
from mgqa.live import Build, LiveEngine, watching
from mgqa.serve.api import ASK_REQUEST_BODY, ASK_RESPONSES, ApiBody, ErrorBody, HealthBody, docs_page, parse_ask
from mgqa.serve.chat import mount_chat
from mgqa.serve.logs import log_internal_error
from mgqa.serve.middleware import BodyLimit, ChatForward, SecurityHeaders, allowed_origins, content_security_policy
from mgqa.types import Answer

QUEUE_WAIT_SECONDS = 5.0  # a request that gets no slot within this long is answered 503
RETRY_AFTER_SECONDS = 5
# Gradio's own routes carry the chat transcript (answer HTML included), so they get more room.
OTHER_BODY_BYTES = 1024 * 1024
INTERNAL_ERROR = "internal error"

question_log = logging.getLogger("mgqa.questions")


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



# ---------------------------------------------------------------- the app


def create_app(engine=None, *, wait_seconds: float = QUEUE_WAIT_SECONDS, chat_upstream: str | None = None) -> FastAPI:
    """The whole server. With no ``engine``, a ``LiveEngine`` over the `index_dir` setting: loaded
    when the server starts (or by the first question, without a lifespan) and hot-reloaded.
    ``chat_upstream``: the Unix socket of the worker process that runs the chat (see serve/workers.py)."""
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
        # Outermost: the chat's worker applies every policy above to what it is sent, once.
        app.add_middleware(ChatForward, upstream=chat_upstream)
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


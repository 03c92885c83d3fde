"""ASGI middleware around the whole app: the body limit, the security headers, which origins may
frame or call us, and (in workers other than 0) forwarding the chat to the worker that runs it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse

from mgqa import settings
from mgqa.errors import MgqaError

CHAT_PREFIX = "/gradio_api/"  # the chat's own routes: its queue, event streams, uploads, heartbeats
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
              b"proxy-connection"}


class BodyTooLarge(MgqaError):
    http_status = 413


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



# ---------------------------------------------------------------- the chat, forwarded to worker 0


UNAVAILABLE = JSONResponse({"error": "the chat is restarting; please try again in a few seconds"}, status_code=503,
                           headers={"Retry-After": "5"})


class ChatForward:
    """ASGI middleware in workers other than 0: the chat's requests go to worker 0, streamed both
    ways (answers arrive as server-sent events); everything else is answered here."""

    def __init__(self, app, upstream: str):
        self.app = app
        self.upstream = upstream
        self._client = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(CHAT_PREFIX):
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send)

    def client(self):
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=self.upstream),
                                             timeout=httpx.Timeout(None, connect=10.0),
                                             limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))
        return self._client

    async def _forward(self, scope, receive, send) -> None:
        import httpx

        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        body_read = asyncio.Event()
        path = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        request = self.client().build_request(scope["method"], "http://chat" + path.decode("latin-1"),
                                              headers=headers,
                                              content=_body(receive, body_read) if has_body else None)
        if not has_body:
            body_read.set()
        try:
            response = await self.client().send(request, stream=True)
        except httpx.TransportError:
            await UNAVAILABLE(scope, receive, send)
            return
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]})
            await _until_done_or_gone(_relay(response, send), _gone(receive, body_read))
        finally:
            await response.aclose()


async def _body(receive, done: asyncio.Event):
    """The request body, as it arrives (worker 0 enforces the size limit)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        yield message.get("body", b"")
        if not message.get("more_body", False):
            break
    done.set()


async def _relay(response, send) -> None:
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _gone(receive, body_read: asyncio.Event) -> None:
    """Returns when the browser disconnects (closing an event stream must close it upstream too)."""
    await body_read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass


async def _until_done_or_gone(relay, gone) -> None:
    tasks = [asyncio.ensure_future(relay), asyncio.ensure_future(gone)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
    if tasks[0] in done:
        tasks[0].result()

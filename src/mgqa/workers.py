"""`mgqa serve --workers N`: N server processes answering on one listening socket.

The parent binds the socket (web.serve) and supervises: it restarts a worker that dies, passes
SIGHUP on (each worker then looks for a new index build itself) and stops them all on SIGINT or
SIGTERM. Each worker is a whole server with its own engine over the same index files; the arrays
are memory-mapped read-only, so the data sits in memory once, in the page cache.

The chat is the exception. Gradio keeps a chat session's queue in the memory of the process that
accepted it, and a browser's next request (the answer's event stream) may reach another worker.
So worker 0 also listens on a private Unix socket, and every other worker forwards the chat's
``/gradio_api/`` requests there: the chat runs in one process, ``/api/ask`` in all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from starlette.responses import JSONResponse

from mgqa.errors import MgqaError

log = logging.getLogger("mgqa.workers")

CHAT_PREFIX = "/gradio_api/"  # the chat's own routes: its queue, event streams, uploads, heartbeats
STOP_SECONDS = 30.0  # a worker still finishing requests after SIGTERM this long is killed
EARLY_EXIT_SECONDS = 10.0  # a worker that dies this soon after it started, ...
EARLY_EXITS = 3  # ... this many times in a row, would only die again: stop instead of looping
STARTUP_FAILURE = 3  # a worker's exit code when its server could not start (uvicorn's own code)
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
              b"proxy-connection"}


# ---------------------------------------------------------------- the parent


@dataclass
class Worker:
    slot: int
    process: multiprocessing.process.BaseProcess
    early_exits: int = 0  # how many of this slot's workers in a row died soon after starting
    started: float = field(default_factory=time.monotonic)


def run_workers(sock: socket.socket, n: int) -> None:
    """Run ``n`` workers on ``sock`` until SIGINT or SIGTERM."""
    from mgqa.web import configure_logging

    configure_logging()
    private = Path(tempfile.mkdtemp(prefix="mgqa-chat-"))  # 0700: only this user may connect
    chat = _listen_unix(private / "chat.sock")
    signals: list[int] = []
    previous = {sig: signal.signal(sig, lambda sig, frame: signals.append(sig))
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    workers = [_start(slot, sock, chat) for slot in range(n)]
    try:
        _supervise(workers, sock, chat, signals)
    finally:
        _stop(workers)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        chat.close()
        shutil.rmtree(private, ignore_errors=True)


def _supervise(workers: list[Worker], sock: socket.socket, chat: socket.socket, signals: list[int]) -> None:
    while True:
        time.sleep(0.2)
        while signals:
            sig = signals.pop(0)
            if sig != signal.SIGHUP:
                return
            for w in workers:  # each worker checks for a new index build at once
                if w.process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(w.process.pid, signal.SIGHUP)
        for i, w in enumerate(workers):
            if not w.process.is_alive():
                workers[i] = _replace(w, sock, chat)


def _replace(dead: Worker, sock: socket.socket, chat: socket.socket) -> Worker:
    """A new worker in a dead one's slot, unless workers there cannot start at all."""
    code = dead.process.exitcode
    early = dead.early_exits + 1 if time.monotonic() - dead.started < EARLY_EXIT_SECONDS else 0
    if code == STARTUP_FAILURE or early >= EARLY_EXITS:
        raise MgqaError(f"server worker {dead.slot} could not start (exit code {code}); see the lines above")
    log.warning("server worker %d (pid %s) died (code %s); starting another", dead.slot, dead.process.pid, code)
    worker = _start(dead.slot, sock, chat)
    worker.early_exits = early
    return worker


def _start(slot: int, sock: socket.socket, chat: socket.socket) -> Worker:
    # Worker 0 runs the chat, so it listens on the private socket too; the others forward to it.
    # The parent keeps both sockets open, so requests wait in the backlog while a worker restarts.
    sockets, upstream = ([sock, chat], None) if slot == 0 else ([sock], chat.getsockname())
    process = multiprocessing.get_context("spawn").Process(target=_worker, args=(sockets, upstream),
                                                           name=f"mgqa-worker-{slot}")
    process.start()
    return Worker(slot, process)


def _stop(workers: list[Worker]) -> None:
    """SIGTERM: each finishes the requests it has (uvicorn's graceful shutdown), within STOP_SECONDS."""
    for w in workers:
        if w.process.is_alive():
            w.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join()


def _listen_unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(128)
    return sock


# ---------------------------------------------------------------- a worker


def _worker(sockets: list[socket.socket], upstream: str | None) -> None:
    """One server process (started with spawn: a fresh interpreter, nothing inherited but the sockets)."""
    # Until the server's watcher takes SIGHUP over, a reload request must not end the process.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # uvicorn re-raises SIGTERM once it has shut down gracefully; exiting normally instead lets
    # multiprocessing clean up after Gradio (else the parent warns of "leaked semaphore objects").
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    from mgqa.web import run_app, serve_app

    try:
        app = serve_app(chat_upstream=upstream)
    except MgqaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
    if not run_app(app, sockets):
        raise SystemExit(STARTUP_FAILURE)


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

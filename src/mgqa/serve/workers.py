"""`mgqa serve --workers N`: N server processes answering on one listening socket.

The parent binds the socket (server.serve) and supervises: it restarts a worker that dies, passes
SIGHUP on (each worker then looks for a new index build itself) and stops them all on SIGINT or
SIGTERM. Each worker is a whole server with its own engine over the same index files; the arrays
are memory-mapped read-only, so the data sits in memory once, in the page cache.

The chat is the exception. Gradio keeps a chat session's queue in the memory of the process that
accepted it, and a browser's next request (the answer's event stream) may reach another worker.
So worker 0 also listens on a private Unix socket, and every other worker forwards the chat's
``/gradio_api/`` requests there: the chat runs in one process, ``/api/ask`` in all of them.
"""

from __future__ import annotations

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

from mgqa.errors import MgqaError
from mgqa.serve.logs import configure_logging
from mgqa.serve.process import run_app, serve_app

log = logging.getLogger("mgqa.workers")

STOP_SECONDS = 30.0  # a worker still finishing requests after SIGTERM this long is killed
EARLY_EXIT_SECONDS = 10.0  # a worker that dies this soon after it started, ...
EARLY_EXITS = 3  # ... this many times in a row, would only die again: stop instead of looping
STARTUP_FAILURE = 3  # a worker's exit code when its server could not start (uvicorn's own code)


# ---------------------------------------------------------------- the parent


@dataclass
class Worker:
    slot: int
    process: multiprocessing.process.BaseProcess
    early_exits: int = 0  # how many of this slot's workers in a row died soon after starting
    started: float = field(default_factory=time.monotonic)


def run_workers(sock: socket.socket, n: int) -> None:
    """Run ``n`` workers on ``sock`` until SIGINT or SIGTERM."""
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
    try:
        app = serve_app(chat_upstream=upstream)
    except MgqaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
    if not run_app(app, sockets):
        raise SystemExit(STARTUP_FAILURE)

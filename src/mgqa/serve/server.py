"""`mgqa serve`: bind the socket, then run one server process or supervise several."""

from __future__ import annotations

import contextlib
import socket
import sys

from mgqa import settings
from mgqa.errors import MgqaError
from mgqa.serve.middleware import allowed_origins
from mgqa.serve.process import run_app, serve_app
from mgqa.serve.workers import run_workers


def serve(host: str, port: int, workers: int = 1) -> None:
    """Run the server until interrupted: one process, or ``workers`` sharing the socket."""
    for setting in settings.SETTINGS:  # a bad MGQA_* value is one line here, not one per worker
        settings.get(setting.name)
    allowed_origins()
    sock = listen(host, port)
    more = f", {workers} worker processes" if workers > 1 else ""
    print(f"mgqa: chat on http://{host}:{port}/  (API /api/ask, docs /docs, widget /widget.js{more})", file=sys.stderr)
    if workers > 1:
        run_workers(sock, workers)
        return
    with contextlib.suppress(KeyboardInterrupt):
        run_app(serve_app(), [sock])


def listen(host: str, port: int) -> socket.socket:
    """Bind here, so that a port in use is one clear line (uvicorn would exit 3 after a log line)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MgqaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock

"""One server process: the app as `mgqa serve` runs it, served by uvicorn on sockets it is given."""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from mgqa.serve.app import create_app
from mgqa.serve.logs import configure_logging


def serve_app(chat_upstream: str | None = None) -> FastAPI:
    """The app as `mgqa serve` runs it, in each server process: with its log lines on stderr."""
    configure_logging()
    return create_app(chat_upstream=chat_upstream)


def run_app(app, sockets: list[socket.socket]) -> bool:
    """Serve ``app`` on ``sockets`` until SIGINT/SIGTERM (no access log: URLs and bodies stay
    private); False if the server could not start."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, server_header=False))
    server.run(sockets=sockets)
    return server.started


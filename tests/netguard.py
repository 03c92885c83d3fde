"""Refuse and record every connection or name lookup that would leave this machine.

Standard library only, so that it can also run as ``sitecustomize`` in a subprocess: installed
before any other import, it sees every Python-level attempt from every thread. Loopback and Unix
sockets stay allowed (a server must still answer on 127.0.0.1).
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

LOOPBACK_NAMES = {None, "", "localhost", "ip6-localhost", "::1", "0:0:0:0:0:0:0:1"}


def is_local_host(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host in LOOPBACK_NAMES or (isinstance(host, str) and host.startswith("127."))


def is_local(family, address) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets, netlink: never leave the machine
    return isinstance(address, tuple) and is_local_host(address[0])


class NetworkGuard:
    """Wraps the socket layer; ``attempts`` lists what was refused (also appended to ``log``)."""

    def __init__(self, log: str | None = None):
        self.log = log
        self.attempts: list[str] = []

    def refuse(self, what: str, target) -> None:
        line = f"{what} {target!r}"
        self.attempts.append(line)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        raise OSError(errno.ENETUNREACH, f"network blocked by the test guard: {line}")

    def install(self, setattr_=setattr) -> NetworkGuard:
        """Patch the socket module with ``setattr_`` (``monkeypatch.setattr`` to undo it later)."""
        guard = self
        real = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto")}
        real_lookup = {name: getattr(socket, name) for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex")}

        def connect(sock, address):
            if not is_local(sock.family, address):
                guard.refuse("connect", address)
            return real["connect"](sock, address)

        def connect_ex(sock, address):
            if not is_local(sock.family, address):
                guard.refuse("connect_ex", address)
            return real["connect_ex"](sock, address)

        def sendto(sock, data, *args):
            address = args[-1]
            if not is_local(sock.family, address):
                guard.refuse("sendto", address)
            return real["sendto"](sock, data, *args)

        def lookup(name):
            def wrapped(host, *args, **kwargs):
                if not is_local_host(host):
                    guard.refuse(name, host)
                return real_lookup[name](host, *args, **kwargs)

            return wrapped

        setattr_(socket.socket, "connect", connect)
        setattr_(socket.socket, "connect_ex", connect_ex)
        setattr_(socket.socket, "sendto", sendto)
        for name in real_lookup:
            setattr_(socket, name, lookup(name))
        return self


def install_from_env() -> None:
    """The ``sitecustomize`` entry point: guard this whole process, logging to ``MGQA_NET_LOG``."""
    log = os.environ.get("MGQA_NET_LOG")
    if log:
        NetworkGuard(log).install()


def guarded_env(tmp: Path, log: Path) -> dict[str, str]:
    """The environment for a subprocess guarded from its first line: this module as ``sitecustomize``."""
    site = tmp / "netguard-site"
    site.mkdir(exist_ok=True)
    here = str(Path(__file__).resolve().parent)
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {here!r})\nimport netguard\nsys.path.pop(0)\nnetguard.install_from_env()\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, MGQA_NET_LOG=str(log), NO_COLOR="1")


def refused(log: Path) -> list[str]:
    """What a guarded subprocess tried and was refused."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

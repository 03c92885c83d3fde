"""No network: building, asking and serving make no outbound connection, and the real model loads
with the network blocked.

Three layers of proof: the socket layer guarded in this process (tests/netguard.py: every
non-loopback connect, sendto and name lookup is refused and recorded); the real CLI and server in
subprocesses guarded from interpreter start (the guard as ``sitecustomize``) and traced with
strace when it is installed, so that connections from C code would show too; and, where the
kernel allows it, the CLI in a network namespace with no network at all (``unshare -rn``), where
it must still succeed. The chat's own round trip through Gradio runs in a guarded server in
tests/test_privacy.py::test_the_chat_keeps_nothing_in_the_browser_after_the_tab_closes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import DATA, FakeEncoder
from netguard import NetworkGuard, guarded_env, refused
from reliability import check_contract, mgqa_server, record

REPO = Path(__file__).resolve().parents[1]
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"
STRACE = shutil.which("strace")


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0


FIGURES: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    record("no network", **dict(FIGURES), strace=bool(STRACE), errors=0)


@pytest.fixture
def no_network(monkeypatch):
    guard = NetworkGuard().install(monkeypatch.setattr)
    yield guard
    FIGURES["guarded in-process tests"] += 1
    FIGURES["refused attempts"] += len(guard.attempts)
    assert guard.attempts == [], "outbound network attempted"


def test_the_guard_refuses_the_outside_and_allows_loopback(no_network):
    for attempt in (lambda: socket.create_connection(("192.0.2.1", 443), timeout=1),
                    lambda: socket.getaddrinfo("huggingface.co", 443),
                    lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 80)),
                    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))):
        with pytest.raises(OSError, match="network blocked"):
            attempt()
    assert len(no_network.attempts) == 4
    no_network.attempts.clear()  # refusing them was the point here
    FIGURES["guarded in-process tests"] -= 1  # a self-test, not a proof
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=1).close()


def test_building_asking_and_serving_stay_offline(no_network, tmp_path):
    """Fast tier: the fake encoder, so everything but the model itself."""
    from mgqa.answer import Engine
    from mgqa.index import build_corpus, open_index
    from mgqa.serve.app import Asker, create_app
    from mgqa.serve.chat import make_respond

    fake = FakeEncoder()
    build_corpus([DATA / "docs"], tmp_path / "files", fake)
    build_corpus([], tmp_path / "default", fake)
    engine = Engine(open_index(tmp_path / "default", fake), fake)
    assert engine.ask(QUESTION).status == "answered"
    assert "Disclaimer" in make_respond(Asker(engine), engine.index.clinic)(QUESTION, [])
    client = TestClient(create_app(engine))
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200 and r.json()["status"] == "answered"
    for path in ("/", "/healthz", "/widget.js", "/docs", "/openapi.json", "/gradio_api/info", "/config"):
        assert client.get(path).status_code < 500, path


# ---------------------------------------------------------------- the real model, in this process


@pytest.mark.model
def test_the_real_model_loads_builds_and_serves_offline(no_network, tmp_path, monkeypatch):
    import mgqa.embed
    from browser_util import bound_socket, uvicorn_server
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder
    from mgqa.index import build_corpus, open_index
    from mgqa.ingest import default_documents
    from mgqa.serve.app import create_app

    monkeypatch.setattr(mgqa.embed, "_CACHE", {})  # load afresh, under the guard
    onnx = get_encoder("onnx")
    build_corpus([DATA / "docs"], tmp_path / "files", onnx)
    engine = Engine(open_index(REPO / "index", onnx), onnx)
    assert engine.ask(QUESTION).status == "answered"
    with uvicorn_server(create_app(engine), bound_socket()) as base, httpx.Client(base_url=base, timeout=30) as http:
        r = http.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 200
        check_contract(r.json(), {d.id: d for d in default_documents()}, QUESTION)
        for path in ("/", "/healthz", "/widget.js", "/docs"):
            assert http.get(path).status_code == 200, path


# ---------------------------------------------------------------- the real CLI, in subprocesses


class Guarded:
    """Runs commands with the guard installed at interpreter start, under strace when available."""

    def __init__(self, tmp: Path):
        self.log = tmp / "refused.jsonl"
        self.env = guarded_env(tmp, self.log)
        self.traces = tmp / "traces"
        self.traces.mkdir()
        self.commands = 0

    def argv(self, args: list[str], netns: bool = False) -> list[str]:
        self.commands += 1
        cmd = [sys.executable, *args]
        if STRACE:
            trace = self.traces / f"{self.commands}.txt"
            cmd = [STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), *cmd]
        return ["unshare", "-rn", *cmd] if netns else cmd

    def run(self, args: list[str], netns: bool = False) -> subprocess.CompletedProcess:
        r = subprocess.run(self.argv(args, netns), capture_output=True, text=True, env=self.env, cwd=REPO, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    def refused(self) -> list[str]:
        return refused(self.log)

    def outbound_syscalls(self) -> list[str]:
        """connect/sendto/sendmsg calls to an IPv4 or IPv6 address outside loopback, from any code."""
        out = []
        for trace in self.traces.glob("*.txt"):
            for line in trace.read_text(errors="replace").splitlines():
                for addr in re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line):
                    host = addr[0] or addr[1]
                    if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1", "0.0.0.0", "::")):
                        out.append(line)
        return out


@pytest.fixture
def guarded(tmp_path):
    g = Guarded(tmp_path)
    yield g
    FIGURES["guarded subprocesses"] += g.commands
    FIGURES["refused attempts"] += len(g.refused())
    FIGURES["outbound system calls"] += len(g.outbound_syscalls())
    assert g.refused() == [], "a subprocess tried to reach the network"
    assert g.outbound_syscalls() == [], "a subprocess made an outbound system call"


def test_the_subprocess_guard_and_the_trace_see_attempts(tmp_path):
    """Self-test: a Python-level attempt is refused and logged; a C-level one shows in the trace."""
    g = Guarded(tmp_path)
    r = subprocess.run(g.argv(["-c", "import urllib.request; urllib.request.urlopen('http://192.0.2.1/', timeout=2)"]),
                       capture_output=True, text=True, env=g.env)
    assert r.returncode != 0 and "network blocked" in r.stderr and len(g.refused()) == 1
    if STRACE:
        libc_connect = ("import ctypes, socket; s = socket.socket(); a = bytes([2, 0, 0, 9, 192, 0, 2, 1]) + bytes(8); "
                        "ctypes.CDLL(None).connect(s.fileno(), a, 16)")  # C code, beneath the Python guard
        subprocess.run(g.argv(["-c", libc_connect]), capture_output=True, env=g.env, timeout=60)
        assert any("192.0.2.1" in line for line in g.outbound_syscalls())


@pytest.mark.model
def test_the_cli_builds_answers_and_loads_both_encoders_offline(guarded, tmp_path):
    """Guarded from interpreter start, traced, and (where the kernel allows) with no network at all."""
    netns = _unshare_works()
    if netns:
        probe = subprocess.run(["unshare", "-rn", sys.executable, "-c",
                                "import socket; socket.create_connection(('192.0.2.1', 443), timeout=5)"],
                               capture_output=True, text=True)
        assert probe.returncode != 0 and "unreachable" in probe.stderr  # the namespace really has no network
    out = tmp_path / "ix"
    r = guarded.run(["-m", "mgqa", "index", "build", str(DATA / "docs"), "--out", str(out)], netns)
    assert "indexed 5 documents" in r.stdout
    r = guarded.run(["-m", "mgqa", "ask", "--json", QUESTION], netns)
    assert json.loads(r.stdout)["status"] == "answered"
    r = guarded.run(["-m", "mgqa", "ask", "--json", "--index", str(out), "Does magnesium help sleep?"], netns)
    assert json.loads(r.stdout)["disclaimer"]
    r = guarded.run(["-c", "from mgqa.embed import TorchEncoder; print(TorchEncoder().encode(['magnesium']).shape)"],
                    netns)
    assert "(1, 384)" in r.stdout
    FIGURES["run in a namespace without network"] += 4 if netns else 0


@pytest.mark.model
def test_the_server_makes_no_outbound_connection(guarded, tmp_path):
    from mgqa.ingest import default_documents

    guarded.commands += 1
    trace = [STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(guarded.traces / "serve.txt")]
    with mgqa_server(tmp_path, guarded.env, trace if STRACE else None) as server, \
            httpx.Client(base_url=server.base, timeout=60) as http:
        r = http.post("/api/ask", json={"question": QUESTION})  # loads the real model and index
        assert r.status_code == 200
        check_contract(r.json(), {d.id: d for d in default_documents()}, QUESTION)
        for path in ("/", "/widget.js", "/docs", "/gradio_api/info", "/config"):
            assert http.get(path).status_code < 500, path

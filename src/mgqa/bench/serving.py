"""Parts 5 and 6, serving: `POST /api/ask` on loopback under concurrent clients, from one server
process and from several (`mgqa serve --workers N`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mgqa import settings
from mgqa.bench.common import QUESTION, TITLES, Figure, Plan, Section, gold_queries, kb, mb, median, ms, pct


def serve(plan: Plan) -> Section:
    """Concurrent clients against POST /api/ask on loopback, against one client alone."""
    import psutil

    sec = Section("serve", TITLES["serve"])
    questions = [q for q, _ in gold_queries()]
    with _server() as (url, proc):
        ps = psutil.Process(proc.pid)
        before = ps.memory_info().rss
        solo = asyncio.run(_load(url, questions, 1, plan.solo_seconds))
        fresh = _fresh_connections(url, questions, 20)
        cpu, own = _cpu(ps), _cpu(psutil.Process())
        many = asyncio.run(_load(url, questions, plan.clients, plan.serve_seconds))
        cpu, own = (_cpu(ps) - cpu) / plan.serve_seconds, (_cpu(psutil.Process()) - own) / plan.serve_seconds
        after = ps.memory_info().rss
    rps, solo_rps = many.count / plan.serve_seconds, solo.count / plan.solo_seconds
    sec.figures.append(Figure("serve", f"{plan.clients} clients × {plan.serve_seconds:.0f} s: requests/s "
                              f"(p50 {ms(pct(many.ok, 50))}, p99 {ms(pct(many.ok, 99))})", f"{rps:.0f}/s",
                              f"{solo_rps:.0f}/s one client", rps / solo_rps, "failures = 0", many.failed == 0,
                              f"{many.failed} failed, {many.shed} shed (429/503), "
                              f"server RSS {mb(before)} → {mb(after)}"))
    sec.lines += [f"`mgqa serve` in its own process (default settings: {settings.get('max_concurrency')} answers "
                  f"at once, {settings.get('max_queue')} waiting); clients are asyncio + httpx in the benchmark "
                  "process on the same 2 cores, each sending gold questions back to back. Shed = explicit "
                  "429/503 answers; failed = anything else that is not a 200, or no answer at all.", "",
                  "| clients | seconds | requests | requests/s | p50 | p99 | ok | shed | failed | server RSS |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                  solo.row(1, plan.solo_seconds, f"{mb(before)} (after start-up and one question)"),
                  many.row(plan.clients, plan.serve_seconds, f"{mb(after)} (after)"), "",
                  f"During the {plan.clients}-client run the server used {cpu:.2f} CPU-seconds per second and the "
                  f"clients {own:.2f}, of {os.cpu_count()} cores. One client alone: p50 {ms(pct(solo.ok, 50))} on a "
                  f"kept-alive connection, {ms(median(fresh))} with a new connection per request."]
    if many.errors:
        sec.lines += ["", "Failures: " + ", ".join(f"{k} × {v}" for k, v in sorted(many.errors.items()))]
    return sec


def _fresh_connections(url: str, questions: list[str], n: int) -> list[float]:
    """Seconds per request, each on a new connection (as a widget's first question is); a bare
    socket, so that no client library's set-up is counted."""
    host, port = url.removeprefix("http://").split(":")
    out = []
    for i in range(n):
        body = json.dumps({"question": questions[i % len(questions)]}).encode()
        request = (f"POST /api/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        t = time.perf_counter()
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(request)
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
        out.append(time.perf_counter() - t)
        if not reply.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the server answered {reply[:40]!r}")
    return out


def _cpu(process) -> float:
    t = process.cpu_times()
    return t.user + t.system


@dataclass
class Load:
    ok: list[float] = field(default_factory=list)  # seconds per 200 answer
    shed: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ok) + self.shed + self.failed

    def add(self, other: Load) -> None:
        """Count ``other``'s requests in with these."""
        self.ok += other.ok
        self.shed += other.shed
        self.failed += other.failed
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v

    def row(self, clients: int, seconds: float, rss: str) -> str:
        return (f"| {clients} | {seconds:.0f} | {self.count:,} | {self.count / seconds:.1f} | {ms(pct(self.ok, 50))} "
                f"| {ms(pct(self.ok, 99))} | {len(self.ok):,} | {self.shed} | {self.failed} | {rss} |")


async def _load(url: str, questions: list[str], clients: int, seconds: float) -> Load:
    import httpx

    out = Load()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        async def client(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    r = await http.post("/api/ask", json={"question": rng.choice(questions)})
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if status == "200":
                    out.ok.append(time.perf_counter() - t)
                elif status in ("429", "503"):
                    out.shed += 1
                else:
                    out.failed += 1
                    out.errors[status] = out.errors.get(status, 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return out


WORKER_COUNTS = (1, 2)
SEGMENT_SECONDS = 10.0  # each server is loaded in turns of this long, alternating


def workers(plan: Plan) -> Section:
    """The same load against `mgqa serve --workers 1` and `--workers 2`, both running, taking turns.

    Alternating short turns (rather than one run after the other) spreads whatever else the shared
    machine is doing over both; the CPU the rest of the machine used is reported beside each.
    """
    sec = Section("workers", TITLES["workers"])
    questions = [q for q, _ in gold_queries()]
    turns = max(1, round(plan.serve_seconds / SEGMENT_SECONDS))
    seconds = plan.serve_seconds / turns
    with contextlib.ExitStack() as stack:
        servers = {n: _worker_processes(stack.enter_context(_server(workers=n)), n) for n in WORKER_COUNTS}
        runs = {n: Turns() for n in WORKER_COUNTS}
        for turn in range(turns):
            for n in (WORKER_COUNTS if turn % 2 == 0 else WORKER_COUNTS[::-1]):
                url, procs = servers[n]
                runs[n].add(procs, functools.partial(_load_now, url, questions, plan.clients, seconds), seconds)
        memory = {n: [_memory(p) for p in procs] for n, (_, procs) in servers.items()}
    one, two = runs[1], runs[2]
    sec.figures.append(Figure("workers", f"{plan.clients} clients, 2 workers: requests/s (p99 {ms(pct(two.load.ok, 99))} "
                              f"against {ms(pct(one.load.ok, 99))})", f"{two.rps:.0f}/s", f"{one.rps:.0f}/s one worker",
                              two.rps / one.rps, "failures = 0", one.load.failed == two.load.failed == 0,
                              f"{one.load.failed + two.load.failed} failed; RSS per worker "
                              f"{', '.join(mb(m['rss']) for m in memory[2])} against {mb(memory[1][0]['rss'])}; "
                              f"server CPU {two.cpu('server'):.2f} against {one.cpu('server'):.2f} s/s "
                              f"of {os.cpu_count()} cores"))
    sec.lines += [f"`mgqa serve --workers 1` and `--workers 2` both running (default settings: each process computes "
                  f"{settings.get('max_concurrency')} answers at once), default corpus, {plan.clients} clients as in "
                  f"the serving part, loading one server at a time in alternating turns of {seconds:.0f} s "
                  f"({turns} each), on the same {os.cpu_count()} cores as the clients. CPU in seconds per second: the "
                  "server's processes, the clients, and everything else on the machine meanwhile (other tenants). "
                  "Memory per worker after the runs: RSS, PSS (shared pages divided among the processes mapping "
                  "them) and USS (pages no other process maps); \"index files\" is the part of RSS that maps the "
                  "index's data files, read-only and shared through the page cache.", "",
                  "| workers | seconds | requests | requests/s | p50 | p99 | failed | shed | server CPU | clients CPU "
                  "| others' CPU | RSS per worker | PSS per worker | USS per worker | index files mapped (RSS) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    for n, run in runs.items():
        load, mem = run.load, memory[n]
        sec.lines.append(f"| {n} | {run.seconds:.0f} | {load.count:,} | {run.rps:.1f} | {ms(pct(load.ok, 50))} "
                         f"| {ms(pct(load.ok, 99))} | {load.failed} | {load.shed} | {run.cpu('server'):.2f} "
                         f"| {run.cpu('clients'):.2f} | {run.cpu('others'):.2f} | "
                         + " | ".join(", ".join(mb(m[k]) for m in mem) for k in ("rss", "pss", "uss"))
                         + f" | {', '.join(kb(m['index']) for m in mem)} |")
    busy = {n: sum(run.cpu(who) for who in run.used) for n, run in runs.items()}
    sec.lines += ["", f"The machine was busy {busy[1]:.2f} CPU-seconds per second during the 1-worker turns and "
                  f"{busy[2]:.2f} during the 2-worker turns, of {os.cpu_count()} cores: where that reaches the core "
                  "count, a second worker has no CPU to work with, and only cores to spare can show what it adds."]
    return sec


@dataclass
class Turns:
    """One server's turns under load, added up: the answers and where the CPU went meanwhile."""

    load: Load = field(default_factory=Load)
    seconds: float = 0.0
    used: dict[str, float] = field(default_factory=lambda: {"server": 0.0, "clients": 0.0, "others": 0.0})

    def add(self, procs: list, run: Callable[[], Load], seconds: float) -> None:
        import psutil

        me = psutil.Process()
        before = (sum(_cpu(p) for p in procs), _cpu(me), _machine_cpu())
        load = run()
        server, clients = sum(_cpu(p) for p in procs) - before[0], _cpu(me) - before[1]
        self.used["server"] += server
        self.used["clients"] += clients
        self.used["others"] += max(0.0, _machine_cpu() - before[2] - server - clients)
        self.load.add(load)
        self.seconds += seconds

    @property
    def rps(self) -> float:
        return self.load.count / self.seconds

    def cpu(self, who: str) -> float:
        return self.used[who] / self.seconds


def _load_now(url: str, questions: list[str], clients: int, seconds: float) -> Load:
    return asyncio.run(_load(url, questions, clients, seconds))


def _machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _worker_processes(server: tuple[str, subprocess.Popen], n: int) -> tuple[str, list]:
    """A server's URL and the processes that answer: the server itself, or its ``n`` spawned workers."""
    import psutil

    url, proc = server
    parent = psutil.Process(proc.pid)
    if n == 1:
        return url, [parent]
    return url, [c for c in parent.children() if "spawn_main" in " ".join(c.cmdline())]


def _memory(process) -> dict[str, int]:
    index_dir = str(Path(settings.get("index_dir")).resolve())
    full = process.memory_full_info()
    mapped = sum(m.rss for m in process.memory_maps() if m.path.startswith(index_dir))
    return {"rss": full.rss, "pss": full.pss, "uss": full.uss, "index": mapped}


@contextlib.contextmanager
def _server(workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """`mgqa serve --workers N` on a free port, yielded once every worker has loaded the index."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "mgqa", "serve", "--port", str(port), "--workers", str(workers)],
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        loaded: set[int] = set()  # the workers whose /healthz names a build
        for _ in range(1200):
            with contextlib.suppress(httpx.HTTPError, ValueError):
                health = httpx.get(url + "/healthz", timeout=1).json()
                if health["index"]:
                    loaded.add(health["pid"])
            if len(loaded) >= workers or proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the server's {workers} workers did not load the index within 120 s")
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited: {log.read().decode(errors='replace')[-1000:]}")
        httpx.post(url + "/api/ask", json={"question": QUESTION}, timeout=120).raise_for_status()
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

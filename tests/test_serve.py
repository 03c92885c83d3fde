"""`mgqa serve` as a clinic runs it: the real model, the real CLI rebuilding the index while clients
ask, SIGHUP, a damaged build, `--workers 2` (each worker reloading itself, a worker that dies, the
index shared through the page cache) and the chat across workers in a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from browser_util import CHROMIUM, CHROMIUM_ARGS
from mgqa.index import MANIFEST, read_manifest
from reliability import mgqa_server, record
from reload_util import NEW, OLD, QUESTION, Clients, versions, write_documents

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[1]


def cli_build(folder: Path, out: Path, dose: str) -> str:
    """`mgqa index build FOLDER --out OUT` after editing the one document; the new build id."""
    write_documents(folder, dose)
    r = subprocess.run([sys.executable, "-m", "mgqa", "index", "build", str(folder), "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return read_manifest(out)["build_id"]


def builds(base: str, workers: int, seconds: float = 60, want: str | None = None) -> dict[int, dict]:
    """Each worker's /healthz (by pid), once all ``workers`` have answered with a build (``want``)."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < workers or any(h["index"] is None or (want and h["index"]["build_id"] != want)
                                     for h in seen.values()):
        assert time.monotonic() < deadline, seen
        health = httpx.get(base + "/healthz", timeout=10).json()
        seen[health["pid"]] = health
        if len(seen) > workers:  # a worker was replaced: forget the ones that are gone
            seen = {pid: h for pid, h in seen.items() if psutil.pid_exists(pid)}
        time.sleep(0.05)
    return seen


@pytest.fixture
def clinic(tmp_path):
    folder, index = tmp_path / "clinic-docs", tmp_path / "index"
    first = cli_build(folder, index, OLD)
    return folder, index, first, dict(os.environ, MGQA_INDEX_DIR=str(index))


def test_each_worker_swaps_in_a_rebuild_while_clients_ask(tmp_path, clinic):
    folder, index, first, env = clinic
    with mgqa_server(tmp_path, env, args=("--workers", "2")) as server:
        assert {h["index"]["build_id"] for h in builds(server.base, 2).values()} == {first}
        clients = Clients(server.base, versions(), n=4)
        for t in clients.threads:
            t.start()
        try:
            clients.wait_for("old", 5)
            new_id = cli_build(folder, index, NEW)
            built = time.monotonic()
            workers = builds(server.base, 2, want=new_id)
            swapped = time.monotonic() - built
            clients.wait_for("new", 10)
        finally:
            clients.stop.set()
            for t in clients.threads:
                t.join(60)
    outcomes = clients.all()
    assert set(outcomes) == {"old", "new"}, {o for o in outcomes if o not in ("old", "new")}
    assert all(mine[-5:] == ["new"] * 5 for mine in clients.outcomes)
    swaps = [line for line in server.stderr().splitlines() if f"serving index build {new_id}" in line]
    assert len(swaps) == 2 and all(f"replacing {first}" in line for line in swaps)
    assert {int(line.split("mgqa[")[1].split("]")[0]) for line in swaps} == set(workers)
    record("reload", requests=len(outcomes), old_build=outcomes.count("old"), new_build=outcomes.count("new"),
           failed=len(outcomes) - outcomes.count("old") - outcomes.count("new"),
           seconds_to_both_workers_swapped=round(swapped, 2))


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_checks_at_once_and_a_damaged_build_is_refused(tmp_path, clinic, workers):
    folder, index, first, env = clinic
    env["MGQA_RELOAD_SECONDS"] = "0"  # only SIGHUP
    with mgqa_server(tmp_path, env, args=("--workers", str(workers))) as server:
        builds(server.base, workers)
        new_id = cli_build(folder, index, NEW)
        time.sleep(2)
        assert {h["index"]["build_id"] for h in builds(server.base, workers).values()} == {first}
        os.kill(server.pid, signal.SIGHUP)
        builds(server.base, workers, seconds=30, want=new_id)

        damaged = publish_damaged(folder, index)
        os.kill(server.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not all(h["refused"] for h in builds(server.base, workers).values()):
            assert time.monotonic() < deadline
        for health in builds(server.base, workers).values():
            assert health["index"]["build_id"] == new_id and health["refused"]["build_id"] == damaged
            assert "vectors.npy is damaged (checksum mismatch)" in health["refused"]["reason"]
        answer = httpx.post(server.base + "/api/ask", json={"question": QUESTION}, timeout=30).json()
        assert NEW in answer["passages"][0]["text"]
        assert server.process.poll() is None  # SIGHUP never ends the server
    refusals = [line for line in server.stderr().splitlines() if f"index build {damaged}" in line]
    assert len(refusals) == workers and all(f"(still serving build {new_id}): " in line for line in refusals)
    record("reload", **{f"damaged_build_refused_by_{workers}_workers": len(refusals)})


def publish_damaged(folder: Path, index: Path) -> str:
    """A good build whose vectors were then damaged, published as a build publishes (data, then the
    manifest atomically)."""
    staging = index.parent / "staging"
    shutil.copytree(index, staging)
    build = cli_build(folder, staging, NEW + " ")  # differs from the served build, so it is new
    data = read_manifest(staging)["data"]
    vectors = staging / data / "vectors.npy"
    raw = bytearray(vectors.read_bytes())
    raw[-1] ^= 0xFF
    vectors.write_bytes(bytes(raw))
    shutil.copytree(staging / data, index / data)
    os.replace(staging / MANIFEST, index / MANIFEST)
    return build


def test_workers_share_the_index_files_and_a_dead_worker_is_replaced(tmp_path, clinic):
    folder, index, first, env = clinic
    with mgqa_server(tmp_path, env, args=("--workers", "2")) as server:
        workers = builds(server.base, 2)
        data = str(index / read_manifest(index)["data"])
        for pid in workers:
            maps = [m for m in psutil.Process(pid).memory_maps() if m.path.startswith(data)]
            assert {Path(m.path).name for m in maps} >= {"vectors.npy", "dense.faiss", "data.csc.index.npy"}
            rss, pss = sum(m.rss for m in maps), sum(m.pss for m in maps)
            assert rss > 0 and pss <= 0.75 * rss, (rss, pss)  # its pages are shared with the other worker
        victim = next(iter(workers))
        os.kill(victim, signal.SIGKILL)
        replaced = builds(server.base, 2, seconds=120)
        assert victim not in replaced and len(replaced) == 2
        for _ in range(10):
            assert httpx.post(server.base + "/api/ask", json={"question": QUESTION}, timeout=30).status_code == 200
    assert "died (code -9); starting another" in server.stderr()


# ---------------------------------------------------------------- the reload path, soaked

SOAK_BUILDS = 20


class SoakClients(Clients):
    """Clients over many versions of the document: each answer is named by the version whose text
    holds every passage verbatim and whose dose the passages quote; every non-200 keeps its status
    and body, so a failure is explained, not only counted."""

    def version(self, r: httpx.Response) -> str:
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:500]}"
        passages = r.json()["passages"]
        if not passages:
            return f"no passage: {r.json().get('status')}"
        fits = [name for name, texts in self.documents.items()
                if all(texts[p["citation"]["doc_id"]][p["citation"]["start"]:p["citation"]["end"]] == p["text"]
                       for p in passages)]
        quoting = [name for name in fits if any(name in p["text"] for p in passages)]
        if len(quoting) == 1:
            return quoting[0]
        return "verbatim, no dose quoted" if fits and not quoting else f"not verbatim in one version: {quoting or fits}"


def soak_dose(i: int) -> str:
    return f"{100 + 5 * i} milligrams of a slow-release"


def test_twenty_rebuilds_under_a_client_loop_with_two_workers_fail_no_request(tmp_path, clinic):
    """The issue's soak: the document edited and the index rebuilt into the served directory 20
    times while 4 clients ask in a loop, 2 workers each swapping every build in. One run of 9 once
    lost 69 requests here, unexplained: so every answer is checked and every failure kept."""
    folder, index, first, env = clinic
    doses = [soak_dose(i) for i in range(SOAK_BUILDS + 1)]
    assert doses[0] == OLD
    texts = {dose: {d: t.replace(OLD, dose) for d, t in versions()["old"].items()} for dose in doses}
    swap_seconds = []
    with mgqa_server(tmp_path, env, args=("--workers", "2")) as server:
        builds(server.base, 2, want=first)
        clients = SoakClients(server.base, texts, n=4)
        for t in clients.threads:
            t.start()
        try:
            clients.wait_for(OLD, 3)
            for dose in doses[1:]:
                new_id = cli_build(folder, index, dose)
                built = time.monotonic()
                builds(server.base, 2, want=new_id)
                swap_seconds.append(time.monotonic() - built)
                clients.wait_for(dose, 2)  # every client has been answered from this build
        finally:
            clients.stop.set()
            for t in clients.threads:
                t.join(60)
        assert server.process.poll() is None
    outcomes = clients.all()
    failures = [o for o in outcomes if o not in texts and o != "verbatim, no dose quoted"]
    assert failures == [], failures[:20]
    assert set(doses) <= set(outcomes)
    swaps = [line for line in server.stderr().splitlines() if "serving index build" in line]
    assert len(swaps) >= 2 * SOAK_BUILDS, swaps[-5:]
    record("reload", soak_builds=SOAK_BUILDS, soak_requests=len(outcomes), soak_failed=len(failures),
           soak_slowest_swap_seconds=round(max(swap_seconds), 2))


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing")
@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")
def test_the_chat_works_across_workers(tmp_path, clinic):
    """Gradio keeps each chat session in one process; with two workers every chat request must
    still reach it (without the forwarding, about one question in three never got its answer)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    folder, index, first, env = clinic
    with mgqa_server(tmp_path, env, args=("--workers", "2")) as server, sync_api.sync_playwright() as p:
        builds(server.base, 2)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        answered = []
        for i in range(6):  # a fresh page each time: a new session, new connections
            page = browser.new_page()
            page.goto(server.base + "/")
            box = page.get_by_role("textbox").first
            box.fill(QUESTION if i % 2 == 0 else "Can an IV magnesium infusion help a migraine?")
            box.press("Enter")
            page.wait_for_function("() => document.querySelectorAll('.mgqa-answer').length > 0", timeout=30000)
            follow_up = page.locator(".mgqa-answer").count()
            box.fill("what about for sleep?")
            box.press("Enter")
            page.wait_for_function("n => document.querySelectorAll('.mgqa-answer').length > n", arg=follow_up,
                                   timeout=30000)
            answered.append(page.locator(".mgqa-answer").first.inner_text())
            page.close()
        browser.close()
    assert sum(OLD in text for text in answered) == 3 and all("Disclaimer" in text for text in answered)

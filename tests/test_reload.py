"""Hot reload: a new index build is swapped in while the server runs; a bad one is refused.

The fake encoder keeps builds instant; tests/test_serve.py runs the real `mgqa serve` (and its
workers) with the real model.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from browser_util import bound_socket, uvicorn_server
from conftest import FakeEncoder
from mgqa.errors import IndexNotFound
from mgqa.index import MANIFEST, build_corpus, build_id, read_manifest
from mgqa.live import LiveEngine, manifest_stamp
from mgqa.serve.app import create_app
from reload_util import NEW, OLD, QUESTION, Clients, versions, write_documents

# ---------------------------------------------------------------- a clinic's builds


def rebuild(folder: Path, out: Path, encoder, dose: str) -> str:
    """Edit the one document and rebuild, as `mgqa index build FOLDER --out OUT` does; the build id."""
    index, _ = build_corpus([write_documents(folder, dose)], out, encoder)
    return build_id(index.manifest)


def publish_damaged_build(folder: Path, served: Path, encoder, dose: str) -> str:
    """A build whose vectors were damaged after their checksum was taken (a bad disk, a torn copy),
    published the way a build publishes: data directory first, then the manifest, atomically."""
    staging = folder.parent / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(served, staging)
    new_id = rebuild(folder, staging, encoder, dose)
    manifest = read_manifest(staging)
    vectors = staging / manifest["data"] / "vectors.npy"
    raw = bytearray(vectors.read_bytes())
    raw[-1] ^= 0xFF
    vectors.write_bytes(bytes(raw))
    shutil.copytree(staging / manifest["data"], served / manifest["data"])
    os.replace(staging / MANIFEST, served / MANIFEST)
    return new_id


@pytest.fixture
def clinic(tmp_path, fake):
    folder, served = tmp_path / "clinic-docs", tmp_path / "index"
    build_corpus([write_documents(folder)], served, fake)
    return folder, served


def top_passage(answer) -> str:
    assert answer.status == "answered"
    return answer.passages[0].text


# ---------------------------------------------------------------- the live engine


def test_build_id_is_in_the_manifest_and_changes_with_each_build(clinic, fake):
    folder, served = clinic
    first = read_manifest(served)
    assert first["build_id"] and first["data"] == "data-" + first["build_id"]
    assert rebuild(folder, served, fake, NEW) != first["build_id"]
    old_style = {k: v for k, v in first.items() if k != "build_id"}
    assert build_id(old_style) == first["build_id"]  # an index from before build ids


def test_a_new_build_is_swapped_in_and_a_request_in_flight_finishes_on_the_old(clinic, fake, caplog):
    folder, served = clinic
    caplog.set_level(logging.INFO, logger="mgqa.reload")
    live = LiveEngine(served, fake)
    assert OLD in top_passage(live.ask(QUESTION))
    first = live.build.build_id
    in_flight = live.engine()  # what a request that started now holds
    new_id = rebuild(folder, served, fake, NEW)
    assert not (served / f"data-{first}").exists()  # the builder removed the old data directory
    assert live.refresh() is True
    assert live.build.build_id == new_id and live.refused is None
    assert NEW in top_passage(live.ask(QUESTION))
    assert OLD in top_passage(in_flight.ask(QUESTION))  # its memory-mapped files outlive the directory
    assert live.refresh() is False  # nothing new on disk: one stat, no reading
    swaps = [r.getMessage() for r in caplog.records if r.name == "mgqa.reload"]
    assert swaps[-1] == (f"serving index build {new_id} (2 documents, {live.build.passages} passages, "
                         f"built {live.build.built}), replacing {first}")


def test_the_manifest_is_only_read_when_its_stat_changes(clinic, fake, monkeypatch):
    folder, served = clinic
    live = LiveEngine(served, fake)
    live.engine()
    reads = []
    monkeypatch.setattr("mgqa.live.read_manifest", lambda path: reads.append(path) or read_manifest(path))
    for _ in range(5):
        assert live.refresh() is False
    assert reads == []
    before = manifest_stamp(served)
    rebuild(folder, served, fake, NEW)
    assert manifest_stamp(served) != before
    assert live.refresh() is True and len(reads) == 1


def test_a_damaged_build_is_refused_and_the_old_keeps_serving(clinic, fake, caplog):
    folder, served = clinic
    live = LiveEngine(served, fake)
    serving = live.engine() and live.build.build_id
    caplog.set_level(logging.INFO, logger="mgqa.reload")
    damaged = publish_damaged_build(folder, served, fake, NEW)
    assert live.refresh() is False
    assert live.build.build_id == serving and OLD in top_passage(live.ask(QUESTION))
    assert live.refused.build_id == damaged and "vectors.npy is damaged (checksum mismatch)" in live.refused.reason
    lines = [r.getMessage() for r in caplog.records if r.name == "mgqa.reload"]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith(f"index build {damaged} in {served} not loaded (still serving build {serving}): ")
    assert caplog.records[-1].levelno == logging.WARNING
    for _ in range(3):  # said once, not at every check
        live.refresh()
    assert len([r for r in caplog.records if r.name == "mgqa.reload"]) == 1
    assert live.refresh(forced=True) is False  # SIGHUP retries it (and says so again)
    assert len([r for r in caplog.records if r.name == "mgqa.reload"]) == 2
    good = rebuild(folder, served, fake, NEW)  # the next good build replaces both
    assert live.refresh() is True and live.build.build_id == good and live.refused is None
    assert NEW in top_passage(live.ask(QUESTION))


class OtherModel(FakeEncoder):
    model_id = "test/other-model"


@pytest.mark.parametrize("damage, reason", [
    ("manifest", "manifest .* is unreadable"),
    ("model", "was built with test/other-model"),
    ("missing file", "dense.faiss is missing"),
])
def test_other_unusable_builds_are_refused(clinic, fake, damage, reason):
    folder, served = clinic
    live = LiveEngine(served, fake)
    serving = live.engine() and live.build.build_id
    if damage == "manifest":
        (served / "manifest.tmp").write_text("{half a manifest", encoding="utf-8")
        os.replace(served / "manifest.tmp", served / MANIFEST)
    elif damage == "model":
        rebuild(folder, served, OtherModel(), NEW)
    else:
        rebuild(folder, served, fake, NEW)
        (served / read_manifest(served)["data"] / "dense.faiss").unlink()
    assert live.refresh() is False
    assert live.build.build_id == serving and OLD in top_passage(live.ask(QUESTION))
    assert re.search(reason, live.refused.reason), live.refused.reason


def test_without_any_usable_build_the_error_is_kept_until_the_index_changes(tmp_path, fake, monkeypatch):
    folder, served = tmp_path / "docs", tmp_path / "index"
    live = LiveEngine(served, fake)
    loads = []
    real_load = LiveEngine._load
    monkeypatch.setattr(LiveEngine, "_load", lambda self, *a: loads.append(1) or real_load(self, *a))
    for _ in range(3):
        with pytest.raises(IndexNotFound, match="no index at"):
            live.ask(QUESTION)
    assert len(loads) == 1 and live.refused.build_id is None  # not retried at every request
    rebuild(folder, served, fake, OLD)
    assert OLD in top_passage(live.ask(QUESTION))  # the first request after the build loads it


# ---------------------------------------------------------------- /healthz


def test_healthz_reports_the_build_without_loading_it(clinic, fake, monkeypatch):
    folder, served = clinic
    live = LiveEngine(served, fake)
    client = TestClient(create_app(live), raise_server_exceptions=False)  # no lifespan: nothing preloads
    before = client.get("/healthz").json()
    assert before == {"status": "ok", "pid": os.getpid(), "index": None, "refused": None}
    assert live.build is None
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    m = read_manifest(served)
    assert client.get("/healthz").json()["index"] == {"build_id": m["build_id"], "documents": 2,
                                                      "passages": m["n_chunks"], "built": m["created"]}
    damaged = publish_damaged_build(folder, served, fake, NEW)
    live.refresh()
    health = client.get("/healthz").json()
    assert health["index"]["build_id"] == m["build_id"]
    assert health["refused"]["build_id"] == damaged and "checksum mismatch" in health["refused"]["reason"]


def test_healthz_says_why_no_build_is_loaded(tmp_path, fake):
    client = TestClient(create_app(LiveEngine(tmp_path / "none", fake)), raise_server_exceptions=False)
    assert "no index at" in client.post("/api/ask", json={"question": QUESTION}).json()["error"]
    health = client.get("/healthz").json()
    assert health["index"] is None and health["refused"]["build_id"] is None
    assert health["refused"]["reason"].startswith("no index at")


def test_the_server_loads_the_build_when_it_starts(clinic, fake, monkeypatch):
    folder, served = clinic
    live = LiveEngine(served, fake)
    with TestClient(create_app(live)) as client:  # with its lifespan, as uvicorn runs it
        deadline = time.monotonic() + 30
        while client.get("/healthz").json()["index"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert live.build.build_id == read_manifest(served)["build_id"]


def test_the_openapi_description_documents_healthz(clinic, fake):
    spec = TestClient(create_app(LiveEngine(clinic[1], fake))).get("/openapi.json").json()
    schema = spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/HealthBody")
    props = spec["components"]["schemas"]["HealthBody"]["properties"]
    assert set(props) == {"status", "pid", "index", "refused"}
    assert "null until it has loaded one" in props["index"]["description"]


# ---------------------------------------------------------------- a real server under load


@pytest.fixture
def served_live(clinic, fake, monkeypatch):
    monkeypatch.setenv("MGQA_RELOAD_SECONDS", "0.2")
    folder, served = clinic
    with uvicorn_server(create_app(LiveEngine(served, fake)), bound_socket()) as base:
        clients = Clients(base, versions())
        for t in clients.threads:
            t.start()
        try:
            yield folder, served, base, clients
        finally:
            clients.stop.set()
            for t in clients.threads:
                t.join(30)


def test_a_rebuild_while_clients_ask_is_served_with_no_failed_request(served_live, fake):
    folder, served, base, clients = served_live
    clients.wait_for("old", 10)
    new_id = rebuild(folder, served, fake, NEW)
    clients.wait_for("new", 10)
    clients.stop.set()
    outcomes = clients.all()
    assert set(outcomes) == {"old", "new"}, {o for o in outcomes if o not in ("old", "new")}
    assert len(outcomes) >= 80
    for mine in clients.outcomes:  # one process: once a client saw the new build, never the old again
        assert "old" not in mine[mine.index("new"):]
    assert httpx.get(base + "/healthz").json()["index"]["build_id"] == new_id


def test_a_damaged_build_under_load_is_not_swapped_in(served_live, fake):
    folder, served, base, clients = served_live
    clients.wait_for("old", 5)
    serving = httpx.get(base + "/healthz").json()["index"]["build_id"]
    damaged = publish_damaged_build(folder, served, fake, NEW)
    deadline = time.monotonic() + 30
    while (refused := httpx.get(base + "/healthz").json()["refused"]) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    clients.wait_for("old", 10)  # after the refusal, still answering from the old build
    clients.stop.set()
    assert refused["build_id"] == damaged and "checksum mismatch" in refused["reason"]
    assert httpx.get(base + "/healthz").json()["index"]["build_id"] == serving
    assert set(clients.all()) == {"old"}

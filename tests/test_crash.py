"""A crash-safe index: a build killed at any moment leaves the previous index loadable and byte for
byte unchanged; every file is checksummed and verified on load; damage is one clear error; nothing
is ever unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import mgqa.answer
from conftest import FakeEncoder
from mgqa.cli import main
from mgqa.errors import IndexCorrupt
from mgqa.index import MANIFEST, build_corpus, load, open_index
from mgqa.serve.app import create_app
from reliability import check_error, record

TESTS = Path(__file__).resolve().parent
FIGURES: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    if FIGURES:
        record("crash-safe index", **dict(FIGURES), errors=0)


def snapshot(index_dir: Path) -> dict[str, str]:
    """sha256 of the manifest and of every file in the data directory it names."""
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    data = index_dir / manifest["data"]
    files = {MANIFEST: (index_dir / MANIFEST).read_bytes()} | {f"{data.name}/{f.name}": f.read_bytes()
                                                                for f in sorted(data.iterdir())}
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def one_line(exc: Exception) -> str:
    message = str(exc)
    assert message and "\n" not in message and "rebuild it with `mgqa index build" in message
    return message


# ---------------------------------------------------------------- damage is one clear error


@pytest.fixture
def index_dir(default_index):
    return default_index.path


def data_files(index_dir: Path) -> list[Path]:
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    return [index_dir / manifest["data"] / name for name in manifest["files"]]


def damages() -> dict:
    """name -> how to damage one file: truncate it, cut it to nothing, flip one byte, remove it."""

    def flip(f: Path) -> None:
        raw = bytearray(f.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        f.write_bytes(bytes(raw))

    return {"truncated": lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]),
            "emptied": lambda f: f.write_bytes(b""), "one bit flipped": flip, "deleted": Path.unlink}


@pytest.mark.parametrize("damage", list(damages()))
def test_every_damaged_file_is_one_clear_error(index_dir, fake, damage):
    pristine = index_dir.with_name("pristine")
    shutil.copytree(index_dir, pristine)
    files = data_files(index_dir)
    assert len(files) >= 8  # chunks, vectors, FAISS, and the lexical index's files
    for f in files:
        damages()[damage](f)
        with pytest.raises(IndexCorrupt) as info:
            load(index_dir, fake)
        message = one_line(info.value)
        assert str(f) in message and ("missing" if damage == "deleted" else "damaged (checksum mismatch)") in message
        shutil.copy2(pristine / f.parent.name / f.name, f)
        load(index_dir, fake)  # restored: loads again
        FIGURES["damaged files detected"] += 1


@pytest.mark.parametrize("manifest_text", ["", "{", "[]", "null", '{"format_version": 1}', "\x00\x01", "\ufeff{}"])
def test_a_damaged_manifest_is_one_clear_error(index_dir, fake, manifest_text):
    (index_dir / MANIFEST).write_text(manifest_text, encoding="utf-8")
    with pytest.raises(IndexCorrupt) as info:
        load(index_dir, fake)
    assert "manifest" in one_line(info.value)
    FIGURES["damaged manifests detected"] += 1


def test_a_manifest_whose_checksum_was_altered_is_refused(index_dir, fake):
    path = index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"]["vectors.npy"] = "0" * 64
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt, match=r"vectors\.npy is damaged"):
        load(index_dir, fake)


def test_the_missing_data_directory_is_one_clear_error(index_dir, fake):
    shutil.rmtree(data_files(index_dir)[0].parent)
    with pytest.raises(IndexCorrupt, match="data directory .* is missing"):
        load(index_dir, fake)


def test_interfaces_report_a_damaged_index_in_one_line(index_dir, fake, monkeypatch):
    f = data_files(index_dir)[0]
    f.write_bytes(f.read_bytes()[:-1])
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: fake)
    monkeypatch.setattr(mgqa.answer, "_ENGINES", {})
    r = CliRunner().invoke(main, ["ask", "--index", str(index_dir), "magnesium dose?"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "is damaged (checksum mismatch)" in r.output
    monkeypatch.setenv("MGQA_INDEX_DIR", str(index_dir))
    client = TestClient(create_app(), raise_server_exceptions=False)
    assert "is damaged" in check_error(client.post("/api/ask", json={"question": "magnesium dose?"}), 503)
    assert client.get("/healthz").status_code == 200


# ---------------------------------------------------------------- no pickle, ever


def rewrite_checksums(index_dir: Path) -> None:
    """Make the manifest agree with the files again, as an attacker with write access would."""
    path = index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    data = index_dir / manifest["data"]
    manifest["files"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(data.iterdir())}
    path.write_text(json.dumps(manifest), encoding="utf-8")


class Trap:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_in_any_npy_file_is_refused_unopened(index_dir, fake, tmp_path):
    pristine = index_dir.with_name("pristine")
    shutil.copytree(index_dir, pristine)
    npy = [f for f in data_files(index_dir) if f.suffix in (".npy", ".npz")]
    assert len(npy) >= 2 and "vectors.npy" in {f.name for f in npy}
    for f in npy:
        marker = tmp_path / f"unpickled-{f.name}"
        pickled = io.BytesIO()
        np.save(pickled, np.array([Trap(marker)], dtype=object), allow_pickle=True)
        f.write_bytes(pickled.getvalue())
        rewrite_checksums(index_dir)  # checksums match: only allow_pickle=False stands in the way
        with pytest.raises(IndexCorrupt) as info:
            load(index_dir, fake)
        assert "pickle" in one_line(info.value) and not marker.exists(), f
        shutil.rmtree(index_dir)
        shutil.copytree(pristine, index_dir)
        FIGURES["pickle payloads refused"] += 1


def test_a_pickle_file_named_in_the_manifest_is_never_read(index_dir, fake, tmp_path):
    marker = tmp_path / "unpickled"
    data = data_files(index_dir)[0].parent
    (data / "model.pkl").write_bytes(pickle.dumps(Trap(marker)))
    (data / "chunks.jsonl").rename(data / "chunks.pkl")
    (data / "chunks.pkl").write_bytes(pickle.dumps(Trap(marker)))
    rewrite_checksums(index_dir)
    with pytest.raises(IndexCorrupt, match="chunks.jsonl"):
        load(index_dir, fake)
    assert not marker.exists()
    FIGURES["pickle payloads refused"] += 1


def test_loading_never_calls_pickle(index_dir, fake, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading the index")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    index = open_index(index_dir, fake)
    assert index.chunks and index.dense.ntotal == len(index.chunks)


# ---------------------------------------------------------------- leftovers of a killed build


def test_leftovers_of_a_killed_build_do_not_break_loading(index_dir, fake, tmp_path):
    before = snapshot(index_dir)
    (index_dir / "data-20990101000000-deadbeef.tmp").mkdir()
    (index_dir / "data-20990101000000-deadbeef.tmp" / "vectors.npy").write_bytes(b"half")
    (index_dir / "data-20990101000000-cafebabe").mkdir()  # renamed, but the manifest never switched
    (index_dir / f"{MANIFEST}.tmp4242").write_text('{"half": ')
    load(index_dir, fake)
    assert snapshot(index_dir) == before
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.md").write_text("# Magnesium\n\nMagnesium helps some people sleep.\n")
    build_corpus([src], index_dir, fake)  # the next complete build clears the stray data
    assert sorted(p.name for p in index_dir.iterdir() if p.name.startswith("data-")) == [load(index_dir).manifest["data"]]


# ---------------------------------------------------------------- kill -9 mid-build

CHILD = r'''
"""Build an index in slow motion, printing each step, so the parent can SIGKILL it anywhere."""
import os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from conftest import FakeEncoder
import mgqa.index as index

def say(*what):
    print(*what, flush=True)

class SlowFake(FakeEncoder):
    def encode(self, texts, batch_size=64):
        say("embed", len(texts))
        time.sleep(0.05)
        return super().encode(texts)

def step(name, fn):
    def wrapped(*args, **kwargs):
        say("before", name, *(getattr(a, "name", "") for a in args[:1]))
        time.sleep(0.02)
        result = fn(*args, **kwargs)
        say("after", name, *(getattr(a, "name", "") for a in args[:1]))
        time.sleep(0.02)
        return result
    return wrapped

index._fsync = step("fsync", index._fsync)
index._atomic_write = step("manifest", index._atomic_write)
index._remove_old_data = step("cleanup", index._remove_old_data)
os.replace = step("replace", os.replace)
say("start")
index.build_corpus([Path(sys.argv[1])], Path(sys.argv[2]), SlowFake())
say("done")
'''


def big_folder(folder: Path, n_docs: int = 60) -> Path:
    rng = random.Random(7)
    words = ("magnesium dose sleep migraine cramps infusion citrate glycinate kidney muscle nerve trial adults "
             "doctor daily milligrams evening foods almonds spinach absorption").split()
    folder.mkdir()
    for d in range(n_docs):
        paragraphs = [" ".join(rng.choice(words) for _ in range(90)).capitalize() + "." for _ in range(14)]
        (folder / f"doc{d:03}.md").write_text(f"# Document {d}\n\n" + "\n\n".join(paragraphs) + "\n")
    return folder


def phase(log: str) -> str:
    """Where the killed build was, from the last step it printed."""
    lines = [line for line in log.splitlines() if line.strip()] or ["start"]
    last = lines[-1]
    for key, name in (("done", "finished before the kill"), ("cleanup", "removing the old data"),
                      ("manifest", "writing and switching the manifest"), ("replace data-", "renaming the data directory"),
                      ("fsync", "writing and syncing the data files"), ("embed", "embedding"),
                      ("start", "starting: imports, reading, chunking")):
        if key in last:
            return name
    return last


@pytest.mark.slow
def test_a_build_killed_at_any_moment_leaves_the_previous_index(tmp_path):
    fake = FakeEncoder()
    old_src = tmp_path / "old"
    old_src.mkdir()
    (old_src / "a.md").write_text("# Magnesium\n\nMagnesium glycinate may help some adults sleep.\n")
    out = tmp_path / "index"
    build_corpus([old_src], out, fake)
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    before = snapshot(out)
    new_src = big_folder(tmp_path / "new")
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    def run(kill_after: float | None = None, kill_at: str | None = None) -> tuple[int, str]:
        child = subprocess.Popen([sys.executable, str(script), str(new_src), str(out), str(TESTS)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        log = []
        if kill_at is not None:
            for line in child.stdout:
                log.append(line)
                if line.strip() == kill_at:
                    break
        else:
            time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
        log.append(child.communicate(timeout=60)[0])
        return child.returncode, "".join(log)

    started = time.monotonic()
    code, log = run(kill_at="done")  # a complete build, timed, to place the kills along it
    full = time.monotonic() - started
    assert "done" in log, log
    markers = [line for line in log.splitlines() if line.startswith(("before", "after"))]
    assert len(markers) >= 16, markers

    rng = random.Random(int(os.environ.get("MGQA_KILL_SEED", "20261121")))
    plans = [{"kill_after": 0.9 * full * (i + rng.random()) / 10} for i in range(10)]
    plans += [{"kill_at": m} for m in markers if m.startswith("after")]  # just after every step of the save
    phases: Counter = Counter()
    outcomes: Counter = Counter()
    kills = 0
    for plan in plans:
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        code, log = run(**plan)
        where = phase(log)
        phases[where] += 1
        index = open_index(out, fake)  # loads, every checksum verified, stray files and all
        now = snapshot(out)
        if now == before:
            outcomes["previous index, unchanged"] += 1
            assert len(index.manifest["documents"]) == 1
        else:  # killed after the manifest switched: the new index, complete
            assert now.keys() != before.keys() and len(index.manifest["documents"]) == 60, (plan, where, log)
            outcomes["new index, complete"] += 1
        assert code == -signal.SIGKILL or "done" in log, (plan, log)
        kills += code == -signal.SIGKILL
    assert outcomes["previous index, unchanged"] >= 10  # most kills land before the switch
    FIGURES["kills survived"] = kills
    FIGURES["kills by build phase"] = dict(phases)
    FIGURES["index after a kill"] = dict(outcomes)
    FIGURES["seconds per slow-motion build"] = round(full, 2)


@pytest.mark.slow
@pytest.mark.model
def test_the_real_cli_build_killed_mid_way_leaves_the_previous_index(tmp_path):
    """The same with `mgqa index build` itself and the real encoder, killed 30, 60 and 90 % of the way
    through a build."""
    from mgqa.embed import DIM, MODEL_ID

    model = type("Model", (), {"model_id": MODEL_ID, "dim": DIM})()
    env = dict(os.environ, NO_COLOR="1")

    def build(src: Path, out: Path, **kwargs):
        return subprocess.Popen([sys.executable, "-m", "mgqa", "index", "build", str(src), "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, **kwargs)

    old_src = tmp_path / "old"
    old_src.mkdir()
    (old_src / "a.md").write_text("# Magnesium\n\nMagnesium glycinate may help some adults sleep.\n")
    out = tmp_path / "index"
    assert build(old_src, out).wait(300) == 0
    before = snapshot(out)
    new_src = big_folder(tmp_path / "new", n_docs=8)
    started = time.monotonic()
    assert build(new_src, tmp_path / "scratch").wait(300) == 0
    full = time.monotonic() - started
    kills = 0
    for fraction in (0.3, 0.6, 0.9):
        child = build(new_src, out)
        time.sleep(full * fraction)
        child.send_signal(signal.SIGKILL)
        if child.wait(60) == -signal.SIGKILL:
            kills += 1
            assert snapshot(out) == before
        else:  # it finished first: the new index is now the previous one
            before = snapshot(out)
        open_index(out, model)  # loads, every checksum verified
    assert kills >= 2
    FIGURES["kills of the real CLI survived"] = kills

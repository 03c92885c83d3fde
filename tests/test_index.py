import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mgqa.ingest
from conftest import FakeEncoder
from mgqa.chunking import ChunkParams
from mgqa.errors import IndexCorrupt, IndexMismatch, IndexNotFound, StaleIndex
from mgqa.index import FORMAT_VERSION, build_corpus, load, open_index, read_manifest
from mgqa.ingest import content_hash, default_documents

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


def test_manifest_describes_the_index(default_index, fake):
    m = read_manifest(default_index.path)
    assert m["format_version"] == FORMAT_VERSION
    assert m["model"] == {"id": fake.model_id, "dim": fake.dim, "encoder": "fake"}
    assert m["chunking"] == ChunkParams().to_dict()
    assert m["corpus"] == "default"
    assert {d["id"]: d["sha256"] for d in m["documents"]} == {d.id: content_hash(d) for d in default_documents()}
    assert m["mgqa_version"]
    assert set(m["files"]) >= {"chunks.jsonl", "vectors.npy", "dense.faiss"}
    assert m["n_chunks"] == len(default_index.chunks)


def test_round_trip(default_index, fake):
    again = load(default_index.path, fake)
    assert again.chunks == default_index.chunks
    np.testing.assert_array_equal(again.vectors, default_index.vectors)
    assert again.dense.ntotal == len(again.chunks)


def test_missing_index(tmp_path, fake):
    with pytest.raises(IndexNotFound, match=r"no index at .*mgqa index build"):
        load(tmp_path / "none", fake)


def test_corrupt_manifest(default_index, fake):
    (default_index.path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="unreadable.*rebuild it with `mgqa index build"):
        load(default_index.path, fake)


@pytest.mark.parametrize("name", ["chunks.jsonl", "vectors.npy", "dense.faiss"])
def test_damaged_file_is_detected(default_index, fake, name):
    f = default_index.path / default_index.manifest["data"] / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(IndexCorrupt, match=f"{name} is damaged"):
        load(default_index.path, fake)


def test_other_model_is_a_mismatch(default_index, fake):
    other = type("Other", (), {"model_id": "other/model", "dim": 384, "backend": "x"})()
    with pytest.raises(IndexMismatch, match="built with test/fake-bow-64"):
        load(default_index.path, other)


def test_other_format_version_is_a_mismatch(default_index, fake):
    path = default_index.path / "manifest.json"
    m = json.loads(path.read_text())
    m["format_version"] = 99
    path.write_text(json.dumps(m))
    with pytest.raises(IndexMismatch, match="format 99"):
        load(default_index.path, fake)


def test_changed_default_document_is_stale(default_index, fake, monkeypatch):
    docs = default_documents()
    docs[0] = replace(docs[0], text=docs[0].text + "\nNew paragraph.")
    monkeypatch.setattr(mgqa.ingest, "default_documents", lambda: docs)
    with pytest.raises(StaleIndex, match="changed: epoch-times-magnesium-fibromyalgia.*mgqa index build"):
        open_index(default_index.path, fake)


def test_changed_source_file_is_stale(tmp_path, fake):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text("Magnesium helps some people sleep better at night.")
    build_corpus([src], tmp_path / "ix", fake)
    open_index(tmp_path / "ix", fake)  # fresh
    (src / "a.txt").write_text("Magnesium helps some people sleep much better at night.")
    with pytest.raises(StaleIndex, match=r"a.txt changed since.*mgqa index build .*docs --out"):
        open_index(tmp_path / "ix", fake)


def test_rebuild_reembeds_only_changed_documents(tmp_path, fake):
    src = tmp_path / "docs"
    src.mkdir()
    for i in range(5):
        (src / f"d{i}.txt").write_text(f"Document {i} says magnesium number {i} is useful for topic {i}.")
    build_corpus([src], tmp_path / "ix", fake)
    texts = []
    real_encode = fake.encode
    fake.encode = lambda batch, batch_size=64: texts.extend(batch) or real_encode(batch)
    (src / "d3.txt").write_text("Document 3 now says something entirely different about sleep.")
    index, _ = build_corpus([src], tmp_path / "ix", fake)
    # the edited passage, then its sentences (detail.py): nothing of the unchanged documents
    assert texts and all("entirely different" in t for t in texts)
    fresh = build_corpus([src], tmp_path / "ix2", type(fake)())[0]
    np.testing.assert_allclose(index.vectors, fresh.vectors)
    np.testing.assert_array_equal(index.detail.sentences, fresh.detail.sentences)
    np.testing.assert_array_equal(index.detail.starts, fresh.detail.starts)


def test_build_keeps_previous_index_when_it_fails(default_index, fake):
    before = (default_index.path / "manifest.json").read_text()

    class Boom(type(fake)):
        def encode(self, texts, batch_size=64):
            raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        build_corpus([DATA / "docs"], default_index.path, Boom())
    assert (default_index.path / "manifest.json").read_text() == before
    load(default_index.path, fake)


def test_committed_default_index_is_fresh():
    """Fails when the shipped documents or chunking rules change without `make index`."""
    m = read_manifest(REPO / "index")
    assert m["corpus"] == "default"
    assert m["chunking"] == ChunkParams().to_dict(), "chunking changed: run `make index`"
    assert {d["id"]: d["sha256"] for d in m["documents"]} == {d.id: content_hash(d) for d in default_documents()}, \
        "default documents changed: run `make index`"
    assert m["format_version"] == FORMAT_VERSION
    from mgqa.embed import DIM, MODEL_ID

    assert (m["model"]["id"], m["model"]["dim"]) == (MODEL_ID, DIM)
    fake_encoder = type("E", (), {"model_id": MODEL_ID, "dim": DIM, "backend": "x"})()
    index = open_index(REPO / "index", fake_encoder)  # verifies every checksum too
    from mgqa.chunking import chunk_documents

    assert index.chunks == chunk_documents(default_documents())


def test_rebuild_keeps_ivf_lists_until_a_tenth_has_changed(tmp_path, fake, monkeypatch):
    """An IVF rebuild after a small edit reuses the trained lists (training is most of its time);
    past RETRAIN_AFTER of the corpus changed since training, it trains again."""
    import mgqa.ann as ann

    monkeypatch.setattr(ann, "FLAT_MAX", 50)
    src = tmp_path / "docs"
    src.mkdir()
    words = ["magnesium", "migraine", "sleep", "cramps", "infusion", "dose", "fatigue", "stress", "calcium", "pain"]
    for i in range(200):
        (src / f"d{i:03}.txt").write_text(f"Note {i}: {words[i % 10]} and {words[i // 10 % 10]} topic{i}.")
    trained = []
    real_train = ann._trained_ivf
    monkeypatch.setattr(ann, "_trained_ivf", lambda x: trained.append(len(x)) or real_train(x))
    first = build_corpus([src], tmp_path / "ix", fake)[0]
    assert first.manifest["ann"] == "ivf" and trained == [200]
    lists = ann.centroids_of(first.dense)

    (src / "d007.txt").write_text("Note 7 now covers something else: zinc.")
    again = build_corpus([src], tmp_path / "ix", fake)[0]
    assert trained == [200]  # not trained again
    np.testing.assert_array_equal(ann.centroids_of(again.dense), lists)
    assert again.manifest["ann_training"] == {"added_since": 2}  # one passage out, its new version in
    fresh = build_corpus([src], tmp_path / "fresh", fake)[0]
    np.testing.assert_array_equal(again.vectors, fresh.vectors)
    scores, _ = again.dense.search(again.vectors, 1)  # exact answers (all lists are probed at this size)
    np.testing.assert_allclose(scores[:, 0], (again.vectors @ again.vectors.T).max(axis=1), rtol=1e-5)

    for i in range(10, 20):  # 2 + 2 x 10 changed rows > 10% of 200
        (src / f"d{i:03}.txt").write_text(f"Note {i} rewritten about potassium {i}.")
    third = build_corpus([src], tmp_path / "ix", fake)[0]
    assert trained == [200, 200, 200] and third.manifest["ann_training"] == {"added_since": 0}


def test_rebuild_reuses_passage_spans_of_unchanged_documents(tmp_path, fake, monkeypatch):
    import mgqa.index

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(3):
        (src / f"d{i}.txt").write_text(f"Heading {i}\n\nMagnesium paragraph {i}. " * 3)
    first = build_corpus([src], tmp_path / "ix", fake)[0]
    chunked = []
    real = mgqa.index.chunk_document
    monkeypatch.setattr(mgqa.index, "chunk_document", lambda d, p: chunked.append(d.id) or real(d, p))
    (src / "d1.txt").write_text("Changed text about sleep.")
    again = build_corpus([src], tmp_path / "ix", fake)[0]
    assert chunked == ["d1"]
    assert [c for c in again.chunks if c.doc_id != "d1"] == [c for c in first.chunks if c.doc_id != "d1"]


class Wide(FakeEncoder):
    """The fake encoder at the real model's width, so that the index files have realistic sizes."""

    dim = 384


SHARER = """
import sys
import numpy as np
from mgqa.index import load
index = load(sys.argv[1])
index.dense.search(np.ones((1, index.vectors.shape[1]), np.float32), 5)  # flat: reads every vector
float(index.vectors.sum()), float(index.lexical.scores("magnesium topic").sum())
for a in (index.lexical._data, index.lexical._indices, index.lexical._indptr):
    float(np.asarray(a, dtype=np.float64).sum())
print("ready", flush=True)
sys.stdin.readline()
"""


def test_processes_serving_one_index_share_its_pages(tmp_path):
    """The arrays are memory-mapped: two processes with the whole index resident hold it once."""
    import psutil

    words = ["magnesium", "migraine", "sleep", "cramps", "infusion", "dose", "fatigue", "stress", "calcium", "pain"]
    rows = [{"id": f"d{i}", "title": f"Note {i}", "text": " ".join(f"{words[(i + j) % 10]} topic{i}x{j}."
                                                                for j in range(60))} for i in range(3000)]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    index = build_corpus([tmp_path / "docs.jsonl"], tmp_path / "ix", Wide())[0]
    data = tmp_path / "ix" / index.manifest["data"]
    mapped = ("vectors.npy", "dense.faiss", "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
    size = sum((data / name).stat().st_size for name in mapped)
    assert size > 15 * 2**20
    procs = [subprocess.Popen([sys.executable, "-c", SHARER, str(tmp_path / "ix")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            maps = [m for m in psutil.Process(p.pid).memory_maps() if Path(m.path).name in mapped
                    and Path(m.path).parent == data]
            rss, pss = sum(m.rss for m in maps), sum(m.pss for m in maps)
            assert rss >= 0.95 * size  # all of it resident in each process ...
            assert pss <= 0.55 * rss  # ... and each holds half of it: one copy in memory
    finally:
        for p in procs:
            p.communicate("\n", timeout=30)

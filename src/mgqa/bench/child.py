"""Measured steps that need a clean process (builds, for their peak memory): ``run_child`` starts
``python -m mgqa.bench TASK ARGS``, which runs ``CHILDREN[TASK]`` and prints one JSON object."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mgqa.bench.common import peak_rss

EMBED_BATCH = 256  # rows per encoder call in index._embed


def run_child(task: str, args: dict, timeout: float = 3600) -> dict:
    """Run ``python -m mgqa.bench TASK ARGS`` in a fresh process; its last stdout line is JSON."""
    r = subprocess.run([sys.executable, "-m", "mgqa.bench", task, json.dumps(args)], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"bench child {task} failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _child_encode(args: dict) -> dict:
    """Encode the corpus's passages alone, as ``index.build`` batches them."""
    from mgqa.chunking import chunk_document
    from mgqa.embed import get_encoder
    from mgqa.index import embedding_texts
    from mgqa.ingest import read_paths

    docs = read_paths([Path(args["corpus"])]).documents
    chunks = [c for d in docs for c in chunk_document(d)]
    texts = embedding_texts(chunks, {d.id: d.title for d in docs})
    encoder = _ready(get_encoder(threads=0))
    t = time.perf_counter()
    for b in range(0, len(texts), EMBED_BATCH):  # as index._embed batches them
        encoder.encode(texts[b:b + EMBED_BATCH])
    return {"seconds": time.perf_counter() - t, "passages": len(texts), "peak": peak_rss()}


def _child_build(args: dict) -> dict:
    """`mgqa index build CORPUS --out OUT`, timed step by step; counts the passages re-embedded."""
    from mgqa import index
    from mgqa.embed import get_encoder

    encoder = _Counting(_ready(get_encoder(threads=0)))
    steps: dict[str, float] = {}
    t = time.perf_counter()
    with _timing(steps):
        built, _ = index.build_corpus([Path(args["corpus"])], Path(args["out"]), encoder)
    seconds = time.perf_counter() - t
    steps["other"] = seconds - sum(steps.values())
    return {"seconds": seconds, "passages": len(built.chunks), "documents": len(built.docs),
            "embedded": encoder.count, "peak": peak_rss(), "steps": steps}


@contextlib.contextmanager
def _timing(steps: dict[str, float]) -> Iterator[None]:
    """Add up the time spent in each stage of ``index.build_corpus`` (by wrapping the stages)."""
    from mgqa import ann, index, ingest, lexical

    stages = [("read", ingest, "read_paths"), ("chunk", index, "_chunks"),
              ("reuse", index, "_previous"), ("embed", index, "_embed"),
              ("bm25", lexical.Lexical, "build"), ("faiss", ann, "build_ann"), ("save", index, "save")]
    saved = [(owner, name, owner.__dict__[name]) for _, owner, name in stages]
    for step, owner, name in stages:
        steps[step] = 0.0
        setattr(owner, name, _timer(steps, step, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _timer(steps: dict[str, float], step: str, fn):
    def timed_call(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            steps[step] += time.perf_counter() - t

    return timed_call


def _ready(encoder):
    """A loaded encoder: its background start-up is not part of what is timed."""
    wait = getattr(encoder, "wait", None)
    return wait() if wait else encoder


class _Counting:
    def __init__(self, encoder):
        self._encoder = encoder
        self.model_id, self.dim, self.backend = encoder.model_id, encoder.dim, encoder.backend
        self.count = 0

    def encode(self, texts: list[str], *args, **kwargs) -> np.ndarray:
        self.count += len(texts)
        return self._encoder.encode(texts, *args, **kwargs)


CHILDREN = {"encode": _child_encode, "build": _child_build}

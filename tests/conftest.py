"""Shared fixtures: a deterministic fake embedder (exact, fast) and tiny indexes built with it;
for the browser tier, one headless Chromium per module and a recorder of its requests."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from mgqa.normalize import fold

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"


class FakeEncoder:
    """Bag-of-words hashed into 64 dimensions: identical token sets give cosine 1, disjoint 0.

    Exact and instant, so retrieval tests can assert precise rankings.
    """

    model_id = "test/fake-bow-64"
    dim = 64
    backend = "fake"

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=64):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for tok in re.findall(r"\w+", fold(t)):
                if len(tok) > 2:
                    out[i, zlib.crc32(tok.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@pytest.fixture
def fake():
    return FakeEncoder()


@pytest.fixture
def default_index(tmp_path, fake):
    """The packaged default corpus indexed with the fake encoder."""
    from mgqa.index import build_corpus

    index, _ = build_corpus([], tmp_path / "index", fake)
    return index


@pytest.fixture
def engine(default_index, fake):
    from mgqa.answer import Engine

    return Engine(default_index, fake)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser_util import CHROMIUM, CHROMIUM_ARGS

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def recorder():
    from browser_util import Recorder

    return Recorder()


@pytest.fixture
def new_page(browser, recorder):
    """Pages in fresh contexts (a viewport, a motion preference); none may reach beyond 127.0.0.1."""
    contexts = []

    def make(viewport=None, **options):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, **options)
        recorder.watch(context)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert recorder.outside == [], "requests left 127.0.0.1"


def ask_with_damaged_model(module, copy: Path, weights: str, question: str, monkeypatch):
    """``mgqa ask`` from the command line with ``module``'s shipped model (judge, tower, ...)
    read from ``copy`` with its ``weights`` file overwritten by zeros: the CLI's result."""
    from click.testing import CliRunner

    import mgqa.answer
    from mgqa.cli import main

    (copy / weights).write_bytes(b"\x00" * 100)
    monkeypatch.setattr(module, "data_dir", lambda: copy)
    monkeypatch.setattr(module, "_LOADED", [])
    monkeypatch.setattr(mgqa.answer, "_ENGINES", {})
    return CliRunner().invoke(main, ["ask", question])

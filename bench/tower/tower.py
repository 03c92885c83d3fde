"""The query tower's recipe (issue 21): an asymmetric question encoder, trained by train.py.

MiniLM's layers 5-6 are re-trained on the question side only, reading the shared layer-4 token
states the ONNX encoder already returns (as triage does); the passages, sentences and headings
keep the vectors the index holds, so nothing is re-embedded. The negatives of a question are its
own clinic's other passages: what a clinic's pages need told apart. Folds are the judge's
(bench/judge/train.py's fold_of: by specialty), so a clinic is only ever scored by a tower that
never saw it. At init the tower reproduces the encoder's question vector exactly (cosine 1.0).

train.py trains the fold towers and the shipped one (``make train-tower``); the runtime is
src/mgqa/tower.py.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from mgqa import settings  # noqa: E402
from mgqa.answer import Engine  # noqa: E402
from mgqa.embed import get_encoder, mean_pool  # noqa: E402
from mgqa.evaluate import _index_documents, answer_span, holds_answer, load_gold  # noqa: E402
from mgqa.index import build_corpus, open_index  # noqa: E402


def _script(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


jt = _script("judge_train", REPO / "bench/judge/train.py")  # its folds, pairs and training
tt = _script("triage_train", REPO / "bench/triage/train.py")  # its MiniLM layers

TAU, EPOCHS, LR, BATCH = 0.05, 3, 3e-5, 16


def load_bank(encoder) -> dict[str, dict]:
    """Each bank clinic's passage vectors and its answerable questions: shared token states, the
    base vector, the passages that hold the answer, and plain fusion's top 10."""
    cache = Path(settings.get("cache_dir")) / "judge" / "clinics"
    data = {}
    for qfile in sorted((REPO / "bench/clinics").glob("*/questions.jsonl")):
        name = qfile.parent.name
        build_corpus([qfile.parent / "pages"], cache / name, encoder)  # as make train-judge does; reused when cached
        index = open_index(cache / name, encoder)
        engine = Engine(index, encoder, judge=None)
        docs = {d.id: d for d in _index_documents(index)}
        items = []
        for it in load_gold(qfile):
            if it["kind"] != "answerable" or not it.get("answer"):
                continue
            span = answer_span(it, docs)
            if span is None:
                continue
            it = dict(it, span=span)
            pos = [r for r, c in enumerate(index.chunks) if holds_answer(c.doc_id, c.start, c.end, it, span)]
            if not pos:
                continue
            q = it["question"]  # follow-ups are read alone here: a simplification of the experiment
            st = encoder.encode_tokens([q])[0]
            qv = mean_pool(st.last)
            fused = [h.chunk_id for h in engine.rank(qv, q, 10, "hybrid")[0]]
            items.append(dict(q=q, shared=st.shared, qv=qv, pos=pos, fused=fused))
        data[name] = dict(P=np.asarray(index.vectors, np.float32), items=items, fold=jt.fold_of(name))
    return data


class Tower(torch.nn.Module):
    """Layers 5-6 from the bundled weights (triage's recipe, with the encoder's own erf GELU),
    mean pooling, unit length: the encoder's question side."""

    def __init__(self):
        super().__init__()
        self.layers = tt.minilm_layers((4, 5), approximate="none")

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        m = mask[..., None].float()
        v = (x * m).sum(1) / m.sum(1)
        return v / v.norm(dim=1, keepdim=True)


def pad(states: list[np.ndarray]):
    n = max(len(s) for s in states)
    x, mask = torch.zeros(len(states), n, 384), torch.zeros(len(states), n, dtype=torch.bool)
    for i, s in enumerate(states):
        x[i, :len(s)], mask[i, :len(s)] = torch.from_numpy(s), True
    return x, mask


def train_tower(data: dict, names: list[str], log=print) -> Tower:
    """InfoNCE of each question against its clinic's passages (temperature TAU), the answering
    passages as positives."""
    torch.manual_seed(0)
    rng = random.Random(0)
    tower = Tower()
    opt = torch.optim.AdamW(tower.parameters(), lr=LR, weight_decay=0.01)
    examples = [(n, i) for n in names for i in range(len(data[n]["items"]))]
    start = time.time()
    for epoch in range(EPOCHS):
        tower.train()
        rng.shuffle(examples)
        total = 0.0
        for b in range(0, len(examples), BATCH):
            batch = examples[b:b + BATCH]
            v = tower(*pad([data[n]["items"][i]["shared"] for n, i in batch]))
            loss = torch.zeros(())
            for j, (n, i) in enumerate(batch):
                s = (torch.from_numpy(data[n]["P"].copy()) @ v[j]) / TAU
                loss = loss - (torch.logsumexp(s[data[n]["items"][i]["pos"]], 0) - torch.logsumexp(s, 0))
            loss = loss / len(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        log(f"tower on {len(names)} clinics, epoch {epoch + 1}: loss {total / len(examples):.3f} ({time.time() - start:.0f}s)")
    return tower.eval()


def export(tower: Tower, encoder_id: str):
    """The trained tower as the runtime's ``QueryTower``: an ONNX graph from one question's shared
    token states to its unit vector, weights quantized to int8 (as triage's top). Judge training
    computes its features through this very graph."""
    import tempfile
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mgqa.tower import QueryTower

    class Vector(torch.nn.Module):
        def __init__(self, top):
            super().__init__()
            self.top = top

        def forward(self, states, mask):
            return self.top(states, mask > 0.5)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, small = Path(tmp) / "tower.onnx", Path(tmp) / "tower.int8.onnx"
        torch.onnx.export(Vector(tower).eval(), (torch.zeros(1, 8, 384), torch.ones(1, 8)), str(plain),
                          input_names=["states", "mask"], output_names=["vector"],
                          dynamic_axes={"states": {0: "n", 1: "tokens"}, "mask": {0: "n", 1: "tokens"}, "vector": {0: "n"}},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(plain), str(small), weight_type=QuantType.QInt8)
        return QueryTower(small.read_bytes(), encoder_id)


def setup():
    torch.set_num_threads(1)
    encoder = get_encoder()
    return encoder, load_bank(encoder)

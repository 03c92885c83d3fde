"""Train mgqa's emergency classifier from the labelled message bank, and say how well it holds.

    make train-triage          # = .venv/bin/python bench/triage/train.py  (about 1.5 hours on 2 cores)

The classifier is MiniLM's own top layers, fine-tuned: the question goes once through the
encoder's lower layers (shared with retrieval), then through the retrieval model's top layers
(the question's vector) *and* through fine-tuned copies of them that end in a softmax over the
red-flag categories and "benign". Only those copies and the head are trained here, from the
bundled weights, on ``bench/triage/bank.jsonl`` (q, kind, category, writer), plus the bank's
messages joined in pairs within each writer (``augment``: an emergency told alongside an ordinary
question is still an emergency), plus parts of messages whose label is known (``part_examples``):
the runtime scores the whole message and each of its clauses, and alarms on the highest.
``CANDIDATES.md`` lists the alternatives measured.

Validation is by writer: the writers are split into three groups, and each group's messages are
scored by a model trained only on the other two, so every figure is on wording the model never
saw. Those out-of-fold scores, computed by the runtime's own ONNX graph and batching, choose the operating
threshold recall-first; the model is then retrained on every writer and written to
``src/mgqa/data/triage_model.json`` + ``triage.onnx`` (int8 weights; sha256 in the JSON). The whole
run is logged to ``bench/triage/train.log``. Training is never part of `make test`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mgqa.embed import MAX_TOKENS, SHARED_LAYERS, model_path  # noqa: E402
from mgqa.triage import BENIGN, TriageModel, clause_spans, load_rules, match_rules, message_parts, span_tokens  # noqa: E402

DATA = ROOT / "src" / "mgqa" / "data"
TARGET_RECALL = 0.99  # recall first: the operating threshold is the highest that keeps this recall
# Three groups held out in turn. Writer wN is in group (N-1) % 3, so each fold holds out one of
# each batch of three writers (w13-w15 this clinic's combined messages, w16-w18 other clinics',
# w19-w22 the spent blind sets 1-4). The clinic bank's question writers ("c:<clinic>") are grouped
# by specialty, so a specialty's vocabulary is never both trained on and scored.
N_GROUPS = 3
CLINICS = ROOT / "bench" / "clinics"
EPOCHS, BATCH, LR, HEAD_LR, WARMUP = 4, 16, 1e-4, 1e-3, 30
# Feed-forward units kept in each trained layer (MiniLM has 1536): 768 cut triage's cost by a fifth
# (2.9 -> 2.3 ms over messages of several clauses); its held-out figures are in CANDIDATES.md.
FFN = 768
SEED = 0


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def specialty(writer: str) -> str | None:
    """A clinic bank writer's specialty ("c:dental-a" -> "dental"); None for the bank's own writers."""
    return writer[2:].rsplit("-", 1)[0] if writer.startswith("c:") else None


def specialties_of(rows: list[dict]) -> list[str]:
    return sorted({s for r in rows if (s := specialty(r["writer"]))})


def group_of(writer: str, specialties: list[str]) -> int:
    if (s := specialty(writer)) is not None:
        return specialties.index(s) % N_GROUPS
    return (int(writer[1:]) - 1) % N_GROUPS


def clinic_questions(per_clinic: int, seen: set[str], seed: int = SEED) -> list[dict]:
    """Ordinary patient questions to 44 other clinics (``bench/clinics``, written for answer
    quality by writers who never saw the triage bank): every one benign. ``per_clinic`` drawn at
    random from each clinic, answerable, out-of-scope and follow-up alike."""
    rng = random.Random(seed)
    out = []
    for qfile in sorted(CLINICS.glob("*/questions.jsonl")):
        qs = [json.loads(line)["question"] for line in qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
        qs = [q for q in dict.fromkeys(qs) if q not in seen]
        for q in rng.sample(qs, k=min(per_clinic, len(qs))):
            out.append({"q": q, "kind": "benign", "category": "clinic_question", "writer": f"c:{qfile.parent.name}"})
    return out


def read_bank(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, r in enumerate(rows, 1):
        missing = {"q", "kind", "category", "writer"} - set(r)
        if missing or r["kind"] not in ("emergency", "benign"):
            raise SystemExit(f"{path}:{i}: needs q, kind (emergency|benign), category, writer")
    return rows


# Benign kinds that read as an ordinary question, to join to an emergency in augmentation.
ASIDES = ("everyday", "risk_question", "pregnancy_ok", "mild_symptom", "clinic_question", "usual_migraine",
          "expected_effect")
# The benign kinds added for this clinic's own patients and for other clinics (listed on their own
# when flagged out of fold).
NEW_BENIGN = ("usual_migraine", "expected_effect", "clinic_question", "clinic_scary", "number_normal", "low_mood")


def augment(rows: list[dict], seed: int = SEED) -> list[dict]:
    """Patients mix an emergency with an ordinary question ("my dad's gone grey and sweaty...
    what dose should he take?"). Each emergency is joined, before or after, to an ordinary
    question by the same writer (still that emergency), and each benign message to another
    benign one (still benign), so that mixing and length alone say nothing. Pairs stay within
    one writer, so validation by writer never sees a held-out writer's words in training."""
    rng = random.Random(seed)
    out = []
    for w in sorted({r["writer"] for r in rows}):
        mine = [r for r in rows if r["writer"] == w]
        benign = [r for r in mine if r["kind"] == "benign"]
        asides = [r for r in benign if r["category"] in ASIDES] or benign
        for r in mine:
            other = rng.choice(asides if r["kind"] == "emergency" else benign)
            if other is not r:
                first, second = (r, other) if rng.random() < 0.5 else (other, r)
                q = f"{first['q']} {second['q']}"
                own = (0, len(first["q"])) if first is r else (len(first["q"]) + 1, len(q))
                out.append({**r, "q": q, "own": own})  # own: where r's words are in the pair
    # The clinic bank's writers wrote no emergencies: each of their questions is also joined to an
    # emergency from a writer of the same fold group (so validation stays clean), and the pair is
    # that emergency, told alongside another clinic's ordinary question.
    specialties = specialties_of(rows)
    emergencies = [r for r in rows if r["kind"] == "emergency"]
    for r in rows:
        if not r["writer"].startswith("c:"):
            continue
        g = group_of(r["writer"], specialties)
        e = rng.choice([x for x in emergencies if group_of(x["writer"], specialties) == g])
        first, second = (e, r) if rng.random() < 0.5 else (r, e)
        q = f"{first['q']} {second['q']}"
        own = (0, len(first["q"])) if first is e else (len(first["q"]) + 1, len(q))
        out.append({**e, "writer": r["writer"], "q": q, "own": own})
    return out


def part_examples(rows: list[dict], states: list[np.ndarray], offsets: list[np.ndarray],
                  rng: random.Random) -> tuple[list[np.ndarray], list[str]]:
    """Parts of messages, cut from the whole message's states as the runtime cuts them, with a
    label known for certain: a benign message's clauses are benign; in a joined pair, the
    emergency's own words are that emergency and a clause of the ordinary question is benign.
    (A single emergency message's clauses have no known label, so none is taken.) At most two
    parts a message, so parts do not outnumber whole messages."""
    xs, ys = [], []
    for r, st, off in zip(rows, states, offsets, strict=True):
        spans = clause_spans(r["q"])
        if r["kind"] == "emergency":
            if "own" not in r:
                continue
            own = span_tokens(off, *r["own"])
            others = [span_tokens(off, a, b) for a, b in spans if b <= r["own"][0] or a >= r["own"][1]]
            others = [p for p in others if len(p) > 2]
            chosen = [(own, label(r))] if len(own) > 2 else []
            chosen += [(p, BENIGN) for p in rng.sample(others, k=min(1, len(others)))]
        else:
            parts = message_parts(r["q"], off)
            chosen = [(p, BENIGN) for p in rng.sample(parts, k=min(2, len(parts)))]
        for p, lab in chosen:
            xs.append(st[p])
            ys.append(lab)
    return xs, ys


# Surface features that should say nothing about the label. Where one is far commoner in one kind,
# the bank teaches it as a cue (the last bank: "mentions magnesium" read as benign), so each run
# prints their shares for the writers to even out.
CUES = {"asks a question (?)": r"\?", "mentions magnesium": r"magnesium|\bmag\b|epsom",
        "mentions an infusion or drip": r"infusion|\bdrip\b|\biv\b", "mentions migraine": r"migraine",
        "under 12 words": None}


def cue_shares(rows: list[dict]) -> list[tuple[str, float, float]]:
    """(cue, share of emergencies with it, share of benign messages with it)."""
    import re

    out = []
    for name, pattern in CUES.items():
        def has(r: dict, pattern=pattern) -> bool:
            return len(r["q"].split()) < 12 if pattern is None else bool(re.search(pattern, r["q"], re.IGNORECASE))
        em = [has(r) for r in rows if r["kind"] == "emergency"]
        be = [has(r) for r in rows if r["kind"] == "benign"]
        out.append((name, sum(em) / max(len(em), 1), sum(be) / max(len(be), 1)))
    return out


def label(row: dict) -> str:
    return row["category"] if row["kind"] == "emergency" else BENIGN


# ------------------------------------------------------------------ the shared lower layers


def shared_states(texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each text's token states after the encoder's shared lower layers, and its tokens'
    character offsets, as the runtime's ONNX encoder computes them (cached by content)."""
    from mgqa import settings
    from mgqa.embed import get_encoder

    key = hashlib.sha256(("\n".join(texts) + f"|{SHARED_LAYERS}|offsets").encode()).hexdigest()[:16]
    cache = Path(settings.get("cache_dir")) / "triage" / f"states-{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return [z[f"s{i}"] for i in range(len(texts))], [z[f"o{i}"] for i in range(len(texts))]
    encoded = get_encoder("onnx", threads=0).encode_tokens(texts)
    states, offsets = [s.shared for s in encoded], [s.offsets for s in encoded]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"s{i}": s for i, s in enumerate(states)}, **{f"o{i}": o for i, o in enumerate(offsets)})
    return states, offsets


# ------------------------------------------------------------------ the trainable top (torch)


def minilm_layers(numbers, approximate: str = "tanh"):
    """MiniLM's transformer layers ``numbers`` (0-based) from the bundled weights, as trainable
    torch modules over (token states, mask); GELU in its tanh form unless ``approximate="none"``
    (the encoder's own), LayerNorm eps 1e-12. bench/tower/ uses them too."""
    import torch
    from safetensors.numpy import load_file

    weights = load_file(str(model_path() / "model.safetensors"))
    prefix = next(k for k in weights if ".layer.0." in k).split(".layer.0.")[0] + ".layer."
    hf = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "o": "attention.output.dense", "ln1": "attention.output.LayerNorm", "f1": "intermediate.dense",
          "f2": "output.dense", "ln2": "output.LayerNorm"}

    class Layer(torch.nn.Module):
        def __init__(self, n: int):
            super().__init__()
            self.q, self.k, self.v, self.o = (torch.nn.Linear(384, 384) for _ in range(4))
            self.ln1, self.ln2 = torch.nn.LayerNorm(384, eps=1e-12), torch.nn.LayerNorm(384, eps=1e-12)
            self.f1, self.f2 = torch.nn.Linear(384, 1536), torch.nn.Linear(1536, 384)
            self.drop = torch.nn.Dropout(0.1)
            with torch.no_grad():
                for part, name in hf.items():
                    module = getattr(self, part)
                    w = weights[f"{prefix}{n}.{name}.weight"]
                    module.weight.copy_(torch.tensor(w.copy()))
                    module.bias.copy_(torch.tensor(weights[f"{prefix}{n}.{name}.bias"].copy()))

        def forward(self, x, mask):
            b, n, d = x.shape
            heads = lambda z: z.view(b, n, 12, d // 12).transpose(1, 2)  # noqa: E731
            att = (heads(self.q(x)) @ heads(self.k(x)).transpose(-1, -2)) / (d // 12) ** 0.5
            att = att.masked_fill(~mask[:, None, None, :], -1e9).softmax(-1)
            ctx = (self.drop(att) @ heads(self.v(x))).transpose(1, 2).reshape(b, n, d)
            x = self.ln1(x + self.drop(self.o(ctx)))
            ff = self.f2(torch.nn.functional.gelu(self.f1(x), approximate=approximate))
            return self.ln2(x + self.drop(ff))

    return torch.nn.ModuleList(Layer(n) for n in numbers)


def torch_model(n_classes: int):
    """The top layers, initialised from the bundled weights, with a fresh head over the pooled
    mean, max and first-token states (GELU in its tanh form, LayerNorm eps 1e-12)."""
    import torch

    class Top(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = minilm_layers(range(SHARED_LAYERS, 6))
            self.head = torch.nn.Linear(3 * 384, n_classes)
            self.drop = torch.nn.Dropout(0.1)

        def forward(self, x, mask):
            for layer in self.layers:
                x = layer(x, mask)
            m = mask[..., None].float()
            unit = lambda z: z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)  # noqa: E731
            mean = (x * m).sum(1) / m.sum(1)
            top = x.masked_fill(~mask[..., None], -1e4).max(1).values
            return self.head(self.drop(torch.cat([unit(mean), unit(top), unit(x[:, 0])], 1)))

    return Top()


def prune_ffn(net, states: list[np.ndarray], width: int, sample: int = 2000) -> None:
    """Keep each layer's ``width`` feed-forward units that matter most on these messages (mean
    |GELU activation| times the norm of the unit's output weights), before fine-tuning: the
    feed-forward block is two thirds of a layer's arithmetic, and triage is paid on every message."""
    import torch

    rng = random.Random(SEED)
    idx = rng.sample(range(len(states)), min(sample, len(states)))
    with torch.no_grad():
        xs = [torch.from_numpy(states[i])[None] for i in idx]
        for layer in net.layers:
            act = torch.zeros(layer.f1.out_features)

            def record(_module, _inputs, out, act=act):  # the units' activations, as the layer runs
                act.add_(torch.nn.functional.gelu(out, approximate="tanh").abs().mean((0, 1)))

            hook = layer.f1.register_forward_hook(record)
            xs = [layer(x, torch.ones(x.shape[:2], dtype=torch.bool)) for x in xs]  # the next layer's inputs
            hook.remove()
            keep_units(layer, torch.argsort(act * layer.f2.weight.norm(dim=0), descending=True)[:width].sort().values)


def keep_units(layer, keep) -> None:
    """Cut a layer's feed-forward block down to the units ``keep`` (indices into its 1536)."""
    import torch

    f1, f2 = torch.nn.Linear(384, len(keep)), torch.nn.Linear(len(keep), 384)
    with torch.no_grad():
        f1.weight.copy_(layer.f1.weight[keep])
        f1.bias.copy_(layer.f1.bias[keep])
        f2.weight.copy_(layer.f2.weight[:, keep])
        f2.bias.copy_(layer.f2.bias)
    layer.f1, layer.f2 = f1, f2


def train(states: list[np.ndarray], labels: list[str], classes: list[str], say, ffn: int = FFN) -> TriageModel:
    """Fine-tune the top layers and head on these messages (their feed-forward blocks pruned to
    ``ffn`` units first when below MiniLM's 1536); return the runtime's model."""
    import torch

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    net = torch_model(len(classes))
    net.eval()  # no dropout while choosing units
    if ffn < 1536:
        prune_ffn(net, states, ffn)
    y = torch.tensor([classes.index(lab) for lab in labels])
    # Batches of similar length waste little on padding; their order is shuffled each epoch.
    order = sorted(range(len(states)), key=lambda i: len(states[i]))
    batches = [order[b:b + BATCH] for b in range(0, len(order), BATCH)]
    steps = EPOCHS * len(batches)
    opt = torch.optim.AdamW([{"params": net.layers.parameters(), "lr": LR},
                             {"params": net.head.parameters(), "lr": HEAD_LR}], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP) * max(0.0, 1 - s / steps))
    start = time.time()
    for epoch in range(EPOCHS):
        net.train()
        rng.shuffle(batches)
        total = 0.0
        for idx in batches:
            x, mask = _padded(states, idx)
            loss = torch.nn.functional.cross_entropy(net(x, mask), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        say(f"  epoch {epoch + 1}/{EPOCHS}: loss {total / len(states):.4f} ({time.time() - start:.0f} s)")
    return export(net, classes)


def _padded(states: list[np.ndarray], idx: list[int]):
    import torch

    n = max(len(states[i]) for i in idx)
    x = torch.zeros(len(idx), n, 384)
    mask = torch.zeros(len(idx), n, dtype=torch.bool)
    for j, i in enumerate(idx):
        x[j, :len(states[i])] = torch.from_numpy(states[i])
        mask[j, :len(states[i])] = True
    return x, mask


def export(net, classes: list[str]) -> TriageModel:
    """The trained top as the runtime's model: an ONNX graph from shared token states (one
    message, no padding) to class probabilities, its weights quantized to int8. Validation scores
    this very graph, so its figures are the runtime's."""
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Probabilities(torch.nn.Module):
        def __init__(self, top):
            super().__init__()
            self.top = top

        def forward(self, states, mask):
            return self.top(states, mask > 0.5).softmax(1)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, small = Path(tmp) / "top.onnx", Path(tmp) / "top.int8.onnx"
        torch.onnx.export(Probabilities(net).eval(), (torch.zeros(2, 8, 384), torch.ones(2, 8)), str(plain),
                          input_names=["states", "mask"], output_names=["probabilities"],
                          dynamic_axes={"states": {0: "views", 1: "tokens"}, "mask": {0: "views", 1: "tokens"},
                                        "probabilities": {0: "views"}},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(plain), str(small), weight_type=QuantType.QInt8)
        return TriageModel(small.read_bytes(), classes, threshold=0.5)


# ------------------------------------------------------------------ validation


def operating_threshold(scores: np.ndarray, is_em: np.ndarray, target: float = TARGET_RECALL) -> float:
    """The highest threshold whose recall is at least ``target`` (recall first)."""
    em = np.sort(scores[is_em])
    return float(em[int(np.floor((1 - target) * len(em)))])


def summary(flagged: np.ndarray, is_em: np.ndarray) -> dict:
    return {"recall": float(flagged[is_em].mean()), "false_alarms": float(flagged[~is_em].mean())}


def per_group(rows: list[dict], flagged: np.ndarray, key: str) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r, f in zip(rows, flagged, strict=True):
        g = out[(r["kind"], r[key])]
        g[0] += int(f)
        g[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=Path, default=HERE / "bank.jsonl")
    ap.add_argument("--log", type=Path, default=HERE / "train.log")
    ap.add_argument("--no-write", action="store_true", help="validate only; leave the shipped model alone")
    ap.add_argument("--no-augment", dest="augment", action="store_false",
                    help="train on the bank's messages only, not also on joined pairs (see augment)")
    ap.add_argument("--no-parts", dest="parts", action="store_false",
                    help="train on whole messages only, not also on their clauses (see part_examples)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two trainings share 2 cores)")
    ap.add_argument("--whole-only", dest="score_parts", action="store_false",
                    help="ship a model that reads the whole message only, not also each clause")
    ap.add_argument("--ffn", type=int, default=FFN, metavar="UNITS",
                    help="feed-forward units kept in each trained layer (MiniLM has 1536; fewer cost less per message)")
    ap.add_argument("--data", type=Path, default=DATA, help="where the final model is written")
    ap.add_argument("--clinic-questions", type=int, default=40, metavar="N",
                    help="also train on N ordinary questions from each clinic of bench/clinics (benign; 0: none)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    log = io.StringIO()

    def say(text: str = "") -> None:
        print(text, flush=True)
        log.write(text + "\n")

    rows = read_bank(args.bank)
    rows += clinic_questions(args.clinic_questions, {r["q"] for r in rows}) if args.clinic_questions else []
    specialties = specialties_of(rows)
    groups = [{w for w in {r["writer"] for r in rows} if group_of(w, specialties) == g} for g in range(N_GROUPS)]
    classes = sorted({r["category"] for r in rows if r["kind"] == "emergency"}) + [BENIGN]
    labels = [label(r) for r in rows]
    is_em = np.array([r["kind"] == "emergency" for r in rows])
    say(f"# triage training, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    say(f"bank {_shown(args.bank)}: {len(rows)} messages, {int(is_em.sum())} emergencies in "
        f"{len(classes) - 1} categories, {int((~is_em).sum())} benign; writers "
        + ", ".join(f"{w} {n}" for w, n in sorted(Counter(r['writer'] for r in rows).items()) if not w.startswith("c:")))
    clinic_writers = Counter(r["writer"] for r in rows if specialty(r["writer"]))
    say(f"plus {sum(clinic_writers.values())} ordinary questions from {len(clinic_writers)} "
        f"clinics of bench/clinics ({args.clinic_questions} each), benign, grouped by specialty")
    say(f"model: MiniLM layers {SHARED_LAYERS + 1}-6 fine-tuned over the shared layers 1-{SHARED_LAYERS}, "
        f"feed-forward {args.ffn} units, head on mean+max+first-token; {EPOCHS} epochs, batch {BATCH}, lr {LR} (head {HEAD_LR}), "
        f"max {MAX_TOKENS} tokens")
    say("\n| surface cue | emergencies | benign |\n|---|---|---|")
    for name, em, be in cue_shares(rows):
        say(f"| {name} | {em:.2f} | {be:.2f} |")
    states, offsets = shared_states([r["q"] for r in rows])
    pairs = augment(rows)
    pair_states, pair_offsets = shared_states([r["q"] for r in pairs])
    say(f"joined pairs: {len(pairs)} ({'trained on and ' if args.augment else ''}scored as a second check)")
    parts_of = [message_parts(r["q"], o) for r, o in zip(rows, offsets, strict=True)]
    pair_parts = [message_parts(r["q"], o) for r, o in zip(pairs, pair_offsets, strict=True)]
    say(f"clauses: {sum(len(p) > 0 for p in parts_of)} of the bank's messages have two or more "
        f"({sum(map(len, parts_of))} parts); parts {'trained on' if args.parts else 'not trained on'}")

    def training_set(keep) -> tuple[list[np.ndarray], list[str]]:
        """The messages (and, as chosen, their pairs and parts) of the writers ``keep`` accepts."""
        idx = [i for i, r in enumerate(rows) if keep(r["writer"])]
        pj = [j for j, r in enumerate(pairs) if keep(r["writer"])] if args.augment else []
        xs = [states[i] for i in idx] + [pair_states[j] for j in pj]
        ys = [labels[i] for i in idx] + [label(pairs[j]) for j in pj]
        if args.parts:
            rng = random.Random(SEED)
            for some, st, off in (([rows[i] for i in idx], [states[i] for i in idx], [offsets[i] for i in idx]),
                                  ([pairs[j] for j in pj], [pair_states[j] for j in pj], [pair_offsets[j] for j in pj])):
                px, py = part_examples(some, st, off, rng)
                xs, ys = xs + px, ys + py
        return xs, ys

    shown = [sorted((w for w in g if not w.startswith("c:")), key=lambda w: int(w[1:])) for g in groups]
    say(f"\n## validation by writer group (held out: {', '.join('+'.join(g) for g in shown)}, "
        "each with a third of the clinic specialties)")
    # Out of fold, each message's emergency probability read two ways: the whole message alone,
    # and the highest over the whole and its clauses (what the runtime does when score_parts).
    whole, best = np.zeros(len(rows)), np.zeros(len(rows))
    pair_whole, pair_best = np.zeros(len(pairs)), np.zeros(len(pairs))
    for group, names in zip(groups, shown, strict=True):
        xs, ys = training_set(lambda w, g=group: w not in g)
        say(f"fold: training on {len(xs)} examples, holding out {'+'.join(names)} and their clinics")
        model = train(xs, ys, classes, say, args.ffn)
        for i, r in enumerate(rows):
            if r["writer"] in group:
                alarms = 1 - model.probabilities(states[i], parts_of[i])[:, classes.index(BENIGN)]
                whole[i], best[i] = alarms[0], alarms.max()
        for j, r in enumerate(pairs):
            if r["writer"] in group:
                alarms = 1 - model.probabilities(pair_states[j], pair_parts[j])[:, classes.index(BENIGN)]
                pair_whole[j], pair_best[j] = alarms[0], alarms.max()
    rules = load_rules()
    by_rule = np.array([match_rules(rules, r["q"]) is not None for r in rows])
    pair_em = np.array([r["kind"] == "emergency" for r in pairs])
    say("\n### whole message alone against the highest of the whole and its clauses, out of fold")
    say(f"| scored | threshold (recall >= {TARGET_RECALL}) | recall | false alarms | with rules: recall | "
        "false alarms | joined pairs: recall | false alarms |\n|---|---|---|---|---|---|---|---|")
    for name, sc, psc in (("whole", whole, pair_whole), ("whole + clauses", best, pair_best)):
        tt = operating_threshold(sc, is_em)
        a, b, c = summary(sc >= tt, is_em), summary((sc >= tt) | by_rule, is_em), summary(psc >= tt, pair_em)
        say(f"| {name} | {tt:.4f} | {a['recall']:.3f} | {a['false_alarms']:.3f} | {b['recall']:.3f} | "
            f"{b['false_alarms']:.3f} | {c['recall']:.3f} | {c['false_alarms']:.3f} |")
    scores, pair_scores = (best, pair_best) if args.score_parts else (whole, pair_whole)
    t = operating_threshold(scores, is_em)
    flagged = (scores >= t) | by_rule
    s_model, s_both = summary(scores >= t, is_em), summary(flagged, is_em)
    say(f"\nshipped reading: {'whole + clauses' if args.score_parts else 'whole'}; operating threshold {t:.4f} "
        f"(recall >= {TARGET_RECALL} out of fold, model alone)")
    say(f"model alone: recall {s_model['recall']:.3f}, false alarms {s_model['false_alarms']:.3f}")
    say(f"with the rule floor: recall {s_both['recall']:.3f}, false alarms {s_both['false_alarms']:.3f} "
        f"(rules alone: recall {by_rule[is_em].mean():.3f}, false alarms {by_rule[~is_em].mean():.3f})")
    s_pairs = summary(pair_scores >= t, pair_em)
    say(f"held-out joined pairs at that threshold, model alone: recall {s_pairs['recall']:.3f}, "
        f"false alarms {s_pairs['false_alarms']:.3f}")
    say("\n### per category, out of fold, model + rules (flagged / messages)")
    for (kind, cat), (f, n) in per_group(rows, flagged, "category").items():
        say(f"- {kind} {cat}: {f}/{n} = {f / n:.2f}")
    say("\n### per held-out writer, model + rules")
    for w in sorted({r["writer"] for r in rows if not r["writer"].startswith("c:")}, key=lambda w: int(w[1:])):
        m = np.array([r["writer"] == w for r in rows])
        ws = summary(flagged[m], is_em[m])
        say(f"- {w}: recall {ws['recall']:.3f}, false alarms {ws['false_alarms']:.3f}")
    m = np.array([r["writer"].startswith("c:") for r in rows])
    if m.any():
        say(f"- the clinics' {int(m.sum())} ordinary questions: false alarms {flagged[m].mean():.3f}")
    say("\n### threshold trade-off, out of fold, model + rules")
    say("| threshold | recall | false alarms |\n|---|---|---|")
    for q in sorted({round(float(v), 4) for v in [t, *np.quantile(scores[is_em], [0, .005, .01, .02, .05, .1])]}):
        ss = summary((scores >= q) | by_rule, is_em)
        say(f"| {q:.4f} | {ss['recall']:.3f} | {ss['false_alarms']:.3f} |")
    say("\n### missed emergencies, out of fold")
    for r, sc, f in zip(rows, scores, flagged, strict=True):
        if r["kind"] == "emergency" and not f:
            say(f"- [{r['writer']} {r['category']}] {sc:.4f} {r['q'][:160]!r}")
    say("\n### false alarms on the new benign kinds, out of fold")
    for r, sc, f in zip(rows, scores, flagged, strict=True):
        if r["kind"] == "benign" and f and r["category"] in NEW_BENIGN:
            say(f"- [{r['writer']} {r['category']}] {sc:.4f} {r['q'][:160]!r}")

    if not args.no_write:
        say("\n## final model, trained on every writer")
        xs, ys = training_set(lambda w: True)
        final = train(xs, ys, classes, say, args.ffn).with_threshold(t)
        meta = final.save(args.data, recipe={
            "bank": _shown(args.bank), "bank_sha256": hashlib.sha256(args.bank.read_bytes()).hexdigest(),
            "messages": len(rows), "augment": args.augment, "parts": args.parts, "score_parts": args.score_parts,
            "ffn": args.ffn, "epochs": EPOCHS, "batch": BATCH, "lr": LR, "head_lr": HEAD_LR, "seed": SEED,
            "validation": {"method": "by writer group", "groups": shown, "clinic_questions": args.clinic_questions,
                           "target_recall": TARGET_RECALL, "model_alone": s_model, "with_rules": s_both,
                           "joined_pairs": s_pairs},
            "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        say(f"wrote {_shown(args.data / 'triage_model.json')} (weights sha256 {meta['weights_sha256'][:16]}…)")
    args.log.write_text(log.getvalue(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

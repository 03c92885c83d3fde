"""PILOT: does a cheap cross-encoder beat the feature judge on held-out clinics?

    nice -n 19 .venv/bin/python bench/cross/pilot.py [--smoke] [--per-clinic A,O] [--epochs E]

Model: the question and each passage go separately through MiniLM's lower 4 layers (the
runtime's "shared" states, layer-4 output; passages' could be cached per corpus), passages capped
at PASSAGE_CAP tokens and questions at QUESTION_CAP; [question ; passage + segment vector] then go
jointly through MiniLM layers 5-6 (``minilm_layers`` of bench/triage/train.py, initialised from
the bundled weights); head: linear on [question's first token ; mean over the pair] -> a score.

Data: the clinic bank's fused top-10 candidates, labelled exactly as bench/judge/train.py's
``clinic_pairs`` labels them (its own functions, with the query tower of the fold that never saw
the clinic), plus bench/clinics/next/ (6 clinics of specialties outside the bank, read by the
shipped tower: trained on in every fold, never scored). Folds: ``fold_of`` (a specialty's clinics
held out together). Never the blind corpora, never MedQuAD dev questions.

Loss per question: listwise softmax over its 10 candidates against the gold one(s) (answerable
questions with an answering candidate), plus binary cross-entropy on every pair with a learned
bias (out-of-scope questions: every candidate 0; answerable: gold 1, others 0).

Held-out figures per fold and pooled: Hit@1 of fused order, of the cross score, and of cross
score + fused rank combined by a logistic regression fitted on scores of training-fold questions
the model did not train on (the subsample's leftovers; "calibration" questions); AUC of the max
cross score (answerable vs out-of-scope); at the threshold answering 0.90 of the calibration
answerable questions: answered-rate and abstention recall on the held-out fold. Scratch in
/work/cross_scratch; log: bench/cross/pilot.log (tee).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

for k, v in {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
             "GRADIO_ANALYTICS_ENABLED": "False"}.items():
    os.environ.setdefault(k, v)

REPO = Path(__file__).resolve().parents[2]
SCRATCH = Path("/work/cross_scratch")
sys.path.insert(0, str(REPO / "src"))
QUESTION_CAP, PASSAGE_CAP, K = 48, 160, 10
SEED = 0


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


judge_train = _load("judge_train", REPO / "bench" / "judge" / "train.py")
triage_train = _load("triage_train", REPO / "bench" / "triage" / "train.py")


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# ------------------------------------------------------------------ candidates (as the pipeline sees them)


def candidates(encoder) -> dict[str, dict]:
    """Per clinic: its questions' contextual query, kind, fused top-10 passages (embedding texts)
    and labels. Built by judge_train.clinic_pairs with its ``pairs`` swapped for one that also
    keeps the chunks (the same calls, the same labels)."""
    store = SCRATCH / "candidates.pkl"
    if store.exists():
        return pickle.loads(store.read_bytes())
    from mgqa import settings
    from mgqa.answer import _clean_history, contextual_query, validate
    from mgqa.index import embedding_texts
    from mgqa.judge import CANDIDATES
    from mgqa.retrieve import search

    assert CANDIDATES == K

    def pairs(engine, items, label_fn, group):
        index = engine.index
        titles = {d["id"]: d.get("title") or "" for d in index.manifest["documents"]}
        texts = embedding_texts(list(index.chunks), titles)
        asked, plain = engine.question_vectors([validate(it["question"]) for it in items])
        out = {"query": [], "kind": [], "passages": [], "y": [], "id": []}
        for it, now, own in zip(items, asked, plain, strict=True):
            q = validate(it["question"])
            turns = _clean_history(it.get("history"))
            query = contextual_query(q, turns)
            vec, _ = engine.query_vectors(now, own, q, turns)
            hits = search(index, vec, query, CANDIDATES)
            assert len(hits) == K, (group, len(hits))
            out["query"].append(query)
            out["kind"].append(it["kind"])
            out["id"].append(it.get("id"))
            out["passages"].append([texts[h.chunk_id] for h in hits])
            out["y"].append([label_fn(it, h.chunk_id) for h in hits])
        out["y"] = np.asarray(out["y"], np.float32)
        return out

    real_cache = Path(settings.get("cache_dir"))
    tower, asking = judge_train.fold_towers(encoder, real_cache)
    log(f"query tower {tower.sha256[:16] if tower else None}")
    judge_train.pairs = pairs
    t = time.time()
    bank = judge_train.clinic_pairs(encoder, SCRATCH / "cache", asking)
    log(f"bank: {len(bank)} clinics ({time.time() - t:.0f} s)")
    # bench/clinics/next: specialties outside the bank; the shipped tower never saw them
    judge_train.CLINICS = REPO / "bench" / "clinics" / "next"
    nxt = judge_train.clinic_pairs(encoder, SCRATCH / "cache", (lambda name: tower) if tower else None)
    judge_train.CLINICS = REPO / "bench" / "clinics"
    log(f"next: {len(nxt)} clinics")
    # the labels must be the judge's own: compare with its cached pairs
    cached = real_cache / "judge" / f"pairs-tower-{tower.sha256[:12]}-clinics.npz" if tower else None
    if cached and cached.exists():
        with np.load(cached) as z:
            same = all(np.array_equal(z[f"{n}/y"], d["y"].ravel()) for n, d in bank.items())
        log(f"labels identical to the judge's cached clinic pairs: {same}")
    out = {"bank": bank, "next": nxt}
    store.write_bytes(pickle.dumps(out))
    return out


def token_states(encoder, texts: list[str], cap: int, name: str) -> dict[str, np.ndarray]:
    """Shared (layer-4) states of each distinct text, capped at ``cap`` tokens (the first cap-1
    and the final [SEP]), float16 to keep memory small; cached in scratch."""
    store = SCRATCH / f"states-{name}.pkl"
    have = pickle.loads(store.read_bytes()) if store.exists() else {}
    todo = sorted({t for t in texts if t not in have})
    for b in range(0, len(todo), 64):
        for t, s in zip(todo[b:b + 64], encoder.encode_tokens(todo[b:b + 64]), strict=True):
            st = s.shared
            if len(st) > cap:
                st = np.concatenate([st[:cap - 1], st[-1:]])
            have[t] = st.astype(np.float16)
    if todo:
        store.write_bytes(pickle.dumps(have))
    return have


# ------------------------------------------------------------------ model


PRIOR = False  # --prior: add w * cos(mean of the question's part, mean of the passage's part) to the score


def make_model():
    import torch

    class Cross(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = triage_train.minilm_layers([4, 5])
            self.segment = torch.nn.Parameter(torch.zeros(384))
            self.head = torch.nn.Linear(2 * 384, 1)
            self.bias = torch.nn.Parameter(torch.tensor(-2.0))  # the BCE's own offset
            self.prior = torch.nn.Parameter(torch.tensor(10.0)) if PRIOR else None
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, q, p, pmask):
            """q: (nq, 384) one question's states; p: (n, L, 384) its candidates', pmask (n, L) -> (n,)"""
            n = p.shape[0]
            x = torch.cat([q.expand(n, -1, -1), p + self.segment], 1)
            mask = torch.cat([torch.ones(n, q.shape[0], dtype=torch.bool), pmask], 1)
            for layer in self.layers:
                x = layer(x, mask)
            m = mask[..., None].float()
            mean = (x * m).sum(1) / m.sum(1)
            out = self.head(torch.cat([x[:, 0], mean], 1)).squeeze(-1)
            if self.prior is not None:  # the two parts' mean states start as the bi-encoder's vectors
                nq = q.shape[0]
                a = x[:, :nq].mean(1)
                b = (x[:, nq:] * m[:, nq:]).sum(1) / m[:, nq:].sum(1)
                out = out + self.prior * torch.nn.functional.cosine_similarity(a, b, dim=-1)
            return out

    return Cross()


def batch_of(states_q, states_p, query: str, passages: list[str]):
    import torch

    q = torch.from_numpy(states_q[query].astype(np.float32))
    ps = [states_p[t] for t in passages]
    L = max(len(s) for s in ps)
    p = torch.zeros(len(ps), L, 384)
    pm = torch.zeros(len(ps), L, dtype=torch.bool)
    for i, s in enumerate(ps):
        p[i, :len(s)] = torch.from_numpy(s.astype(np.float32))
        pm[i, :len(s)] = True
    return q, p, pm


def train(rows: list[tuple], states_q, states_p, epochs: float, budget_s: float | None = None):
    """rows: (query, passages, y, answerable). Batch = one question."""
    import torch

    torch.manual_seed(SEED)
    model = make_model()
    body = [p for n, p in model.named_parameters() if n.startswith("layers.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("layers.")]
    opt = torch.optim.AdamW([{"params": body, "lr": 5e-5}, {"params": rest, "lr": 1e-3}], weight_decay=0.01)
    rng = np.random.default_rng(SEED)
    steps = int(round(epochs * len(rows)))
    order = np.concatenate([rng.permutation(len(rows)) for _ in range(math.ceil(epochs) or 1)])[:steps]
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / steps) if s >= warm
                                              else (s + 1) / warm)
    model.train()
    t0, run = time.time(), []
    for step, i in enumerate(order):
        query, passages, y, _ = rows[i]
        q, p, pm = batch_of(states_q, states_p, query, passages)
        s = model(q, p, pm)
        yt = torch.from_numpy(y)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(s + model.bias, yt)
        if y.any():
            loss = loss - (torch.log_softmax(s, 0) * yt / yt.sum()).sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if (step + 1) % 200 == 0:
            log(f"    step {step + 1}/{steps}, loss {np.mean(run[-100:]):.3f}, {(time.time() - t0) / (step + 1):.2f} s/question")
        if budget_s and time.time() - t0 > budget_s:
            log(f"    stopped at step {step + 1}/{steps}: time budget {budget_s:.0f} s")
            break
    log(f"    trained {len(run)} questions, {(time.time() - t0) / max(len(run), 1):.2f} s/question, "
        f"last loss {np.mean(run[-100:]):.3f}")
    model.eval()
    return model


def score(model, rows, states_q, states_p) -> np.ndarray:
    import torch

    out = np.zeros((len(rows), K), np.float32)
    with torch.no_grad():
        for i, (query, passages, _, _) in enumerate(rows):
            out[i] = (model(*batch_of(states_q, states_p, query, passages)) + model.bias).numpy()
    return out


# ------------------------------------------------------------------ measures


def hit1(scores: np.ndarray | None, y: np.ndarray, answerable: np.ndarray) -> float:
    """Over every answerable question (no answering candidate in the top 10 counts as a miss),
    as bench/judge/train.log's "ranking alone"."""
    if scores is None:
        first = y[:, 0]
    else:
        first = y[np.arange(len(y)), np.argmax(scores, 1)]  # ties: argmax takes the earlier (fused) one
    return float((first[answerable] > 0).mean())


def auc(p: np.ndarray, positive: np.ndarray) -> float:
    return judge_train.auc(p, positive)


def combo_features(scores: np.ndarray) -> np.ndarray:
    """Per candidate: cross score, 1/fused rank, log fused rank, the cross score minus the
    question's max."""
    r = np.arange(1, K + 1, dtype=np.float32)
    f = np.stack([scores, np.broadcast_to(1 / r, scores.shape), np.broadcast_to(np.log(r), scores.shape),
                  scores - scores.max(1, keepdims=True)], -1)
    return f.reshape(-1, 4)


def fit_combo(scores: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    F = combo_features(scores)
    return LogisticRegression(C=1.0, max_iter=1000).fit(F, (y.ravel() > 0).astype(int))


def combo_scores(lr, scores: np.ndarray) -> np.ndarray:
    return lr.decision_function(combo_features(scores)).reshape(scores.shape)


def figures(s, y, ans, lr, thr) -> dict:
    top = s.max(1)
    said = top >= thr
    return {"n_ans": int(ans.sum()), "n_oos": int((~ans).sum()),
            "fused": hit1(None, y, ans), "cross": hit1(s, y, ans), "combo": hit1(combo_scores(lr, s), y, ans),
            "auc": auc(top, ans), "answered": float(said[ans].mean()), "abst": float((~said[~ans]).mean())}


def fmt(name: str, r: dict) -> str:
    return (f"{name:<22} ans {r['n_ans']:>4} oos {r['n_oos']:>4} | Hit@1 fused {r['fused']:.3f}  cross {r['cross']:.3f}  "
            f"cross+rank {r['combo']:.3f} | AUC {r['auc']:.3f} | @thr answered {r['answered']:.3f}  "
            f"abstention recall {r['abst']:.3f}")


def timing(model, states_q, states_p, rows, repeats: int = 20) -> tuple[float, float, float]:
    """One question x 10 candidates, 1 thread: median ms of the layer-5-6 pass + head, and the
    mean passage and question token counts of the timed rows."""
    import torch

    torch.set_num_threads(1)
    ts = []
    with torch.no_grad():
        for query, passages, _, _ in rows[:repeats]:
            b = batch_of(states_q, states_p, query, passages)
            model(*b)
            t = time.perf_counter()
            model(*b)
            ts.append((time.perf_counter() - t) * 1000)
    pl = np.mean([len(states_p[p]) for r in rows[:repeats] for p in r[1]])
    ql = np.mean([len(states_q[r[0]]) for r in rows[:repeats]])
    return float(np.median(ts)), float(pl), float(ql)


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="one fold, a few clinics, a few questions")
    ap.add_argument("--per-clinic", default="60,20", help="training questions per clinic: answerable,out-of-scope")
    ap.add_argument("--calib", default="12,6", help="calibration questions per training clinic (not trained on)")
    ap.add_argument("--eval", default="0,0", help="held-out questions per clinic (0,0: all)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--folds", default="0,1,2,3")
    ap.add_argument("--prior", action="store_true", help="add a learned multiple of the parts' cosine to the score")
    ap.add_argument("--budget", type=float, default=0, help="training seconds per fold (0: none)")
    args = ap.parse_args()
    import torch

    global PRIOR
    PRIOR = args.prior
    torch.set_num_threads(1)
    from mgqa.embed import get_encoder

    SCRATCH.mkdir(parents=True, exist_ok=True)
    log(f"args {vars(args)}")
    encoder = get_encoder()
    cands = candidates(encoder)
    bank, nxt = cands["bank"], cands["next"]
    allc = {**bank, **nxt}
    states_q = token_states(encoder, [q for d in allc.values() for q in d["query"]], QUESTION_CAP, "questions")
    states_p = token_states(encoder, [p for d in allc.values() for ps in d["passages"] for p in ps], PASSAGE_CAP, "passages")
    plen = np.array([len(v) for v in states_p.values()])
    log(f"{len(bank)} bank clinics + {len(nxt)} next; {len(states_q)} questions, {len(states_p)} passages "
        f"(tokens mean {plen.mean():.0f}, capped at {PASSAGE_CAP}: {(plen >= PASSAGE_CAP).mean():.2f})")

    def rows_of(name, idx):
        d = allc[name]
        return [(d["query"][i], d["passages"][i], d["y"][i], d["kind"][i] == "answerable") for i in idx]

    rng = np.random.default_rng(SEED)
    split = {}  # per clinic: (train idx, calib idx)
    na, no = (int(x) for x in args.per_clinic.split(","))
    ca, co = (int(x) for x in args.calib.split(","))
    for name, d in allc.items():
        ans = np.array([k == "answerable" for k in d["kind"]])
        a = rng.permutation(np.flatnonzero(ans))
        o = rng.permutation(np.flatnonzero(~ans))
        split[name] = (np.concatenate([a[:na], o[:no]]), np.concatenate([a[na:na + ca], o[no:no + co]]))
    ea, eo = (int(x) for x in args.eval.split(","))

    folds = [int(f) for f in args.folds.split(",")]
    clinics = list(bank)
    if args.smoke:
        folds = [0]
        clinics = [n for n in bank if judge_train.fold_of(n) == 0][:2] + [n for n in bank if judge_train.fold_of(n) != 0][:4]
    pooled = {"s": [], "y": [], "ans": [], "said": [], "fold": []}
    for f in folds:
        t = time.time()
        held = [n for n in clinics if judge_train.fold_of(n) == f]
        train_names = [n for n in clinics if judge_train.fold_of(n) != f] + ([] if args.smoke else list(nxt))
        rows = [r for n in train_names for r in rows_of(n, split[n][0])]
        rows = [r for r in rows if r[2].any() or not r[3]]  # answerable with no answering candidate: skipped
        if args.smoke:
            rows = rows[:30]
        calib = [r for n in train_names for r in rows_of(n, split[n][1])]
        log(f"fold {f}: held out {len(held)} clinics ({', '.join(sorted({judge_train.specialty(n) for n in held}))}); "
            f"training on {len(train_names)} clinics, {len(rows)} questions "
            f"({sum(r[3] for r in rows)} answerable, {sum(not r[3] for r in rows)} out-of-scope); calibration {len(calib)}")
        model = train(rows, states_q, states_p, args.epochs, args.budget or None)
        log(f"  trained ({time.time() - t:.0f} s)")
        cs = score(model, calib, states_q, states_p)
        cy = np.stack([r[2] for r in calib])
        cans = np.array([r[3] for r in calib])
        lr = fit_combo(cs, cy)
        thr = float(np.quantile(cs.max(1)[cans], 0.10))  # answers 0.90 of calibration answerable questions
        log(f"  calibration ({len(calib)} questions of the training clinics, not trained on): Hit@1 fused "
            f"{hit1(None, cy, cans):.3f}, cross {hit1(cs, cy, cans):.3f}; AUC {auc(cs.max(1), cans):.3f}; "
            f"threshold {thr:.3f}; combo coef {np.round(lr.coef_[0], 3).tolist()}")
        fold_s, fold_y, fold_ans = [], [], []
        for n in held:
            d = allc[n]
            ans = np.array([k == "answerable" for k in d["kind"]])
            idx = np.arange(len(ans))
            if ea or eo:
                idx = np.concatenate([rng.permutation(np.flatnonzero(ans))[:ea], rng.permutation(np.flatnonzero(~ans))[:eo]])
            hr = rows_of(n, idx)
            s = score(model, hr, states_q, states_p)
            y = np.stack([r[2] for r in hr])
            a = np.array([r[3] for r in hr])
            log("  " + fmt(n, figures(s, y, a, lr, thr)))
            fold_s.append(s), fold_y.append(y), fold_ans.append(a)
            pooled["s"].append(combo_scores(lr, s)), pooled["y"].append(y), pooled["ans"].append(a)
            pooled["said"].append(s.max(1) >= thr)
            pooled.setdefault("raw", []).append(s)
            pooled.setdefault("clinic_auc", []).append(auc(s.max(1), a))
        S, Y, A = np.concatenate(fold_s), np.concatenate(fold_y), np.concatenate(fold_ans)
        log(fmt(f"FOLD {f} pooled", figures(S, Y, A, lr, thr)) + f" ({time.time() - t:.0f} s)")
        ms, pl, ql = timing(model, states_q, states_p, rows_of(held[0], range(20)))
        log(f"  timing: one question x 10 candidates, layers 5-6 + head, 1 thread: median {ms:.1f} ms "
            f"(passages {pl:.0f} tokens, question {ql:.0f}; the machine is shared with two niced jobs)")
        torch.save(model.state_dict(), SCRATCH / f"model-fold{f}.pt")
    # pooled over all held-out clinics
    R, C, Y, A, SAID = (np.concatenate(pooled[k]) for k in ("raw", "s", "y", "ans", "said"))
    log("POOLED over every held-out clinic:")
    log(f"  answerable {int(A.sum())}, out-of-scope {int((~A).sum())}")
    every = [n for n in clinics if judge_train.fold_of(n) in folds]
    AY = np.concatenate([allc[n]["y"] for n in every])
    AA = np.array([k == "answerable" for n in every for k in allc[n]["kind"]])
    log(f"  fused order on every question of those clinics (not subsampled): Hit@1 {hit1(None, AY, AA):.3f} over {int(AA.sum())}")
    log(f"  Hit@1: fused order {hit1(None, Y, A):.3f} | cross {hit1(R, Y, A):.3f} | cross + fused rank (LR) {hit1(C, Y, A):.3f}")
    log(f"  AUC of max cross score: pooled {auc(R.max(1), A):.3f}, mean over clinics {np.nanmean(pooled['clinic_auc']):.3f}, "
        f"lowest {np.nanmin(pooled['clinic_auc']):.3f}")
    log(f"  at each fold's 0.90-answered threshold: answered {SAID[A].mean():.3f}, abstention recall {(~SAID[~A]).mean():.3f}")
    log("  feature judge (bench/judge/train.log, out of fold, same 44 clinics, 4 folds): Hit@1 0.718 (fused 0.659), "
        "abstention AUC mean over clinics 0.734 (lowest 0.573)")


if __name__ == "__main__":
    main()

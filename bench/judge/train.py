"""Train the answer judge (``make train-judge``): does this passage answer this question?

Data (pairs are the pipeline's own fused candidates, so the judge learns on what it will see):
- The clinic bank (``bench/clinics``: 44 clinics of 24 specialties, pages and patients' questions
  by different writers): a candidate answers when it holds the gold answer, as `mgqa eval --docs`
  scores; out-of-scope questions have none. This is what teaches the passage that answers from
  the passages of one clinic about the same thing.
- MedQuAD training questions (``../shared/bench/medquad/train_*``, disjoint from the dev set) over
  the whole MedQuAD corpus: a candidate answers when its document is the question's answer. The
  same topic's other answers (its symptoms vs its treatment) are the hard negatives.
- MEDIQA 2019 graded answers (``../shared/bench/mediqa/qa_train.jsonl``) over an index of all of
  them: grades 3-4 answer, 2 ("related") and 1 do not.
- The project's magnesium question sets (MAGNESIUM_SETS; none of them blind any more) over the
  default index, and the triage bank's off-topic messages as questions with no answer.
Never the MedQuAD dev questions, never a blind set or blind corpus. ``--no-medquad`` leaves
MedQuAD and MEDIQA out (minutes instead of the MedQuAD index's half hour).

Model selection, leave-clinic-out: the clinics' specialties and the magnesium sets are split into
FOLDS folds, and each fold's questions are scored by a ranker and an abstention model that never
saw that fold (a specialty's two clinics are held out together). Those out-of-fold scores give
the log's held-out figures and choose the abstention threshold (mean over held-out clinics). The
shipped model is then trained on everything but the MedQuAD and MEDIQA validation parts and
exported to ONNX with its sha256.

Writes ``src/mgqa/data/judge.onnx`` + ``judge_model.json``; log: ``bench/judge/train.log``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "bench"
DATA = REPO / "src" / "mgqa" / "data"
SEED = 7
# The magnesium question sets, none of them blind (bench/data/README.md): the packaged gold set,
# the unseen and held-out sets, blind set 3 after its first run, and two sets written for
# training by helpers that saw only the two documents (bench/judge/README.md).
MAGNESIUM_SETS = {"gold": None, "unseen": REPO / "bench" / "data" / "gold_unseen.jsonl",
                  "test": REPO / "bench" / "data" / "gold_test.jsonl",
                  "blind3": REPO / "bench" / "data" / "gold_blind3.jsonl",
                  "train_a": REPO / "bench" / "judge" / "questions_a.jsonl",
                  "train_b": REPO / "bench" / "judge" / "questions_b.jsonl"}


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# ------------------------------------------------------------------ candidate pairs


def pairs(engine, items: list[dict], label_fn, group: str) -> dict:
    """Features and labels of each item's candidates. ``items``: question, history, plus whatever
    ``label_fn(item, chunk_row)`` needs."""
    from mgqa.answer import _clean_history, contextual_query, validate
    from mgqa.conversation import query_vector
    from mgqa.judge import CANDIDATES, features
    from mgqa.retrieve import search
    from mgqa.scope import for_population

    asked, _ = engine.question_vectors([validate(it["question"]) for it in items])  # the tower's, if one ships
    X, y, qid, ruled = [], [], [], []
    for n, (it, now) in enumerate(zip(items, asked, strict=True)):
        q = validate(it["question"])
        turns = _clean_history(it.get("history"))
        query = contextual_query(q, turns)
        vec = query_vector(now, q, turns, engine.asker)
        hits = search(engine.index, vec, query, CANDIDATES)
        if not hits:
            continue
        # the population rule (a child, a pregnancy) abstains whatever the judge says: the sweep replays it
        ruled.extend([for_population(query, hits, engine.index.chunks)[1] is not None] * len(hits))
        X.append(features(engine.index, vec, query, hits))
        y.extend(label_fn(it, h.chunk_id) for h in hits)
        qid.extend([f"{group}:{n}"] * len(hits))
        if n and n % 2000 == 0:
            log(f"  {group}: {n}/{len(items)} questions")
    return {"X": np.vstack(X).astype(np.float32), "y": np.asarray(y, np.float32), "qid": np.asarray(qid),
            "ruled": np.asarray(ruled, bool)}


def medquad_pairs(encoder, cache: Path) -> dict:
    from mgqa.answer import Engine
    from mgqa.evaluate import corpus_index, read_qrels

    index = corpus_index(SHARED / "medquad" / "corpus.jsonl", encoder, cache)
    engine = Engine(index, encoder, judge=None)  # the candidates as fused, before any judge
    qrels = read_qrels(SHARED / "medquad" / "train_qrels.tsv")
    items = []
    for line in (SHARED / "medquad" / "train_queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if q["id"] in qrels:
            items.append({"question": q["text"], "relevant": set(qrels[q["id"]]), "focus": q.get("focus", "")})
    data = pairs(engine, items, lambda it, row: float(index.chunks[row].doc_id in it["relevant"]), "medquad")
    # hold out 10% of topics (a topic's questions share their answers' documents)
    focus = np.array([items[int(q.split(":")[1])]["focus"] for q in data["qid"]])
    data["val"] = np.array([int(hashlib.md5(f.encode()).hexdigest(), 16) % 10 == 0 for f in focus])
    return data


def mediqa_pairs(encoder, cache: Path) -> dict:
    from mgqa.answer import Engine
    from mgqa.evaluate import corpus_index

    rows = [json.loads(line) for line in (SHARED / "mediqa" / "qa_train.jsonl").read_text(encoding="utf-8").splitlines()]
    corpus = cache / "judge" / "mediqa_answers.jsonl"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    docs, grade = {}, {}
    for r in rows:
        for a in r["answers"]:
            doc_id = f"{r['id']}/{a['id']}"
            docs[doc_id] = {"id": doc_id, "title": "", "text": a["text"]}
            grade[doc_id] = int(a["score"])
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs.values())
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    index = corpus_index(corpus, encoder, cache)
    engine = Engine(index, encoder, judge=None)  # the candidates as fused, before any judge
    items = [{"question": r["question"], "id": r["id"], "set": r["set"]} for r in rows]

    def label(it, row):
        doc_id = index.chunks[row].doc_id
        return float(doc_id.startswith(it["id"] + "/") and grade[doc_id] >= 3)

    data = pairs(engine, items, label, "mediqa")
    data["val"] = np.array([items[int(q.split(":")[1])]["set"] == "validation" for q in data["qid"]])
    return data


CLINICS = REPO / "bench" / "clinics"


def specialty(clinic: str) -> str:
    """``dental-a`` -> ``dental``: a specialty's clinics are held out together."""
    return clinic.rsplit("-", 1)[0]


def clinic_pairs(encoder, cache: Path, asking=None) -> dict[str, dict]:
    """One entry per clinic of the bank (``bench/clinics/<name>``: pages and questions written
    here by two writers each): its pages indexed as `mgqa index build` does, and its questions'
    fused candidates, labelled by whether a candidate holds the gold answer (as `mgqa eval --docs`
    scores). Out-of-scope questions have no answering candidate. Never the blind corpora.
    ``asking(name)``, when given, is the query tower that reads a clinic's questions (one that
    never saw that clinic); its pages are always embedded by ``encoder``."""
    from mgqa.answer import Engine
    from mgqa.evaluate import _index_documents, answer_span, holds_answer, load_gold
    from mgqa.index import build_corpus, open_index

    out = {}
    for qfile in sorted(CLINICS.glob("*/questions.jsonl")):
        name = qfile.parent.name
        where = cache / "judge" / "clinics" / name
        build_corpus([qfile.parent / "pages"], where, encoder)
        index = open_index(where, encoder)
        engine = Engine(index, encoder, judge=None, tower=asking(name) if asking else "auto")  # fused, before any judge
        docs = {d.id: d for d in _index_documents(index)}
        items = [dict(it, span=answer_span(it, docs) if it.get("answer") else None) for it in load_gold(qfile)]

        def label(it, row, index=index):
            c = index.chunks[row]
            return float(it["span"] is not None and holds_answer(c.doc_id, c.start, c.end, it, it["span"]))

        out[name] = pairs(engine, items, label, name)
    return out


def magnesium_pairs(encoder) -> dict[str, dict]:
    """One entry per question set: gold, unseen, test, and off-topic messages."""
    from mgqa.answer import Engine
    from mgqa.evaluate import _index_documents, answer_span, load_gold
    from mgqa.index import open_index

    index = open_index(REPO / "index", encoder)
    engine = Engine(index, encoder, judge=None)  # the candidates as fused, before any judge
    docs = {d.id: d for d in _index_documents(index)}
    judged = {}
    for line in (REPO / "bench" / "data" / "gold_blind_judgement.jsonl").read_text(encoding="utf-8").splitlines():
        j = json.loads(line)
        judged[j["id"]] = [(a["doc_id"], a["start"], a["end"]) for a in j["answers"]]
    sets = {name: load_gold(path) for name, path in MAGNESIUM_SETS.items()}
    out = {}
    for name, gold in sets.items():
        items = []
        for it in gold:
            if it["kind"] == "emergency":
                continue
            spans = []
            if it.get("answer"):
                s, e = answer_span(it, docs)
                spans.append((it["doc_id"], s, e))
                if name == "gold":
                    spans += judged.get(it["id"], [])
            items.append(dict(it, spans=spans))

        def label(it, row):
            c = index.chunks[row]
            return float(any(d == c.doc_id and min(c.end, e) - max(c.start, s) >= min(e - s, c.end - c.start) / 2
                             for d, s, e in it["spans"]))

        out[name] = pairs(engine, items, label, name)
    bank = [json.loads(line) for line in (REPO / "bench" / "triage" / "bank.jsonl").read_text(encoding="utf-8").splitlines()]
    off = [{"question": r["q"], "spans": []} for r in bank if r.get("category") == "off_topic"]
    out["off_topic"] = pairs(engine, off, lambda it, row: 0.0, "off_topic")
    return out


# ------------------------------------------------------------------ model


def questions_of(data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, qid) as (questions, candidates, ...) arrays: every question has CANDIDATES rows."""
    from mgqa.judge import CANDIDATES

    n = len(data["y"]) // CANDIDATES
    return (data["X"].reshape(n, CANDIDATES, -1), data["y"].reshape(n, CANDIDATES),
            data["qid"].reshape(n, CANDIDATES)[:, 0])


def fit_ranker(parts: list[dict], weights: list[float], epochs: float = 20, hidden: int = 256):
    """Pair features -> logit. Loss: listwise (softmax over a question's candidates, for
    ranking) plus pointwise BCE (so that a logit means the same across questions). Questions are
    drawn in proportion to their source's weight. 256 hidden units and 20 epochs: 64 and 10 left
    it under-trained (held-out magnesium Hit@1 0.71-0.73 against 0.76-0.79, MedQuAD val MRR 0.81
    against 0.85; docs/QUALITY.md)."""
    import torch

    torch.manual_seed(SEED)
    X = torch.from_numpy(np.concatenate([questions_of(p)[0] for p in parts]))
    y = torch.from_numpy(np.concatenate([questions_of(p)[1] for p in parts]))
    w = np.concatenate([np.full(len(questions_of(p)[1]), wt / len(questions_of(p)[1])) for p, wt in
                        zip(parts, weights, strict=True)])
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[-1], hidden), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(SEED)
    for _ in range(int(epochs * len(y) / 64)):
        b = torch.from_numpy(rng.choice(len(y), 64, p=w / w.sum()))
        s, yb = model(X[b]).squeeze(-1), y[b]
        has = yb.sum(1) > 0
        loss = torch.nn.functional.binary_cross_entropy_with_logits(s, yb)
        if has.any():
            loss = loss - (torch.log_softmax(s[has], 1) * yb[has] / yb[has].sum(1, keepdim=True)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def logits_of(model, data: dict) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(data["X"])).squeeze(-1).numpy()


SHOWN = 3  # an answer quotes this many passages (the top_k setting's default)


def list_rows(data: dict, logits: np.ndarray, without_answer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per question: LIST_FEATURES and whether an answer would quote an answering passage
    (one of the ranker's first SHOWN candidates answers). With
    ``without_answer``, each answerable question again with its answering candidates taken out:
    the same question against passages that are related but do not answer it, which is exactly
    what abstention must recognise (and what real data has too little of)."""
    from mgqa.judge import LIST_FEATURES, list_features

    X, y, _ = questions_of(data)
    s = logits.reshape(y.shape)
    F, L = [], []
    for i in range(len(y)):
        keep = np.ones(y.shape[1], bool)
        if without_answer:
            if not y[i].any():
                continue
            keep = y[i] == 0
            if not keep.any():  # every candidate answers: nothing is left to abstain on
                continue
        F.append(list_features(X[i][keep], s[i][keep]))
        shown = np.argsort(-s[i][keep], kind="stable")[:SHOWN]
        L.append(float(y[i][keep][shown].any()))
    return np.asarray(F, np.float32).reshape(-1, len(LIST_FEATURES)), np.asarray(L, np.float32)


def fit_abstention(parts: list[tuple[np.ndarray, np.ndarray, float]]) -> dict:
    """Logistic regression (standardised features) over (F, L, source weight) parts."""
    import torch

    from mgqa.judge import LIST_FEATURES

    F = np.vstack([f for f, _, _ in parts])
    L = np.concatenate([lab for _, lab, _ in parts])
    w = np.concatenate([np.full(len(lab), wt / max(len(lab), 1), np.float32) for _, lab, wt in parts])
    mean, scale = F.mean(0), F.std(0) + 1e-6
    torch.manual_seed(SEED)
    lin = torch.nn.Linear(F.shape[1], 1)
    Xt, yt, wt_ = torch.from_numpy((F - mean) / scale), torch.from_numpy(L), torch.from_numpy(w / w.mean())
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500)

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(lin(Xt).squeeze(-1), yt, reduction="none")
                * wt_).mean() + 1e-3 * (lin.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"features": list(LIST_FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": lin.weight.detach().numpy()[0].tolist(), "intercept": float(lin.bias.detach()[0])}


def abstention_probability(cal: dict, F: np.ndarray) -> np.ndarray:
    """The shipped model's own formula (judge.abstention_probability) on a fitted ``cal``."""
    from mgqa.judge import abstention_probability as probability

    return probability(F, *(np.array(cal[k]) for k in ("mean", "scale", "coef")), cal["intercept"])


def subset(data: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in data.items() if isinstance(v, np.ndarray) and len(v) == len(mask)}


# ------------------------------------------------------------------ measures


def ranking(data: dict, logits: np.ndarray | None) -> dict[str, float]:
    """Over questions with an answering candidate: Hit@1, Hit@3 and MRR of the first one, in the
    fused order (``logits`` None) or the ranker's."""
    _, y, _ = questions_of(data)
    first = []
    for i in range(len(y)):
        if not y[i].any():
            continue
        judged = y[i] if logits is None else y[i][np.argsort(-logits.reshape(y.shape)[i], kind="stable")]
        first.append(int(np.flatnonzero(judged)[0]) + 1)
    return {"Hit@1": float(np.mean([f == 1 for f in first])), "Hit@3": float(np.mean([f <= 3 for f in first])),
            "MRR": float(np.mean([1 / f for f in first])), "questions": len(first)}


MAGNESIUM = tuple(MAGNESIUM_SETS)


def shares(names: list[str]) -> list[float]:
    """Each source's share of the questions the ranker trains on (relative to MedQuAD's): a
    magnesium set's ~100 questions weigh about a tenth of MedQuAD's 13,000, so that patients'
    wording is not drowned by MedQuAD's templates."""
    base = {"medquad": 1.0, "mediqa": 0.03, "off_topic": 0.1}
    return [base.get(n, 0.1) for n in names]


FOLDS = 4  # held out in turn: a quarter of the clinic specialties, and of the magnesium sets


def fold_of(source: str) -> int:
    """A clinic's fold is its specialty's (sorted order, round robin), so a specialty's two
    clinics are never both trained on and scored; a magnesium set's is its place in MAGNESIUM."""
    if source in MAGNESIUM:
        return MAGNESIUM.index(source) % FOLDS
    return _specialties().index(specialty(source)) % FOLDS


@lru_cache(maxsize=1)
def _specialties() -> list[str]:
    return sorted({specialty(q.parent.name) for q in CLINICS.glob("*/questions.jsonl")})


def served(data: dict, logits: np.ndarray, p: np.ndarray, t: float, answerable: np.ndarray) -> dict[str, float]:
    """One source's questions as mgqa would answer them at threshold ``t``: Hit@1 and Hit@3 over
    its answerable questions (answered, with an answering passage first / among the first three),
    answered, and abstention recall over the others."""
    _, y, _ = questions_of(data)
    ruled = data["ruled"].reshape(y.shape)[:, 0]
    order = np.argsort(-logits.reshape(y.shape), axis=1, kind="stable")
    ranked = np.take_along_axis(y, order, axis=1) > 0
    said = (p >= t) & ~ruled
    return {"Hit@1": float((said & ranked[:, 0])[answerable].mean()),
            "Hit@3": float((said & ranked[:, :SHOWN].any(1))[answerable].mean()),
            "answered": float(said[answerable].mean()),
            "abstention recall": float((~said[~answerable]).mean()) if (~answerable).any() else math.nan}


def answerable_of(name: str, data: dict) -> np.ndarray:
    """Which questions of a source the documents answer: a clinic's "answerable" ones (whether or
    not fusion found the passage), else those with an answering candidate."""
    if not (CLINICS / name / "questions.jsonl").is_file():
        return questions_of(data)[1].any(1)
    kinds = [json.loads(line)["kind"] for line in (CLINICS / name / "questions.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return np.array([k == "answerable" for k in kinds])


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-medquad", action="store_true", help="leave MedQuAD and MEDIQA out (minutes instead of half an hour)")
    ap.add_argument("--fresh", action="store_true", help="recompute the cached candidate pairs")
    args = ap.parse_args()
    import torch

    from mgqa import settings
    from mgqa.embed import get_encoder
    from mgqa.judge import FORMAT_VERSION, SCALARS

    torch.set_num_threads(2)
    cache = Path(settings.get("cache_dir"))
    encoder = get_encoder()
    fresh = args.fresh
    use_medquad = not args.no_medquad
    # With a query tower shipped, every question is read by it, as served; a bank clinic's by the
    # fold tower that never saw it (`make train-tower` keeps them), the others' by the shipped one.
    tower, asking = fold_towers(encoder, cache)
    tag = f"-tower-{tower.sha256[:12]}" if tower else ""
    log(f"questions read by the query tower {tower.sha256[:16]}" if tower else "questions read by the encoder (no query tower)")
    datasets = dict(cached(cache / "judge" / f"pairs{tag}-magnesium.npz", lambda: magnesium_pairs(encoder), fresh))
    clinics = cached(cache / "judge" / f"pairs{tag}-clinics.npz", lambda: clinic_pairs(encoder, cache, asking), fresh)
    others: dict[str, dict] = {"off_topic": datasets.pop("off_topic")}
    validation: dict[str, dict] = {}
    if use_medquad:
        mi = cached(cache / "judge" / f"pairs{tag}-mediqa.npz", lambda: {"mediqa": mediqa_pairs(encoder, cache)}, fresh)["mediqa"]
        mq = cached(cache / "judge" / f"pairs{tag}-medquad.npz", lambda: {"medquad": medquad_pairs(encoder, cache)}, fresh)["medquad"]
        others.update(medquad=subset(mq, ~mq["val"]), mediqa=subset(mi, ~mi["val"]))
        validation.update(medquad=subset(mq, mq["val"]), mediqa=subset(mi, mi["val"]))
    folded = {**clinics, **datasets}  # each held out in its fold
    answerable = {n: answerable_of(n, d) for n, d in folded.items()}
    log(f"{len(clinics)} clinics ({sum(len(answerable[n]) for n in clinics)} questions), magnesium sets "
        f"{', '.join(f'{n} {len(answerable[n])}' for n in datasets)}, also trained on: "
        + ", ".join(f"{n} {len(questions_of(d)[1])}" for n, d in others.items()))

    def weights(names: list[str]) -> list[float]:
        """The clinics together weigh as much as MedQuAD, each clinic alike (shares() for the rest)."""
        n_clinics = sum(n in clinics for n in names)
        return [1.0 / n_clinics if n in clinics else share for n, share in zip(names, shares(names), strict=True)]

    rankers, oof = [], {}
    for f in range(FOLDS):
        names = [n for n in folded if fold_of(n) != f] + list(others)
        rankers.append(fit_ranker([folded.get(n) or others[n] for n in names], weights(names)))
        for n in folded:
            if fold_of(n) == f:
                oof[n] = logits_of(rankers[f], folded[n])
        held = [n for n in clinics if fold_of(n) == f]
        log(f"fold {f}: held out {len(held)} clinics ({', '.join(sorted({specialty(n) for n in held}))}) and "
            f"{', '.join(n for n in datasets if fold_of(n) == f)}"
            + "".join(f" | {n} val {fmt(ranking(d, logits_of(rankers[f], d)))}" for n, d in validation.items()))

    def pooled(names: list[str], logits) -> dict[str, float]:
        """Hit@1 / Hit@3 of the ranking alone over every answerable question of ``names``."""
        h1 = h3 = n = 0
        for name in names:
            _, y, _ = questions_of(folded[name])
            s = logits[name].reshape(y.shape) if logits else np.broadcast_to(-np.arange(y.shape[1]), y.shape)
            ranked = np.take_along_axis(y, np.argsort(-s, axis=1, kind="stable"), axis=1)[answerable[name]] > 0
            h1, h3, n = h1 + int(ranked[:, 0].sum()), h3 + int(ranked[:, :SHOWN].any(1).sum()), n + len(ranked)
        return {"Hit@1": h1 / n, "Hit@3": h3 / n, "questions": n}

    log("ranking alone, every question out of fold (no answering candidate in the top 10 counts as a miss):")
    for label, group in (("clinics", list(clinics)), ("magnesium sets", list(datasets))):
        log(f"  {label}: fused order {fmt(pooled(group, None))} | judge {fmt(pooled(group, oof))}")

    # The abstention model of each fold is fitted on the other folds' out-of-fold logits (what the
    # shipped ranker's logits look like on a clinic it never saw) and scores its own fold.
    p = {}
    for f in range(FOLDS):
        cal = fit_abstention(abstention_rows(rankers[f], folded, oof, [n for n in folded if fold_of(n) != f], others))
        for n in folded:
            if fold_of(n) == f:
                p[n] = abstention_probability(cal, list_rows(folded[n], oof[n])[0])
    aucs = [auc(p[n], answerable[n]) for n in clinics]
    log(f"abstention AUC (answerable vs not), out of fold: mean over clinics {np.nanmean(aucs):.3f}, "
        f"lowest {np.nanmin(aucs):.3f}")
    log("threshold sweep, every question out of fold; clinics: the mean over clinics; magnesium sets: pooled:")
    sweep = []
    mg_data = {k: np.concatenate([folded[n][k] for n in datasets]) for k in ("X", "y", "qid", "ruled")}
    mg_logits, mg_p = np.concatenate([oof[n] for n in datasets]), np.concatenate([p[n] for n in datasets])
    mg_ans = np.concatenate([answerable[n] for n in datasets])
    for t in [round(0.05 * i, 2) for i in range(1, 20)]:
        per = [served(folded[n], oof[n], p[n], t, answerable[n]) for n in clinics]
        row = {"threshold": t, **{k: float(np.nanmean([r[k] for r in per])) for k in per[0]}}
        mg = served(mg_data, mg_logits, mg_p, t, mg_ans)
        sweep.append(row)
        log(f"  t {t:.2f}: clinics Hit@1 {row['Hit@1']:.3f}, Hit@3 {row['Hit@3']:.3f}, answered {row['answered']:.3f}, "
            f"abstention recall {row['abstention recall']:.3f} | magnesium sets {fmt(mg)}")
    threshold = choose_threshold(sweep)
    log(f"threshold {threshold}: the best answered + {ABSTENTION_WEIGHT:g} x abstention recall on held-out clinics")

    names = list(folded) + list(others)
    ranker = fit_ranker([folded.get(n) or others[n] for n in names], weights(names))
    cal = fit_abstention(abstention_rows(ranker, folded, oof, list(folded), others))
    if validation:
        log("shipped ranker: " + " | ".join(f"{n} val {fmt(ranking(d, logits_of(ranker, d)))}" for n, d in validation.items()))
    export(ranker, cal, next(iter(clinics.values()))["X"].shape[1], threshold, sweep, FORMAT_VERSION, list(SCALARS),
           tower.sha256 if tower else None)


def fold_towers(encoder, cache: Path):
    """The shipped query tower (None when none ships or MGQA_TOWER is off) and, for a bank
    clinic's name, the fold tower that never saw it, as `make train-tower` left them."""
    from mgqa import tower as towers

    shipped = towers.for_encoder(encoder)
    if shipped is None:
        return None, None
    where = cache / "tower" / shipped.sha256[:16]
    try:
        folds = [towers.QueryTower((where / f"fold-{f}.onnx").read_bytes(), encoder.model_id) for f in range(FOLDS)]
    except OSError:
        raise SystemExit(f"the fold towers of the shipped query tower are not in {where}: run `make train-tower` first") from None
    return shipped, lambda name: folds[fold_of(name)]


def abstention_rows(ranker, folded: dict[str, dict], oof_logits: dict[str, np.ndarray], names: list[str],
                    others: dict[str, dict]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The abstention model's training rows, each question as it is and with its answers taken
    out: the sources ``names`` with their out-of-fold logits (the clinics together weighing as
    much as the magnesium sets), and ``others`` (MedQuAD and MEDIQA training questions, the
    off-topic messages) with ``ranker``'s."""
    out = []
    n_clinics = sum(n not in MAGNESIUM for n in names) or 1
    for name in names:
        for without in (False, True):
            F, L = list_rows(folded[name], oof_logits[name], without)
            out.append((F, L, 1.0 if name in MAGNESIUM else len(MAGNESIUM) / n_clinics))
    for name, d in others.items():
        lg = logits_of(ranker, d)
        for without in (False, True):
            F, L = list_rows(d, lg, without)
            out.append((F, L, {"medquad": 1.0}.get(name, 0.3)))
    return out


# Answered and abstention recall weigh the same (Youden's J): the issue's own targets (0.90, 0.95)
# treat them alike. A weight of 2 on abstention (the first choice) refused the canonical "what
# dose did the trial use?" at the threshold it picked (docs/QUALITY.md). Where a clinic weighs
# them otherwise, MGQA_JUDGE_THRESHOLD sets its own, and `mgqa eval --sweep` shows the trade-off.
ABSTENTION_WEIGHT = 1.0


def choose_threshold(sweep: list[dict]) -> float:
    """The threshold maximising answered + ABSTENTION_WEIGHT x abstention recall on held-out
    questions. The issue's bar (abstention recall >= 0.95) is logged beside it."""
    best = max(sweep, key=lambda r: r["answered"] + ABSTENTION_WEIGHT * r["abstention recall"])
    return float(best["threshold"])


def auc(p: np.ndarray, positive: np.ndarray) -> float:
    """Probability that an answerable question scores above an unanswerable one."""
    pos, neg = p[positive], p[~positive]
    if not len(pos) or not len(neg):
        return math.nan
    return float(np.mean([(x > neg).mean() + 0.5 * (x == neg).mean() for x in pos]))


def cached(store: Path, make, fresh: bool) -> dict[str, dict]:
    """Candidate pairs are the slow part (the pipeline runs once per question): kept per source
    under MGQA_CACHE_DIR/judge, so that a model change retrains in minutes (--fresh recomputes)."""
    if store.exists() and not fresh or make is None:
        out: dict[str, dict] = {}
        for key, v in np.load(store, allow_pickle=False).items():
            name, field = key.split("/")
            out.setdefault(name, {})[field] = v
        log(f"pairs from {store}")
        return out
    t = time.time()
    out = make()
    store.parent.mkdir(parents=True, exist_ok=True)
    np.savez(store, **{f"{n}/{k}": v for n, d in out.items() for k, v in d.items()})
    log(f"{', '.join(out)}: {sum(len(d['y']) for d in out.values())} pairs ({time.time() - t:.0f} s)")
    return out


def fmt(r: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items())


def export(ranker, cal: dict, n_in: int, threshold: float, sweep: list, version: int, scalars: list,
           tower: str | None) -> None:
    import torch

    path = DATA / "judge.onnx"
    torch.onnx.export(ranker, torch.zeros(2, n_in), str(path), input_names=["features"], output_names=["logit"],
                      dynamic_axes={"features": {0: "n"}, "logit": {0: "n"}}, opset_version=17, dynamo=False)
    blob = path.read_bytes()
    meta = {"format": version, "scalars": scalars, "inputs": n_in, "threshold": threshold,
            "sha256": hashlib.sha256(blob).hexdigest(), "abstention": cal, "tower": tower,
            "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "trained_by": "bench/judge/train.py",
            "sweep": sweep}
    (DATA / "judge_model.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {path} ({len(blob):,} bytes) and judge_model.json")


if __name__ == "__main__":
    main()

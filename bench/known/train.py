"""Train how known questions vote with the answer judge (``make train-known``, about 7 minutes).

Data: the project's magnesium question sets (SETS; none of them blind any more), every one
written by a helper who saw only the two default documents. They become, first, the default
corpus's known questions: ``src/mgqa/corpus/known_questions.jsonl``. Then the two small logistic
regressions of ``known.decide`` learn to weigh their votes:
- a ranker over each candidate (the judge's logit, whether the judge saw it, its share of the
  nearest known questions' vote, its nearest known question's similarity);
- an abstention model over the list (the judge's probability, the vote for "not in our
  documents", the best vote, the nearest answered and unanswered known questions, the ranker's
  best score and margin).

Honesty rules:
- A question never votes for itself: each set is scored against the known questions of the
  *other* sets (leave one set out), as a new patient's question would be.
- The models fit only on sets the judge did not train on (FIT: blind sets 4-9 and training sets c-ab), so that the
  judge's probability is as confident as it is on a new question, not as on its training data.
- The threshold leaves the most room to every acceptance target at once (Hit@1, Hit@3, answered,
  abstention recall) on those sets' pooled held-out predictions; the sweep is logged.
- Each set's figures are reported held out (models fitted without it, its questions not known).

Writes ``src/mgqa/corpus/known_questions.jsonl`` and ``src/mgqa/data/known_model.json``; log:
``bench/known/train.log``. The default index must be rebuilt afterwards (``make index``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from mgqa import known  # noqa: E402

DATA = REPO / "src" / "mgqa" / "data"
BENCH = REPO / "bench"
TRAINING = (*"cdefghijklmnopqrstuvwxyz", "aa", "ab")  # bench/known/questions_<x>.jsonl, written for training
SETS = {"gold": DATA / "gold.jsonl", "unseen": BENCH / "data" / "gold_unseen.jsonl",
        "test": BENCH / "data" / "gold_test.jsonl", "blind3": BENCH / "data" / "gold_blind3.jsonl",
        "train_a": BENCH / "judge" / "questions_a.jsonl", "train_b": BENCH / "judge" / "questions_b.jsonl",
        "blind4": BENCH / "data" / "gold_blind4.jsonl", "blind5": BENCH / "data" / "gold_blind5.jsonl",
        "blind6": BENCH / "data" / "gold_blind6.jsonl", "blind7": BENCH / "data" / "gold_blind7.jsonl",
        "blind8": BENCH / "data" / "gold_blind8.jsonl", "blind9": BENCH / "data" / "gold_blind9.jsonl",
        **{f"train_{x}": BENCH / "known" / f"questions_{x}.jsonl" for x in TRAINING}}
# The judge (model 4) never trained on these: its probability is as confident there as on a new question.
FIT = ("blind4", "blind5", "blind6", "blind7", "blind8", "blind9", *(f"train_{x}" for x in TRAINING))
# neighbours, power, and whether the abstention model also reads what the judge's own read: chosen held out on FIT
GRID = [(k, p, e) for k in (5, 8, 12) for p in (2.0, 4.0, 8.0) for e in (False, True)]
POOL = 50
SHOWN = 3


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def write_known_questions() -> list[dict]:
    """Every answerable and unanswerable question of SETS, in the gold format, as the default
    corpus's known questions. Returns them with the set each came from."""
    rows = []
    for name, path in SETS.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line) if line.strip() else None
            if item and item["kind"] in ("answerable", "unanswerable"):
                keep = {k: item[k] for k in ("id", "kind", "question", "doc_id", "answer", "history") if k in item}
                rows.append(dict(keep, source=name))
    out = REPO / "src" / "mgqa" / "corpus" / known.FILE_NAME
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    log(f"wrote {len(rows)} known questions ({sum(r['kind'] == 'answerable' for r in rows)} answerable) to {out}")
    return rows


def judged(engine, questions: list[dict]) -> list[dict]:
    """Each question as the pipeline sees it: its vector and the judge's verdict (population rules applied)."""
    from mgqa.answer import _clean_history, contextual_query, validate
    from mgqa.conversation import query_vector
    from mgqa.judge import CANDIDATES

    out = []
    asked, _ = engine.question_vectors([validate(q["question"]) for q in questions])
    for q, now in zip(questions, asked, strict=True):
        text = validate(q["question"])
        turns = _clean_history(q.get("history"))
        query = contextual_query(text, turns)
        qvec = query_vector(now, text, turns, engine.asker)
        _, population, verdict = engine.judged(qvec, query, CANDIDATES)
        out.append({"qvec": qvec, "query": query, "verdict": verdict, "population": population})
    return out


def candidates(engine, model, memory, seen: dict) -> tuple[known.Votes, list]:
    """The votes and the candidates, as the engine builds them (``known.candidates``): both on
    the asker's vector (the query tower's), which read the known questions too."""
    vote = known.votes(model, memory, seen["qvec"])
    return vote, known.candidates(engine.index, vote, seen["verdict"].hits, seen["query"], seen["qvec"])


def prepared(engine, rows: list[dict], seen: list[dict], memories: dict, sets, neighbours: int, power: float) -> list:
    """For each question of ``sets`` the judge saw: its votes (its own set not known), candidates
    and their ranker rows."""
    shell = shell_model(neighbours, power, ())
    out = []
    for r, s in zip(rows, seen, strict=True):
        if r["source"] in sets and s["verdict"] is not None:
            vote, hits = candidates(engine, shell, memories[r["source"]], s)
            out.append((r, s, vote, hits, known.rank_rows(vote, hits, s["verdict"].logits)))
    return out


def shell_model(neighbours: int, power: float, names: tuple[str, ...]) -> known.KnownModel:
    n = len(names)
    return known.KnownModel(neighbours, power, POOL, np.zeros(4), 0.0, names, np.zeros(n), np.ones(n), np.zeros(n),
                            0.0, 0.5)


def fit(data: list, names: tuple[str, ...], neighbours: int, power: float) -> known.KnownModel:
    """The two regressions, fitted on ``data`` (``prepared``): the ranker on the answerable
    questions' candidates, then the abstention model on whether its first three hold an answer."""
    from sklearn.linear_model import LogisticRegression

    X = np.vstack([x for r, s, v, hits, x in data if r["rows"]])
    y = np.concatenate([[h.chunk_id in r["rows"] for h in hits] for r, s, v, hits, x in data if r["rows"]])
    ranker = LogisticRegression(C=1.0, max_iter=2000).fit(X, y)
    coef, intercept = ranker.coef_[0], float(ranker.intercept_[0])
    shell = shell_model(neighbours, power, names)
    XA, yA = [], []
    for r, s, v, hits, x in data:
        scores_ = x @ coef + intercept
        top = [hits[i].chunk_id for i in np.argsort(-scores_, kind="stable")[:SHOWN]]
        XA.append(known.abstain_features(shell, v, scores_, s["verdict"].best, s["verdict"].evidence))
        yA.append(bool(set(top) & set(r["rows"])))
    XA = np.vstack(XA)
    mean, scale = XA.mean(axis=0), XA.std(axis=0)
    scale[scale < 1e-9] = 1.0
    abstain = LogisticRegression(C=1.0, max_iter=5000).fit((XA - mean) / scale, yA)
    return known.KnownModel(neighbours, power, POOL, coef, intercept, names, mean, scale, abstain.coef_[0],
                            float(abstain.intercept_[0]), 0.5)


def predict(engine, model, memory, row: dict, seen: dict) -> tuple[list[int], float]:
    """The ranked passages and probability, as the engine would give them (``known.decide``)."""
    if seen["verdict"] is None:
        return [], 0.0
    vote, hits = candidates(engine, model, memory, seen)
    v = seen["verdict"]
    ranked, p = known.decide(model, vote, hits, v.logits, v.best, v.evidence)
    return [h.chunk_id for h in ranked], p


def scores(results: list[tuple[dict, list[int], float]], threshold: float) -> dict:
    ans = [(r, ranked, p) for r, ranked, p in results if r["rows"]]
    un = [(r, ranked, p) for r, ranked, p in results if not r["rows"]]
    said = lambda p: p >= threshold  # noqa: E731
    return {"Hit@1": np.mean([said(p) and bool(ranked[:1]) and ranked[0] in r["rows"] for r, ranked, p in ans]),
            "Hit@3": np.mean([said(p) and bool(set(ranked[:3]) & set(r["rows"])) for r, ranked, p in ans]),
            "answered": np.mean([said(p) for r, ranked, p in ans]),
            "abstention": np.mean([not said(p) for r, ranked, p in un]) if un else float("nan")}


TARGETS = {"Hit@1": 0.80, "Hit@3": 0.92, "answered": 0.90, "abstention": 0.95}  # issue 11's acceptance
THRESHOLDS = [float(t) for t in np.round(np.arange(0.05, 0.96, 0.025), 3)]


def margin(s_: dict) -> float:
    """The room left to the tightest target: min over TARGETS of (figure - target)."""
    return min(s_[k] - v for k, v in TARGETS.items())


def best_threshold(results: list) -> tuple[float, bool]:
    """The threshold leaving the most room to every target at once (maximin margin). A new set of
    questions lands a few points either side of the pooled held-out figures, so a threshold on the
    edge of one target (the highest that keeps Hit@3 >= 0.92, model 2's rule) misses it about half the
    time. Returns it and whether every target is met held out."""
    room = {t: margin(scores(results, t)) for t in THRESHOLDS}
    t = max(room, key=room.get)
    return t, room[t] >= 0


def main() -> None:
    import argparse

    # No options; parsing still answers --help instead of starting a run that overwrites the model.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder
    from mgqa.evaluate import _index_documents
    from mgqa.index import load

    t0 = time.time()
    rows = write_known_questions()
    encoder = get_encoder()
    index = load(REPO / "index", encoder)  # its passages; its known questions are rebuilt afterwards
    engine = Engine(index, encoder, known=None)  # the judge alone: its verdicts are what the votes weigh
    if engine.judge is None:
        raise SystemExit("the answer judge is off or missing: train-known weighs its verdicts")
    parsed = known.parse("".join(json.dumps(r) + "\n" for r in rows), "training sets")
    whole = known.compile_memory(parsed, _index_documents(index), index.chunks, engine.asker)
    for r, held in zip(rows, whole.rows, strict=True):
        r["rows"] = held
    log(f"{len(rows)} questions encoded and resolved to passages ({time.time() - t0:.0f} s)")
    seen = judged(engine, rows)
    set_names = list(SETS)
    mask = {n: np.array([r["source"] != n for r in rows]) for n in set_names}
    memories = {n: known.Memory(whole.vectors[mask[n]], tuple(h for h, m in zip(whole.rows, mask[n], strict=True) if m),
                                tuple(x for x, m in zip(whole.lines, mask[n], strict=True) if m)) for n in set_names}
    def held_out(n: str, neighbours: int, power: float, features: tuple[str, ...], data: list) -> list:
        """Set ``n``'s predictions by models fitted without it, its questions not known."""
        model = fit([d for d in data if d[0]["source"] != n], features, neighbours, power)
        return [(r, *predict(engine, model, memories[n], r, s)) for r, s in zip(rows, seen, strict=True)
                if r["source"] == n]

    log(f"neighbours, power and the judge's evidence, held out one set at a time over FIT ({', '.join(FIT)}), "
        "each at its best threshold (best_threshold, maximin margin over TARGETS):")
    grid = {}
    for neighbours, power, evidence in GRID:
        features = known.ABSTAIN_FEATURES if evidence else known.VOTE_FEATURES
        data = prepared(engine, rows, seen, memories, FIT, neighbours, power)
        pooled = [x for n in FIT for x in held_out(n, neighbours, power, features, data)]
        t, _ = best_threshold(pooled)
        s_ = scores(pooled, t)
        # the most room to every target; Hit@1 breaks ties
        grid[(neighbours, power, evidence)] = (round(margin(s_), 3), s_["Hit@1"])
        log(f"  {neighbours:2d} neighbours, power {power:g}, {'with' if evidence else 'without'} the judge's "
            f"evidence: threshold {t:.3f} (margin {margin(s_):+.3f}) Hit@1 {s_['Hit@1']:.3f} Hit@3 {s_['Hit@3']:.3f} "
            f"answered {s_['answered']:.3f} abstention recall {s_['abstention']:.3f}")
    NEIGHBOURS, POWER, EVIDENCE = max(grid, key=grid.get)
    NAMES = known.ABSTAIN_FEATURES if EVIDENCE else known.VOTE_FEATURES
    log(f"chosen: {NEIGHBOURS} neighbours, power {POWER:g}, {'with' if EVIDENCE else 'without'} the judge's evidence")
    data = prepared(engine, rows, seen, memories, FIT, NEIGHBOURS, POWER)
    held = {n: held_out(n, NEIGHBOURS, POWER, NAMES, data) for n in set_names}
    pooled = [x for n in FIT for x in held[n]]
    log(f"threshold sweep, held out, pooled over FIT ({len(pooled)} questions):")
    for t in THRESHOLDS:
        s_ = scores(pooled, t)
        log(f"  t {t:.3f}: Hit@1 {s_['Hit@1']:.3f} Hit@3 {s_['Hit@3']:.3f} answered {s_['answered']:.3f} "
            f"abstention recall {s_['abstention']:.3f}")
    best, met = best_threshold(pooled)
    log(f"threshold {best}: the most room to every target (margin {margin(scores(pooled, best)):+.3f}; "
        + ("every target met held out)" if met else "some target missed held out)"))
    log("each set held out (its questions not known, the models fitted without it), against the judge alone:")
    for n in set_names:
        judge_alone = [(r, [h.chunk_id for h in s["verdict"].hits] if s["verdict"] else [],
                        s["verdict"].best if s["verdict"] else 0.0)
                       for r, s in zip(rows, seen, strict=True) if r["source"] == n]
        a, b = scores(held[n], best), scores(judge_alone, engine.judge.threshold)
        note = "" if n in FIT else " (the judge trained on this set)"
        log(f"  {n:8s} {len(held[n]):4d} q: known+judge Hit@1 {a['Hit@1']:.3f} Hit@3 {a['Hit@3']:.3f} "
            f"answered {a['answered']:.3f} abstention {a['abstention']:.3f} | judge alone {b['Hit@1']:.3f} "
            f"{b['Hit@3']:.3f} {b['answered']:.3f} {b['abstention']:.3f}{note}")
    final = fit(data, NAMES, NEIGHBOURS, POWER)
    meta = {"format": known.FORMAT_VERSION, "neighbours": NEIGHBOURS, "power": POWER, "pool": POOL,
            "threshold": best, "trained_on": list(FIT), "known_questions": len(rows),
            "read_by": known.reader_id(engine.asker),  # what read the questions it learned from
            "rank": {"features": list(known.RANK_FEATURES), "coef": [round(float(c), 6) for c in final.rank_coef],
                     "intercept": round(final.rank_intercept, 6)},
            "abstain": {"features": list(NAMES), "mean": [round(float(c), 6) for c in final.abstain_mean],
                        "scale": [round(float(c), 6) for c in final.abstain_scale],
                        "coef": [round(float(c), 6) for c in final.abstain_coef],
                        "intercept": round(final.abstain_intercept, 6)}}
    (DATA / known.MODEL_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log(f"ranker {dict(zip(known.RANK_FEATURES, meta['rank']['coef'], strict=True))}")
    log(f"abstention (standardised) {dict(zip(NAMES, meta['abstain']['coef'], strict=True))}")
    log(f"wrote {DATA / known.MODEL_JSON} in {time.time() - t0:.0f} s; now rebuild the default index (make index)")


if __name__ == "__main__":
    main()

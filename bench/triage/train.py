"""Train mgqa's emergency classifier from the labelled message bank, and say how well it holds.

    make train-triage          # = .venv/bin/python bench/triage/train.py

Reads ``bench/triage/bank.jsonl`` (q, kind, category, writer), embeds every message with the
encoder `mgqa ask` uses, and compares candidate classifiers by **leave-one-writer-out**
validation: each writer's messages are scored by a model trained only on the other writers, so
every figure is on wording the model never saw. The candidate with the best false-alarm rate at
the recall-first operating point wins; it is retrained on every writer and written to
``src/mgqa/data/triage_model.json`` + ``triage_weights.npz`` (plain arrays, sha256 in the JSON).
The whole run is logged to ``bench/triage/train.log``.

Training is never part of `make test`; it takes a minute or two on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mgqa.triage import BENIGN, FEATURES, TriageModel, features, message_views  # noqa: E402

DATA = ROOT / "src" / "mgqa" / "data"
TARGET_RECALL = 0.99  # recall first: the operating threshold is the highest that keeps this recall
SEED = 0


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def read_bank(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, r in enumerate(rows, 1):
        missing = {"q", "kind", "category", "writer"} - set(r)
        if missing or r["kind"] not in ("emergency", "benign"):
            raise SystemExit(f"{path}:{i}: needs q, kind (emergency|benign), category, writer")
    return rows


def embed(texts: list[str]) -> dict[str, np.ndarray]:
    """Each text's feature rows for every feature kind, from the runtime encoder's token states
    (exactly what `mgqa ask` computes), cached by content so re-runs are quick."""
    from mgqa import settings
    from mgqa.embed import get_encoder

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = Path(settings.get("cache_dir")) / "triage" / f"features-{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in FEATURES}
    states = get_encoder("onnx", threads=0).encode_tokens(texts)
    out = {k: np.vstack([features(s, k) for s in states]) for k in FEATURES}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


# ------------------------------------------------------------------ candidates
# name: "<features>-C<inverse regularisation>[+sent]"; a multinomial logistic regression over the
# red-flag categories and "benign", on standardised features (the scaling is folded into the
# exported weights, so the runtime is one matrix product).
CANDIDATES = ["mean-C4", "mean-C16", "mean+max+cls-C0.1", "mean+max+cls-C0.3", "mean+max+cls-C1",
              "mean+max+cls-C0.3+sent"]


def parse(name: str) -> tuple[str, float, bool]:
    base = name.removesuffix("+sent")
    feats, c = base.rsplit("-C", 1)
    return feats, float(c), name.endswith("+sent")


def fit(name: str, x: np.ndarray, labels: list[str], classes: list[str]) -> TriageModel:
    """Fit candidate ``name`` and return it as the runtime's own model (so validation scores
    exactly what `mgqa ask` will compute)."""
    from sklearn.linear_model import LogisticRegression

    feats, c, sent = parse(name)
    y = np.array([classes.index(lab) for lab in labels])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=5000, random_state=SEED)
    clf.fit((x - mu) / sd, y, sample_weight=_balanced(labels))
    w = clf.coef_.T / sd[:, None]
    b = clf.intercept_ - mu @ w
    return TriageModel(classes=classes, layers=[(w.astype(np.float32), b.astype(np.float32))], threshold=0.5,
                       views="sentences" if sent else "whole", features=feats)


def _balanced(labels: list[str]) -> np.ndarray:
    """Emergencies and benign messages weigh the same in total, whatever their counts."""
    kinds = ["benign" if lab == BENIGN else "emergency" for lab in labels]
    counts = Counter(kinds)
    return np.array([len(kinds) / (2 * counts[k]) for k in kinds])


# ------------------------------------------------------------------ validation


def out_of_fold(name: str, rows: list[dict], whole: dict, views: list[dict], classes: list[str]) -> np.ndarray:
    """P(emergency) for every message from a model that never saw its writer."""
    feats, _, sent = parse(name)
    scores = np.zeros(len(rows))
    labels = [label(r) for r in rows]
    for w in sorted({r["writer"] for r in rows}):
        train = [i for i, r in enumerate(rows) if r["writer"] != w]
        model = fit(name, whole[feats][train], [labels[i] for i in train], classes)
        for i, r in enumerate(rows):
            if r["writer"] == w:
                scores[i] = model.emergency_probability(views[i][feats] if sent else whole[feats][i:i + 1])
    return scores


def label(row: dict) -> str:
    return row["category"] if row["kind"] == "emergency" else BENIGN


def operating_threshold(scores: np.ndarray, is_em: np.ndarray, target: float = TARGET_RECALL) -> float:
    """The highest threshold whose recall is at least ``target`` (recall first)."""
    em = np.sort(scores[is_em])
    k = int(np.floor((1 - target) * len(em)))  # emergencies allowed below the threshold
    return float(em[k]) if len(em) else 0.5


def summary(scores: np.ndarray, is_em: np.ndarray, threshold: float) -> dict:
    flagged = scores >= threshold
    return {"recall": float(flagged[is_em].mean()), "false_alarms": float(flagged[~is_em].mean()),
            "auc": _auc(scores, is_em)}


def _auc(scores: np.ndarray, is_em: np.ndarray) -> float:
    pos, neg = scores[is_em], scores[~is_em]
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


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
    ap.add_argument("--candidates", nargs="*", default=CANDIDATES)
    ap.add_argument("--log", type=Path, default=HERE / "train.log")
    ap.add_argument("--no-write", action="store_true", help="validate only; leave the shipped model alone")
    args = ap.parse_args(argv)
    log = io.StringIO()

    def say(text: str = "") -> None:
        print(text)
        log.write(text + "\n")

    rows = read_bank(args.bank)
    classes = sorted({r["category"] for r in rows if r["kind"] == "emergency"}) + [BENIGN]
    is_em = np.array([r["kind"] == "emergency" for r in rows])
    say(f"# triage training, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    say(f"bank {_shown(args.bank)}: {len(rows)} messages, {int(is_em.sum())} emergencies in "
        f"{len(classes) - 1} categories, {int((~is_em).sum())} benign; writers "
        + ", ".join(f"{w} {n}" for w, n in sorted(Counter(r['writer'] for r in rows).items())))

    whole = embed([r["q"] for r in rows])
    pieces = [message_views(r["q"])[1:] for r in rows]
    flat = embed([p for ps in pieces for p in ps] or ["-"])
    views, pos = [], 0
    for i, ps in enumerate(pieces):
        views.append({k: np.vstack([whole[k][i:i + 1], flat[k][pos:pos + len(ps)]]) for k in FEATURES})
        pos += len(ps)

    say(f"\n## leave-one-writer-out validation (target recall {TARGET_RECALL})")
    say("| candidate | AUC | threshold | recall | false alarms |\n|---|---|---|---|---|")
    results = {}
    for name in args.candidates:
        scores = out_of_fold(name, rows, whole, views, classes)
        t = operating_threshold(scores, is_em)
        s = summary(scores, is_em, t)
        results[name] = (scores, t, s)
        say(f"| {name} | {s['auc']:.4f} | {t:.3f} | {s['recall']:.3f} | {s['false_alarms']:.3f} |")

    best = min(results, key=lambda n: (results[n][2]["false_alarms"], -results[n][2]["auc"]))
    scores, t, s = results[best]
    say(f"\nchosen: {best} (fewest false alarms at recall >= {TARGET_RECALL}); threshold {t:.3f}")
    flagged = scores >= t
    say("\n### per category, out of fold (flagged / messages)")
    for (kind, cat), (f, n) in per_group(rows, flagged, "category").items():
        say(f"- {kind} {cat}: {f}/{n} = {f / n:.2f}")
    say("\n### per held-out writer")
    for w in sorted({r["writer"] for r in rows}):
        m = np.array([r["writer"] == w for r in rows])
        ws = summary(scores[m], is_em[m], t)
        say(f"- {w}: recall {ws['recall']:.3f}, false alarms {ws['false_alarms']:.3f}")
    say("\n### threshold trade-off, out of fold")
    say("| threshold | recall | false alarms |\n|---|---|---|")
    for q in sorted({round(float(v), 3) for v in np.quantile(scores[is_em], [0, .005, .01, .02, .05, .1, .2])}):
        ss = summary(scores, is_em, q)
        say(f"| {q:.3f} | {ss['recall']:.3f} | {ss['false_alarms']:.3f} |")
    say("\n### missed emergencies, out of fold")
    for r, sc, f in zip(rows, scores, flagged, strict=True):
        if r["kind"] == "emergency" and not f:
            say(f"- [{r['writer']} {r['category']}] {sc:.3f} {r['q'][:160]!r}")

    if not args.no_write:
        final = fit(best, whole[parse(best)[0]], [label(r) for r in rows], classes)
        final = final.with_threshold(t)
        meta = final.save(DATA, recipe={
            "candidate": best, "bank": str(_shown(args.bank)),
            "bank_sha256": hashlib.sha256(args.bank.read_bytes()).hexdigest(), "messages": len(rows),
            "validation": {"method": "leave-one-writer-out", "target_recall": TARGET_RECALL, **s},
            "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        say(f"\nwrote {DATA / 'triage_model.json'} (weights sha256 {meta['weights_sha256'][:16]}…)")
    args.log.write_text(log.getvalue(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

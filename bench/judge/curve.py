"""How the judge's held-out ranking grows with the number of clinics it trains on.

Would more clinics in the bank help? For each of train.py's four folds, the ranker is trained on
a random quarter, half, three quarters or all of the other folds' specialties (both clinics of a
specialty together; the magnesium sets and off-topic messages as in train.py, no MedQuAD: its
weight would hide the clinics' share), and scored on the held-out fold's clinics: Hit@1 and
Hit@3 of the ranking over every answerable question (no answering candidate in the top 10 is a
miss), and the AUC of the best candidate's logit for answerable against out-of-scope questions
(a proxy for abstention: train.py's abstention model needs nested folds). Fractions below 1 are
drawn twice with different seeds and averaged.

    .venv/bin/python bench/judge/curve.py     # about 15 minutes on one core, from train.py's cached pairs

Reads the pairs train.py cached under MGQA_CACHE_DIR/judge (run `make train-judge` once first).
Its log: curve.log.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

spec = importlib.util.spec_from_file_location("judge_train", HERE / "train.py")
jt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(jt)  # type: ignore[union-attr]

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DRAWS = 2


def main() -> None:
    import torch

    from mgqa import settings

    torch.set_num_threads(1)
    cache = Path(settings.get("cache_dir")) / "judge"
    datasets = dict(jt.cached(cache / "pairs-magnesium.npz", None, False))
    clinics = jt.cached(cache / "pairs-clinics.npz", None, False)
    others = {"off_topic": datasets.pop("off_topic")}
    answerable = {n: jt.answerable_of(n, d) for n, d in clinics.items()}
    out = open(HERE / "curve.log", "w", encoding="utf-8")

    def say(text: str) -> None:
        print(text, flush=True)
        out.write(text + "\n")
        out.flush()

    say(f"{len(clinics)} clinics of {len({jt.specialty(n) for n in clinics})} specialties; ranker as train.py "
        f"(no MedQuAD); held out by fold; fractions of the other folds' specialties {FRACTIONS}, {DRAWS} draws below 1")
    say("| training specialties (mean) | training clinics (mean) | held-out Hit@1 | Hit@3 | best-logit AUC (mean over clinics) |")
    say("|---:|---:|---:|---:|---:|")
    for fraction in FRACTIONS:
        rows = []
        for draw in range(DRAWS if fraction < 1 else 1):
            h1 = h3 = n = 0
            aucs, n_spec, n_clin = [], [], []
            for f in range(jt.FOLDS):
                specs = sorted({jt.specialty(c) for c in clinics if jt.fold_of(c) != f})
                keep = set(random.Random(1000 * draw + f).sample(specs, max(1, round(fraction * len(specs)))))
                train = [c for c in clinics if jt.fold_of(c) != f and jt.specialty(c) in keep]
                mags = [m for m in datasets if jt.fold_of(m) != f]
                names = train + mags + list(others)
                parts = [clinics.get(x) or datasets.get(x) or others[x] for x in names]
                weights = [1.0 / len(train) if x in clinics else s for x, s in zip(names, jt.shares(names), strict=True)]
                ranker = jt.fit_ranker(parts, weights)
                n_spec.append(len(keep))
                n_clin.append(len(train))
                for c in clinics:
                    if jt.fold_of(c) != f:
                        continue
                    _, y, _ = jt.questions_of(clinics[c])
                    s = jt.logits_of(ranker, clinics[c]).reshape(y.shape)
                    ranked = np.take_along_axis(y, np.argsort(-s, axis=1, kind="stable"), axis=1)[answerable[c]] > 0
                    h1, h3, n = h1 + int(ranked[:, 0].sum()), h3 + int(ranked[:, :3].any(1).sum()), n + len(ranked)
                    aucs.append(jt.auc(s.max(1), answerable[c]))
            rows.append((np.mean(n_spec), np.mean(n_clin), h1 / n, h3 / n, float(np.nanmean(aucs))))
        m = np.mean(rows, axis=0)
        say(f"| {m[0]:.1f} | {m[1]:.1f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.3f} |")
    out.close()


if __name__ == "__main__":
    main()

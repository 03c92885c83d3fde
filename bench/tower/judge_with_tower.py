"""The judge retrained on features computed with the query tower (bench/tower/tower.py), without
MedQuAD: each clinic's candidates and features come from the tower of its own fold (one that
never saw it), the magnesium sets' from a tower trained on every clinic. Compare with
bench/judge/train.py --no-medquad (held-out clinics 0.685 / 0.857). Writes nothing shipped: the
model goes to MGQA_CACHE_DIR/tower/. Its log: judge_with_tower.log.

    .venv/bin/python bench/tower/judge_with_tower.py      (about 15 minutes)
"""

import sys
from pathlib import Path

from tower import REPO, TowerEncoder, jt, settings, setup, train_tower


def main() -> None:
    encoder, data = setup()
    towers = {f: train_tower(data, [n for n, d in data.items() if d["fold"] != f], log=lambda m, f=f: print(f"fold {f}: {m}", flush=True))
              for f in range(jt.FOLDS)}
    full = train_tower(data, list(data), log=lambda m: print(f"full: {m}", flush=True))
    cache = Path(settings.get("cache_dir"))

    clinic_pairs, magnesium, cached = jt.clinic_pairs, jt.magnesium_pairs, jt.cached
    jt.clinic_pairs = lambda _encoder, cache: clinic_pairs(
        encoder, cache, asking=lambda name: TowerEncoder(encoder, towers[jt.fold_of(name)]))
    jt.magnesium_pairs = lambda _encoder: magnesium(TowerEncoder(encoder, full))
    jt.cached = lambda store, make, fresh: cached(store.with_name(store.name.replace("pairs-", "pairs-tower-")), make, fresh)
    jt.DATA = cache / "tower"
    jt.DATA.mkdir(parents=True, exist_ok=True)
    sys.argv = [str(REPO / "bench/judge/train.py"), "--no-medquad"]
    jt.main()


if __name__ == "__main__":
    main()

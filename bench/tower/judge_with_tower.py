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

    def clinic_pairs(_encoder, cache):
        from mgqa.answer import Engine
        from mgqa.evaluate import _index_documents, answer_span, holds_answer, load_gold
        from mgqa.index import open_index

        out = {}
        for qfile in sorted(jt.CLINICS.glob("*/questions.jsonl")):
            name = qfile.parent.name
            index = open_index(cache / "judge" / "clinics" / name, encoder)
            engine = Engine(index, TowerEncoder(encoder, towers[jt.fold_of(name)]), judge=None)
            docs = {d.id: d for d in _index_documents(index)}
            items = [dict(it, span=answer_span(it, docs) if it.get("answer") else None) for it in load_gold(qfile)]

            def label(it, row, index=index):
                c = index.chunks[row]
                return float(it["span"] is not None and holds_answer(c.doc_id, c.start, c.end, it, it["span"]))

            out[name] = jt.pairs(engine, items, label, name)
        return out

    magnesium, cached = jt.magnesium_pairs, jt.cached
    jt.clinic_pairs = clinic_pairs
    jt.magnesium_pairs = lambda _encoder: magnesium(TowerEncoder(encoder, full))
    jt.cached = lambda store, make, fresh: cached(store.with_name(store.name.replace("pairs-", "pairs-tower-")), make, fresh)
    jt.DATA = cache / "tower"
    jt.DATA.mkdir(parents=True, exist_ok=True)
    sys.argv = [str(REPO / "bench/judge/train.py"), "--no-medquad"]
    jt.main()


if __name__ == "__main__":
    main()

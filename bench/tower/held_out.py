"""The query tower's cosine alone, held out by clinic (bench/tower/tower.py): each fold's tower is
trained on the other folds' clinics and scores its own; Hit@1 against the encoder's own cosine,
plain fusion, and the tower's cosine reordering fusion's top 10. Its log: held_out.log.

    .venv/bin/python bench/tower/held_out.py      (about 8 minutes on one core)
"""

import numpy as np
import torch
from tower import jt, pad, setup, train_tower


def main() -> None:
    encoder, data = setup()
    print(f"{len(data)} clinics, {sum(len(d['items']) for d in data.values())} answerable questions", flush=True)
    rows = []
    for fold in range(jt.FOLDS):
        held = [n for n, d in data.items() if d["fold"] == fold]
        tower = train_tower(data, [n for n in data if n not in held], log=lambda m, fold=fold: print(f"fold {fold}: {m}", flush=True))
        hits = {"base": [], "tuned": [], "fused": [], "tuned_fused10": []}
        for name in held:
            d = data[name]
            with torch.no_grad():
                vecs = tower(*pad([it["shared"] for it in d["items"]])).numpy()
            for it, v in zip(d["items"], vecs, strict=True):
                s, f = d["P"] @ v, it["fused"]
                hits["base"].append(int(np.argmax(d["P"] @ it["qv"]) in it["pos"]))
                hits["tuned"].append(int(np.argmax(s) in it["pos"]))
                hits["fused"].append(int(bool(f) and f[0] in it["pos"]))
                hits["tuned_fused10"].append(int(bool(f) and f[int(np.argmax(s[f]))] in it["pos"]))
        print(f"fold {fold} held out {held}: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in hits.items())
              + f" over {len(hits['base'])}", flush=True)
        rows.append(hits)
    print("ALL held out, Hit@1: " + ", ".join(f"{k} {np.mean(sum((r[k] for r in rows), [])):.3f}" for k in rows[0]))


if __name__ == "__main__":
    main()

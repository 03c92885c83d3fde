"""Train the query tower (``make train-tower``) and ship it: src/mgqa/data/tower.onnx + tower_model.json.

The recipe is tower.py's (MiniLM's layers 5-6 on the question side only, over the shared layer-4
states; InfoNCE against each question's own clinic's passages; 3 epochs). Four fold towers are
trained first, each on the clinics of three of the judge's four folds (by specialty), and scored
on the fourth through the runtime's own int8 graph: Hit@1 of the tower's cosine against the
encoder's over held-out clinics. They are kept under MGQA_CACHE_DIR/tower/<shipped sha>/ because
`make train-judge` computes each bank clinic's features with the tower that never saw it. Then the
shipped tower is trained on every clinic. Log: bench/tower/train.log. About 10 minutes on one core.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import torch
from tower import EPOCHS, LR, REPO, TAU, export, jt, pad, settings, setup, train_tower

DATA = REPO / "src" / "mgqa" / "data"
HERE = Path(__file__).resolve().parent


def fold_dir(sha256: str) -> Path:
    """Where the fold towers of the shipped tower ``sha256`` are kept (bench/judge/train.py reads them)."""
    return Path(settings.get("cache_dir")) / "tower" / sha256[:16]


def main() -> int:
    out = open(HERE / "train.log", "w", encoding="utf-8")

    def say(text: str = "") -> None:
        print(text, flush=True)
        out.write(text + "\n")
        out.flush()

    say(f"# query tower training, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    encoder, data = setup()
    say(f"{len(data)} clinics, {sum(len(d['items']) for d in data.values())} answerable questions; "
        f"layers 5-6, InfoNCE at temperature {TAU} over each clinic's passages, {EPOCHS} epochs, lr {LR}")
    folds, hits = [], {"encoder": [], "tower": []}
    for fold in range(jt.FOLDS):
        held = [n for n, d in data.items() if d["fold"] == fold]
        net = train_tower(data, [n for n in data if n not in held], log=lambda m, fold=fold: say(f"fold {fold}: {m}"))
        tower = export(net, encoder.model_id)
        folds.append(tower)
        mine = {"encoder": [], "tower": []}
        for name in held:
            d = data[name]
            for it in d["items"]:
                mine["encoder"].append(int(np.argmax(d["P"] @ it["qv"]) in it["pos"]))
                mine["tower"].append(int(np.argmax(d["P"] @ tower.vector(it["shared"])) in it["pos"]))
        say(f"fold {fold}, held out {len(held)} clinics ({len(mine['tower'])} questions): cosine Hit@1, encoder "
            f"{np.mean(mine['encoder']):.3f}, tower (int8, as served) {np.mean(mine['tower']):.3f}")
        for k in hits:
            hits[k] += mine[k]
    say(f"held out by clinic, cosine alone, Hit@1: encoder {np.mean(hits['encoder']):.3f}, tower {np.mean(hits['tower']):.3f}")

    net = train_tower(data, list(data), log=lambda m: say(f"shipped: {m}"))
    tower = export(net, encoder.model_id)
    items = [it for d in data.values() for it in d["items"]][::10]
    with torch.no_grad():
        exact = net(*pad([it["shared"] for it in items])).numpy()
    agree = [float(tower.vector(it["shared"]) @ v) for it, v in zip(items, exact, strict=True)]
    say(f"int8 graph against the float tower: cosine mean {np.mean(agree):.4f}, lowest {np.min(agree):.4f} over {len(items)} questions")
    tower.save(DATA, recipe={"layers": [5, 6], "temperature": TAU, "epochs": EPOCHS, "lr": LR,
                             "clinics": len(data), "questions": sum(len(d["items"]) for d in data.values())})
    where = fold_dir(tower.sha256)
    where.mkdir(parents=True, exist_ok=True)
    for f, t in enumerate(folds):
        (where / f"fold-{f}.onnx").write_bytes(t.onnx)
    say(f"wrote {DATA.relative_to(REPO)}/tower.onnx (sha256 {tower.sha256[:16]}…) and the fold towers to {where}")
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

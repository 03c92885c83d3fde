"""What known questions buy at 0, 1, 3, 10, 30, 100 and all (about 270) answerable per passage:
the default corpus, whose known questions are dense enough to thin out, scored on blind sets 10
and 11 (spent; never among the known questions). The floor (``known.MIN_PER_PASSAGE``) is lifted
here so that every thinned set votes, which is what the floor would allow if it were lower.

    .venv/bin/python bench/known/per_passage.py

Each row thins the known questions at random (seed 0), answerable and out-of-scope ones alike,
to the fraction that leaves about k answerable ones per passage; the same index is rebuilt with
them and the sets are scored through the real engine. Prints one row per set and k.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from mgqa import evaluate, known  # noqa: E402
from mgqa.answer import Engine  # noqa: E402
from mgqa.embed import get_encoder  # noqa: E402
from mgqa.index import build_corpus  # noqa: E402

SETS = {"blind10": REPO / "bench/data/gold_blind10.jsonl", "blind11": REPO / "bench/data/gold_blind11.jsonl"}
PER_PASSAGE = (0, 1, 3, 10, 30, 100, None)  # None: all of them
SHOWN = ("Hit@1", "Hit@3", "answered (answerable)", "abstention recall")


def main() -> None:
    rows = [json.loads(line) for line in (REPO / "src/mgqa/corpus" / known.FILE_NAME).read_text(encoding="utf-8").splitlines()]
    assert not {r["source"] for r in rows} & set(SETS), "a scored set is among the known questions"
    known.MIN_PER_PASSAGE = 0  # measure below the floor too: that is the question
    encoder = get_encoder(threads=0)
    golds = {name: evaluate.load_gold(path) for name, path in SETS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        base, _ = build_corpus([], Path(tmp) / "base", encoder)
        passages = len(base.chunks)
    answerable = sum(r["kind"] == "answerable" for r in rows)
    print(f"{len(rows)} known questions, {answerable} answerable, {passages} passages "
          f"({answerable / passages:.0f} answerable per passage)\n")
    print("| set | answerable known per passage | known questions | " + " | ".join(SHOWN) + " |")
    print("|---|---:|---:|" + "---:|" * len(SHOWN))
    for k in PER_PASSAGE:
        fraction = 1.0 if k is None else min(1.0, k * passages / answerable)
        kept = [r for r in rows if random.Random(f"0:{r['id']}").random() < fraction]
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / known.FILE_NAME
            file.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
            index, _ = build_corpus([], Path(tmp) / "ix", encoder, known=file if kept else None)
            engine = Engine(index, encoder)
            if not kept:
                engine = engine.without_known()
            got = sum(r["kind"] == "answerable" for r in kept) / passages
            for name, gold in golds.items():
                m = evaluate.run_gold(engine, gold).metrics()
                print(f"| {name} | {got:.1f} | {len(kept)} | " + " | ".join(f"{m[s]:.3f}" for s in SHOWN) + " |", flush=True)


if __name__ == "__main__":
    main()

"""Each of the project's older sets (gold, unseen, held-out) scored by the real engine with its
own questions removed from the known questions, so that none votes for itself, alongside the
judge alone and the pipeline without the judge (docs/QUALITY.md, "no regression"). About a
minute a set: the default corpus is indexed once per set with the other sets' known questions."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from mgqa import evaluate, known  # noqa: E402
from mgqa.answer import Engine  # noqa: E402
from mgqa.embed import get_encoder  # noqa: E402
from mgqa.index import build_corpus  # noqa: E402

SETS = {"gold": None, "unseen": REPO / "bench/data/gold_unseen.jsonl", "test": REPO / "bench/data/gold_test.jsonl"}
SHOWN = ("Hit@1", "Hit@3", "answered (answerable)", "abstention recall")


def main() -> None:
    rows = [json.loads(line) for line in (REPO / "src/mgqa/corpus" / known.FILE_NAME).read_text(encoding="utf-8").splitlines()]
    encoder = get_encoder()
    print("| set | pipeline | " + " | ".join(SHOWN) + " |\n|---|---|" + "---:|" * len(SHOWN))
    for name, path in SETS.items():
        with tempfile.TemporaryDirectory() as tmp:
            others = Path(tmp) / "others.jsonl"
            others.write_text("".join(json.dumps(r) + "\n" for r in rows if r["source"] != name), encoding="utf-8")
            index, _ = build_corpus([], Path(tmp) / "ix", encoder, known=others)
            engine = Engine(index, encoder)
            gold = evaluate.load_gold(path)
            for label, e in (("known questions + judge", engine), ("judge alone", engine.without_known()),
                             ("without the judge", engine.without_judge())):
                m = evaluate.run_gold(e, gold).metrics()
                print(f"| {name} | {label} | " + " | ".join(f"{m[k]:.3f}" for k in SHOWN) + " |", flush=True)


if __name__ == "__main__":
    main()

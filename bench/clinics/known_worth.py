"""What a clinic's known questions buy on pages the judge never trained on: the blind corpora
(spent after their first runs), each scored on every other question of its set, with none of
its questions known and with the other half written down as known questions.

    .venv/bin/python bench/clinics/known_worth.py

The questions scored are never known; the known ones come from the same writer's set (a clinic
writing down its patients' questions looks like this). Prints one row per corpus and setting.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

from mgqa import evaluate  # noqa: E402
from mgqa.answer import Engine  # noqa: E402
from mgqa.embed import get_encoder  # noqa: E402
from mgqa.index import build_corpus  # noqa: E402
from mgqa.ingest import read_paths  # noqa: E402

CORPORA = ("handtherapy", "rheumatology", "woundcare", "menopause")
SHOWN = ("Hit@1", "Hit@3", "answered (answerable)", "abstention recall")


def halves(gold: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every other question (answerable and out-of-scope alike) known; the rest scored."""
    return gold[0::2], gold[1::2]


def main() -> int:
    encoder = get_encoder(threads=0)
    print("| corpus | known questions | scored | " + " | ".join(SHOWN) + " |")
    print("|---|---|---:|" + "---:|" * len(SHOWN))
    for name in CORPORA:
        folder = HERE / "blind" / name
        known_half, scored = halves(evaluate.load_gold(folder / "questions.jsonl"))
        # a known question's answer must be verbatim in its page (some gold answers are found only
        # as read, without their Markdown): those few are left out of the known half
        texts = {d.id: d.text for d in read_paths([folder / "pages"]).documents}
        known_half = [q for q in known_half if q["kind"] != "answerable" or q["answer"] in texts.get(q["doc_id"], "")]
        for known in ([], known_half):
            with tempfile.TemporaryDirectory() as tmp:
                known_file = Path(tmp) / "known.jsonl"
                known_file.write_text("".join(json.dumps(q) + "\n" for q in known), encoding="utf-8")
                index, _ = build_corpus([folder / "pages"], Path(tmp) / "ix", encoder, known=known_file if known else None)
                m = evaluate.run_gold(Engine(index, encoder), scored).metrics()
            per = sum(q["kind"] == "answerable" for q in known) / len(index.chunks)
            print(f"| {name} | {len(known)} ({per:.1f} answerable per passage) | {len(scored)} | "
                  + " | ".join(f"{m[s]:.3f}" for s in SHOWN) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

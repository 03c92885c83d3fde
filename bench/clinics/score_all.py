"""Score every clinic of the bank (or those named) as `mgqa eval --docs` does, and print one row
per clinic and the mean: the shipped pipeline served, and plain fusion's ranking of the same
passages, in the same run.

    .venv/bin/python bench/clinics/score_all.py [--json OUT] [clinic ...]

Blind corpora (bench/clinics/blind/) are never scored by this script: each is run once, by hand,
with `mgqa eval --docs`, and its first run kept beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

from mgqa import evaluate  # noqa: E402
from mgqa.embed import get_encoder  # noqa: E402

SHOWN = ("Hit@1", "Hit@3", "answered (answerable)", "abstention recall", "false emergency rate")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clinics", nargs="*", help="clinic folder names [default: every clinic of the bank]")
    ap.add_argument("--json", type=Path, help="write every clinic's figures here")
    args = ap.parse_args(argv)
    names = args.clinics or sorted(p.parent.name for p in HERE.glob("*/questions.jsonl"))
    encoder = get_encoder(threads=0)
    rows = {}
    print("| clinic | " + " | ".join(SHOWN) + " | plain fusion Hit@1 | plain fusion Hit@3 |")
    print("|---|" + "---|" * (len(SHOWN) + 2))
    for name in names:
        gold = evaluate.load_gold(HERE / name / "questions.jsonl")
        reports, _ = evaluate.run_docs(HERE / name / "pages", gold, encoder, compare=True)
        served, plain = reports["served"].metrics(), evaluate.ranking_metrics(reports["plain fusion"])
        rows[name] = {"served": served, "plain fusion": plain}
        print(f"| {name} | " + " | ".join(f"{served[k]:.3f}" for k in SHOWN)
              + f" | {plain['Hit@1, ranking alone']:.3f} | {plain['Hit@3, ranking alone']:.3f} |", flush=True)
    mean = {k: sum(r["served"][k] for r in rows.values()) / len(rows) for k in SHOWN}
    pmean = {k: sum(r["plain fusion"][k] for r in rows.values()) / len(rows) for k in rows[names[0]]["plain fusion"]}
    print(f"| **mean of {len(rows)}** | " + " | ".join(f"{mean[k]:.3f}" for k in SHOWN)
          + f" | {pmean['Hit@1, ranking alone']:.3f} | {pmean['Hit@3, ranking alone']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

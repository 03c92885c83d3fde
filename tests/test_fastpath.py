"""The fast path changes no answer: every gold question answered with the ONNX query encoder (what
`mgqa ask` uses) and with sentence-transformers itself (the reference) gives the same statuses,
passages, citations, ranks and highlights. Scores may differ in the 4th decimal."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgqa.evaluate import load_gold

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[1]
GOLD = load_gold()


SCORE_TOLERANCE = 0.01  # rounding both to 2 decimals would flip on a 0.445 boundary now and then


def assert_same(fast: dict, reference: dict) -> None:
    """Everything the answer contract holds is identical, but scores (the passages' and the triage
    model's probability), which agree within a tolerance."""
    scores = [(f["score"], r["score"]) for f, r in zip(fast["passages"], reference["passages"], strict=False)]
    if fast["triage"] and reference["triage"]:
        scores.append((fast["triage"]["score"], reference["triage"]["score"]))
    unscored = [{k: v for k, v in a.items() if k not in ("passages", "triage")} | {"passages": [
        {k: v for k, v in p.items() if k != "score"} for p in a["passages"]]}
        | {"triage": a["triage"] and {k: v for k, v in a["triage"].items() if k != "score"}} for a in (fast, reference)]
    assert unscored[0] == unscored[1], fast["question"]
    assert all(abs(f - r) <= SCORE_TOLERANCE for f, r in scores), (fast["question"], scores)


def cli_answers(encoder: str, questions: list[str]) -> list[dict]:
    """`mgqa ask --json` over stdin, one process, with MGQA_ENCODER=encoder."""
    env = dict(os.environ, MGQA_ENCODER=encoder, NO_COLOR="1")
    r = subprocess.run([sys.executable, "-m", "mgqa", "ask", "--json", "-k", "3"], input="\n".join(questions) + "\n",
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def library_answers(encoder: str, items: list[dict]) -> list[dict]:
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder

    engine = Engine.load(REPO / "index", get_encoder(encoder))
    return [engine.ask(i["question"], i["history"], k=3).to_dict() for i in items]


def test_gold_questions_answer_the_same_with_the_fast_encoder_from_the_command_line():
    questions = [g["question"] for g in GOLD if not g.get("history")]
    fast, reference = cli_answers("onnx", questions), cli_answers("torch", questions)
    assert len(fast) == len(reference) == len(questions)
    for f, r in zip(fast, reference, strict=True):
        assert_same(f, r)


def test_follow_ups_answer_the_same_with_the_fast_encoder():
    items = [g for g in GOLD if g.get("history")]
    assert items, "the gold set has follow-up questions"
    fast, reference = library_answers("onnx", items), library_answers("torch", items)
    for f, r in zip(fast, reference, strict=True):
        assert_same(f, r)

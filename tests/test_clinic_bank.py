"""The clinic bank (bench/clinics): every clinic's pages are read whole and every gold answer is
found in its page, so a bank clinic can be scored by `mgqa eval --docs` without one refused line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgqa.evaluate import _gold_item, answer_span
from mgqa.ingest import read_paths

BANK = Path(__file__).resolve().parents[1] / "bench" / "clinics"
CLINICS = sorted(p.parent for p in BANK.glob("**/questions.jsonl"))


def test_the_bank_has_clinics():
    assert len(CLINICS) >= 8


@pytest.mark.parametrize("clinic", CLINICS, ids=lambda p: p.relative_to(BANK).as_posix())
def test_every_page_is_read_and_every_answer_found(clinic):
    report = read_paths([clinic / "pages"])
    assert report.skipped == [] and len(report.documents) >= 4
    docs = {d.id: d for d in report.documents}
    lines = [line for line in (clinic / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [_gold_item(line, f"{clinic.name}:{n}") for n, line in enumerate(lines, 1)]
    assert len(items) >= 120 and len({i["id"] for i in items}) == len(items)
    kinds = {k: sum(i["kind"] == k for i in items) for k in ("answerable", "unanswerable")}
    assert kinds["answerable"] >= 60 and kinds["unanswerable"] >= 25
    assert sum(bool(i.get("history")) for i in items) >= 10  # follow-ups
    for item in items:
        if item["kind"] == "answerable":
            start, end = answer_span(item, docs)
            assert end > start


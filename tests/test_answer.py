import json
import os
from pathlib import Path

import pytest

from mgqa.answer import Engine, validate
from mgqa.clinic import packaged
from mgqa.errors import InvalidQuestion, QuestionTooLong

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording
DISCLAIMER = WORDS.disclaimer
EMERGENCY_NOTICE = WORDS.emergency_notice
NO_ANSWER_NOTICE = WORDS.no_answer

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("question, golden", [
    ("What dose of magnesium did the fibromyalgia trial use?", "golden_answer.json"),
    ("I can't breathe and my lips are going blue", "golden_emergency.json"),
])
def test_golden_answer_contract(engine, question, golden):
    """The JSON contract clients build on. Regenerate with MGQA_UPDATE_GOLDEN=1 after a deliberate change."""
    got = engine.ask(question, k=2).to_dict()
    if os.environ.get("MGQA_UPDATE_GOLDEN"):
        (DATA / golden).write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads((DATA / golden).read_text())


def test_every_status_carries_the_disclaimer(engine):
    answered = engine.ask("slow-release magnesium supplement trial dose")
    refused = engine.ask("zzzz qqqq")
    emergency = engine.ask("I think I'm having a heart attack, crushing chest pain")
    assert (answered.status, refused.status, emergency.status) == ("answered", "no_answer", "emergency")
    assert {answered.disclaimer, refused.disclaimer, emergency.disclaimer} == {DISCLAIMER}
    assert refused.notice == NO_ANSWER_NOTICE and refused.passages == []
    assert emergency.notice == EMERGENCY_NOTICE and emergency.passages == []
    assert answered.notice is None


@pytest.mark.parametrize("bad", ["", " ", "\u200b\u200b", "\x00\x01", None, 42])
def test_invalid_questions(bad):
    with pytest.raises(InvalidQuestion):
        validate(bad)


def test_length_limit_is_a_setting(monkeypatch):
    assert validate("a" * 1000)
    with pytest.raises(QuestionTooLong, match="1,001 characters long; the limit is 1,000"):
        validate("a" * 1001)
    monkeypatch.setenv("MGQA_MAX_QUESTION_CHARS", "10")
    with pytest.raises(QuestionTooLong):
        validate("a" * 11)


def test_question_is_cleaned_before_use(engine):
    a = engine.ask("  slow-release\u200b magnesium\n\n supplement  ")
    assert a.question == "slow-release magnesium supplement"


def test_a_citation_links_to_the_passage_on_its_web_source(tmp_path, fake):
    from mgqa.index import build_corpus

    index, _ = build_corpus([DATA / "docs" / "extra.jsonl"], tmp_path / "index", fake)
    answer = Engine(index, fake).ask("Do people with reduced kidney function need advice before magnesium?")
    by_doc = {p.citation.doc_id: p.citation for p in answer.passages}
    assert by_doc["kidney"].link == ("https://clinic.example/kidneys#:~:text=People%20with%20reduced%20kidney,"
                                     "need%20a%20doctor%27s%20advice.")
    assert by_doc["epsom"].source is None and by_doc["epsom"].link is None


def test_default_documents_have_no_url_so_no_link(engine):
    answer = engine.ask("What dose of magnesium did the fibromyalgia trial use?")
    assert answer.passages and all(p.citation.link is None for p in answer.passages)

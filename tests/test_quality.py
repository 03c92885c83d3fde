"""Answer quality and safety pieces, exact with the fake embedder."""

import pytest

from mgqa.answer import contextual_query
from mgqa.index import corpus_synonyms
from mgqa.normalize import fold


def test_emergency_comes_first_in_the_answer(engine):
    a = engine.ask("I want to kill myself, what dose of magnesium would do it?")
    assert a.status == "emergency" and a.passages == []


def test_fold_plain_punctuation():
    assert fold("Magnesium’s “role”—IV") == "magnesium's \"role\" - iv"


@pytest.mark.parametrize("patient, term", [("IV drip for migraine", "intravenous"), ("period cramps", "menstrual"),
                                            ("blood test for magnesium", "serum"), ("mag pills", "oral")])
def test_patient_words_gain_document_terms(patient, term):
    assert term in corpus_synonyms([]).expand(patient)


def test_follow_up_reads_with_previous_question():
    assert contextual_query("what about for migraines?", ["Does magnesium help fibromyalgia?"]) == \
        "Does magnesium help fibromyalgia? what about for migraines?"
    standalone = "Which foods are rich in magnesium according to Duval?"
    assert contextual_query(standalone, ["Does magnesium help fibromyalgia?"]) == standalone
    assert contextual_query("what about for migraines?", []) == "what about for migraines?"


def test_lexical_finds_exact_terms_and_numbers(default_index, engine):
    from mgqa.retrieve import search

    for q, needle in [("948 participants", "948 participants"), ("L-threonate", "L-threonate"),
                      ("eclampsia", "eclampsia"), ("5.7 to 5.1", "5.7 to 5.1")]:
        (top,) = search(default_index, engine.encoder.encode([q])[0], q, k=1, mode="lexical")
        assert needle in default_index.chunks[top.chunk_id].text, q


def test_overlapping_passages_are_returned_once(default_index, engine):
    from dataclasses import replace

    from mgqa.retrieve import search

    chunks = default_index.chunks
    # make chunk 1 overlap chunk 0's span: only the better of the two may be returned
    default_index.chunks = [chunks[0], replace(chunks[1], start=chunks[0].start, end=chunks[1].end), *chunks[2:]]
    q = "Fibromyalgia is a difficult condition to diagnose"
    hits = search(default_index, engine.encoder.encode([q])[0], q, k=5)
    ids = [h.chunk_id for h in hits]
    assert not (0 in ids and 1 in ids)
    assert len(ids) == 5


def test_highlight_prefers_the_sentence_with_the_asked_for_kind_of_answer(engine):
    p = engine.ask("What dose of magnesium did the fibromyalgia trial use?").passages[0]
    marked = [p.text[s:e] for s, e in p.highlights]
    assert any("100 milligrams" in m for m in marked)
    # the trial's topic sentence may clear KEEP_RATIO too (0.71 of the dose sentence); the rest may not
    assert len(marked) <= 2 and not any(m.startswith("Researchers also tracked") for m in marked)

"""Abstention's explicit part: population rules (data/populations.tsv) and the decision's threshold."""

import pytest

from mgqa.errors import MgqaError
from mgqa.scope import Decision, asked_populations, for_population, parse_populations
from mgqa.types import Hit


@pytest.mark.parametrize("question, population", [
    ("What's the right magnesium dose for my 6 year old?", "children"),
    ("can kids take magnesium for migraines", "children"),
    ("is a magnesium drip ok in my second trimester", "pregnancy"),
    ("I'm pregnant and get awful headaches, can I have the infusion?", "pregnancy"),
    ("safe while breastfeeding?", "pregnancy"),
])
def test_questions_about_a_population_are_recognised(question, population):
    assert [p.name for p in asked_populations(question)] == [population]


@pytest.mark.parametrize("question", [
    "I'm 52 and my fibro pain is bad most days, did magnesium lower pain in the study?",
    "my daughter is 25 and gets migraines, would infusions help her",
    "what dose did the trial use",
])
def test_adults_and_plain_questions_name_no_population(question):
    assert asked_populations(question) == []


def test_only_passages_naming_the_population_may_be_quoted(default_index):
    chunks = default_index.chunks
    hits = [Hit(i, 1.0 - i / 100, 0.5) for i in range(len(chunks))]
    kept, ruled_out = for_population("how much magnesium for my 4 year old", hits, chunks)
    assert kept == [] and ruled_out == "children"  # the default documents never speak of children
    kept, ruled_out = for_population("how much magnesium did the trial use", hits, chunks)
    assert kept == hits and ruled_out is None


@pytest.mark.parametrize("text, line", [
    ("# comment\n\nchildren\tkids\n", 3),  # two fields
    ("children\tkids\tchild\nteens\t(unclosed\tteen\n", 2),  # a bad regex
    ("a\t\tb\n", 1),  # an empty field
])
def test_a_bad_population_line_is_named_with_its_number(text, line):
    with pytest.raises(MgqaError, match=f"line {line}:"):
        parse_populations(text)


def test_the_threshold_applies_to_the_judge_probability_when_there_is_one():
    assert Decision(0.2, 0.9, 0.5).answer()  # low cosine, but the judge says it answers
    assert not Decision(0.9, 0.3, 0.5).answer()  # close in topic, yet not an answer
    assert Decision(0.9, 0.3, 0.5).answer(0.25)  # a sweep replays other thresholds
    assert Decision(0.35).answer() and not Decision(0.25).answer()  # without the judge: the cosine
    assert not Decision(0.9, 0.99, 0.5, population="children").answer()
    assert not Decision(None).answer()

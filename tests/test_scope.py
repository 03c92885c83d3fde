"""Abstention's topic-coverage rule: which words are topics, and when an uncovered one ends the answer."""

import pytest

from mgqa.scope import Decision, topic_words, uncovered


@pytest.mark.parametrize("question, missing", [
    ("can kids take magnesium for kidney stones?", {"kids", "kidney", "stones"}),
    ("how much ibuprofen can I take for a headache", {"ibuprofen"}),
    ("What's the right magnesium dose for my 6 year old?", {"children"}),  # an age names a child
    ("which brand of magnesium glycinate is best", {"brand"}),
    ("is it safe to take magnesium if I have chronic kidney disease", {"kidney", "disease"}),
])
def test_topics_the_documents_never_mention_are_uncovered(default_index, question, missing):
    assert set(uncovered(question, default_index)) == missing


@pytest.mark.parametrize("question", [
    "I'm 52 and my fibro pain is bad most days, did magnesium lower pain in the study?",  # an age is not a topic
    "do ppl with fibromyalgia usually have low magnesium?",  # texting shorthand
    "what about something i can put on my skin instead",  # where it is felt, not what it is about
    "how does magnesium effect migranes",  # a typo of a corpus word
    "I'm already on duloxetine, is there evidence magnesium helps fibromyalgia stress?",  # a medication one is on
])
def test_patient_context_is_not_an_uncovered_topic(default_index, question):
    assert uncovered(question, default_index) == []


def test_numbers_are_not_topic_words():
    assert "52" not in topic_words("I'm 52 and have had migraines for 3 days")


def test_an_uncovered_word_ends_the_answer_unless_the_question_is_mostly_covered():
    assert not Decision(["ibuprofen"], 0.8, False, topics=2).answer()  # half the topic
    assert not Decision(["zigzag", "flashing"], 0.8, False, topics=6).answer()  # a third
    assert Decision(["practitioner"], 0.8, False, topics=4).answer()  # one context word in four
    assert not Decision(["kids"], 0.9, False, topics=10).answer()  # whom it is for: always
    assert not Decision([], 0.2, False, topics=3).answer()  # covered, but no passage close enough
    assert Decision([], 0.2, True, topics=1).answer()  # ... unless it holds the exact term asked for

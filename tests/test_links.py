"""Deep links to a quoted passage (URL Text Fragments)."""

import re
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mgqa.links import encode_term, is_web_url, passage_link, text_directive

URL = "https://clinic.example/magnesium"


def terms(link: str) -> list[str]:
    """The decoded textStart (and textEnd) of a link made by passage_link."""
    directive = link.split(":~:text=", 1)[1]
    return [unquote(t) for t in directive.split(",")]


def test_the_docstring_example():
    link = passage_link(URL, "Take 100 mg daily, with food.\n\nAsk first.")
    assert link == URL + "#:~:text=Take%20100%20mg%20daily%2C,Ask%20first."


@pytest.mark.parametrize("passage, start, end", [
    ("Slow-release magnesium, 100 mg - once daily - for one month in the trial.",
     "Slow-release magnesium, 100 mg", "month in the trial."),
    ("Pain & fatigue improved, and sleep too, in most of the 948 participants overall.",
     "Pain & fatigue improved,", "the 948 participants overall."),
    ('He said "it helps" — twice; patients’ reports agreed with the doctors’ notes here.',
     'He said "it helps"', "the doctors’ notes here."),
    ("Магний помогает при мигрени у многих взрослых пациентов в исследованиях клиники.",
     "Магний помогает при мигрени", "пациентов в исследованиях клиники."),
    ("The clinical trial found—for the first time—that magnesium may help.\n\n"
     "The study’s primary goal was stress.\n\nResearchers also tracked overall well-being.",
     "The clinical trial found—for", "also tracked overall well-being."),
])
def test_start_and_end_are_the_passages_own_words(passage, start, end):
    assert terms(passage_link(URL, passage)) == [start, end]


@pytest.mark.parametrize("passage, whole", [
    ("Magnesium.", "Magnesium."),
    ("Ask your doctor first, please.", "Ask your doctor first, please."),
    ("  •  Pain Signal Modulation: less pain  ", "Pain Signal Modulation: less pain"),
    ("café & crème – ok", "café & crème – ok"),
])
def test_a_short_passage_is_quoted_whole(passage, whole):
    assert terms(passage_link(URL, passage)) == [whole]


def test_special_characters_are_percent_encoded():
    link = passage_link(URL, 'a-b, c&d "e" #f café')
    directive = link.split(":~:text=", 1)[1]
    assert directive == "a%2Db%2C%20c%26d%20%22e%22%20%23f%20caf%C3%A9"
    assert encode_term("x-y,z&w") == "x%2Dy%2Cz%26w"


def test_terms_never_reach_across_a_paragraph():
    passage = "One two three four five six seven\nEight\n\nnine ten eleven twelve thirteen"
    start, end = terms(passage_link(URL, passage))
    assert start == "One two three four" and end == "ten eleven twelve thirteen"
    one_line = "alpha beta gamma\ndelta"
    assert terms(passage_link(URL, one_line)) == ["alpha beta gamma", "delta"]


def test_bullets_and_lone_dashes_are_not_part_of_a_term():
    passage = "• First point here for you\n  – Second point, the last one –"
    assert terms(passage_link(URL, passage)) == ["First point here for", "point, the last one"]


@pytest.mark.parametrize("source", [None, "", "Zena le Roux, The Epoch Times", "notes.md", "ftp://x.example/a",
                                    "javascript:alert(1)", "https://", "https://x.example/a b", "//x.example/a"])
def test_no_link_without_a_web_url(source):
    assert passage_link(source, "Some passage text here.") is None


def test_an_existing_fragment_is_kept_and_an_old_directive_replaced():
    assert passage_link(URL + "#dose", "Take it.") == URL + "#dose:~:text=Take%20it."
    assert passage_link(URL + "#:~:text=old", "New words.") == URL + "#:~:text=New%20words."


def test_a_passage_without_words_links_to_the_page():
    assert passage_link(URL, "  • — \n\n – ") == URL
    assert passage_link(URL, "") == URL
    assert text_directive("") == ""


def test_web_urls():
    assert is_web_url("http://127.0.0.1:8000/page.html") and is_web_url(URL)
    assert not is_web_url("https://[bad") and not is_web_url("mailto:a@b.example")


@given(st.text(max_size=300))
def test_any_passage_gives_terms_of_its_own_contiguous_words(passage):
    link = passage_link(URL, passage)
    assert link is not None and link.startswith(URL)
    if link == URL:
        return
    directive = link.split(":~:text=", 1)[1]
    assert all(ch not in directive for ch in " -&#\n\t\"<>") and 1 <= directive.count(",") + 1 <= 2
    lines = [unmarked(line) for line in passage.splitlines()]
    for term in terms(link):
        assert term and any(unmarked(term) in line for line in lines)  # words of one line, in order


def unmarked(text: str) -> str:
    """Text as a published page shows it: Markdown emphasis gone, spaces collapsed."""
    return " ".join(re.sub(r"[*_`]", "", text).split())


def test_markdown_emphasis_is_not_part_of_a_term():
    passage = "**Can I drive home afterwards?**\n\nNo, please arrange for _someone_ to collect you."
    assert terms(passage_link(URL, passage)) == ["Can I drive home", "someone to collect you."]

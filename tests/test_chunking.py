import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mgqa.chunking import ChunkParams, chunk_document, question_end
from mgqa.ingest import default_documents, read_paths
from mgqa.types import Document

DOCS = default_documents()
CHROME = ["graphic of patient information"]
ACTIONS = ["Thank you for your enquiry", "Oops! Something went wrong", "Book an appointment today", "Join the waitlist",
           "Express your interest", "Download Information Sheets", "Want to learn more"]
BYLINE = "date 2025-05-09 Authored by Zena le Roux via The Epoch Times (emphasis ours),"
HEADINGS = ["Study Findings", "Fibromyalgia and Headaches", "How Magnesium Works", "Easy Ways to Get More Magnesium",
            "Drug Interactions", "Moving Forward", "What Research Shows", "Added Benefits of Intravenous Magnesium",
            "How Magnesium Infusions Work for Headache Relief"]


def all_passages():
    return [(d, c) for d in DOCS for c in chunk_document(d)]


def test_every_default_passage_is_exact_and_reads_whole():
    passages = all_passages()
    assert len(passages) >= 20  # 25 with min_chars=500
    for doc, c in passages:
        assert doc.text[c.start:c.end] == c.text
        assert c.text == c.text.strip()
        if c.text == BYLINE:
            continue
        # reads whole: starts like a sentence and ends with sentence punctuation or a list item
        assert c.text[0].isupper() or c.text[0] in "“\"", c.text[:40]
        words = len(c.text.split())
        assert words >= 12, f"too short to be a passage: {c.text!r}"


@pytest.mark.parametrize("phrase", CHROME)
def test_no_default_passage_holds_web_chrome(phrase):
    for _, c in all_passages():
        assert phrase.lower() not in c.text.lower(), c.text


def test_calls_to_action_read_together_apart_from_the_prose():
    holding = {c.text for _, c in all_passages() if any(a in c.text for a in ACTIONS)}
    assert len(holding) == 1  # the page's run of calls to action, with chrome between them left out
    (notice,) = holding
    assert all(a in notice for a in ACTIONS)
    assert notice.startswith("Want to learn more") and "graphic of" not in notice
    assert "Menstrual Pain Relief" not in notice  # the prose before it is not merged in


def test_the_byline_is_a_passage_of_its_own_in_no_section():
    byline = [c for _, c in all_passages() if "Authored by" in c.text]
    assert [c.text for c in byline] == [BYLINE]
    assert byline[0].section is None


def test_a_long_line_mentioning_booking_is_prose():
    text = ("Intro\n\nBook an appointment today if you wish, but first read how the infusion works, what it costs "
            "and how long it takes, because many patients find that the details matter more than they expected "
            "before they first came in to see us at the clinic.\n")
    (c,) = chunk_document(doc(text))
    assert c.section == "Intro"  # prose under its heading, not a notice


def test_no_default_passage_is_a_lone_heading():
    for _, c in all_passages():
        assert c.text not in HEADINGS
        first_line = c.text.split("\n")[0]
        assert first_line not in HEADINGS, c.text


def test_headings_become_sections():
    by_text = {c.text[:40]: c for _, c in all_passages()}
    trial = next(c for t, c in by_text.items() if t.startswith("The clinical trial found"))
    assert trial.section == "Study Findings"
    drugs = next(c for _, c in all_passages() if "calcium channel blockers" in c.text)
    assert drugs.section == "Drug Interactions"
    bullets = next(c for _, c in all_passages() if "Pain Signal Modulation" in c.text)
    assert bullets.section == "How Magnesium Infusions Work for Headache Relief"
    assert "Magnesium infusions deliver" in bullets.text  # the list's intro reads with it


def test_food_list_stays_with_its_intro():
    c = next(c for _, c in all_passages() if "Pumpkin seeds" in c.text)
    assert c.text.startswith("Duval recommends several magnesium-rich foods")
    assert "Bananas" in c.text
    assert c.section == "Easy Ways to Get More Magnesium"


def test_default_passages_fit_the_model_window():
    from tokenizers import Tokenizer

    from mgqa.embed import MAX_TOKENS, model_path

    tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    for _, c in all_passages():
        assert len(tok.encode(c.text).ids) <= MAX_TOKENS


def doc(text):
    return Document("d", "T", text)


@pytest.mark.parametrize("text", ["", "   \n\n ", "Heading only", "😀 emoji only 😀",
                                  "# A\n## B\n### C", "x" * 5000, "One. " * 600,
                                  "Café—naïve “quotes” and ümlauts are fine here, said the doctor.\r\nNext line."])
def test_offsets_hold_for_awkward_inputs(text):
    params = ChunkParams()
    for c in chunk_document(doc(text), params):
        assert text[c.start:c.end] == c.text
        assert 0 < len(c.text) <= params.max_chars


def test_long_paragraph_is_split_at_sentence_boundaries():
    sentences = [f"Sentence number {i} talks about magnesium and migraine relief in some detail." for i in range(40)]
    text = "Section\n\n" + " ".join(sentences)
    chunks = chunk_document(doc(text))
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= ChunkParams().max_chars
        assert c.text.startswith("Sentence number") and c.text.endswith("detail.")
        assert c.section == "Section"
    assert "".join(c.text for c in chunks).replace(" ", "") == " ".join(sentences).replace(" ", "")


def test_markdown_headings_bullets_and_setext():
    text = "Title\n=====\n\nIntro text that explains things at some length for the reader.\n\n## Dose\n\n- 100 mg daily\n- with food\n"
    chunks = chunk_document(doc(text))
    assert [c.section for c in chunks] == ["Title", "Dose"]
    assert chunks[1].text == "- 100 mg daily\n- with food"
    assert not any(re.fullmatch(r"=+", c.text) for c in chunks)


def test_a_clinic_page_keeps_its_calls_to_action_and_drops_its_chrome():
    text = ("Back Pain Clinic\n\nBy Dr Ann Lee\n\nSkip to content\n\nHow we treat\n\n"
            "Our physiotherapists assess each patient and design a programme of exercises for the lower back.\n\n"
            "We use cookies to improve this site. Accept cookies policy\n"
            "Book an appointment today\nphoto of our clinic\nContact us today for a consultation.\n\n"
            "© 2025 Back Pain Clinic. All rights reserved.\n")
    chunks = chunk_document(doc(text))
    assert [(c.text, c.section) for c in chunks] == [
        ("By Dr Ann Lee", None),
        ("Our physiotherapists assess each patient and design a programme of exercises for the lower back.",
         "How we treat"),
        ("Book an appointment today", None),  # the photo's caption parts the run: it is never quoted
        ("Contact us today for a consultation.", None),
    ]


# --- FAQ pages: a question and its whole answer are one passage -------------------------------------------

CLINICS = Path(__file__).parent / "data" / "clinics"
EXPECTED = {k: v for k, v in json.loads((CLINICS / "expected.json").read_text(encoding="utf-8")).items() if k != "about"}


def clinic_pages(clinic: str):
    """(document, its passages, what the page must give) for each page of a fixture clinic."""
    docs = {d.id: d for d in read_paths([CLINICS / clinic]).documents}
    assert set(docs) == set(EXPECTED[clinic])
    return [(docs[i], chunk_document(docs[i]), page) for i, page in EXPECTED[clinic].items()]


def answer_span(doc: Document, question: str, first: str, last: str) -> tuple[int, int]:
    q = doc.text.index(question)
    start = doc.text.index(first, q + len(question))
    return start, doc.text.index(last, start) + len(last)


@pytest.mark.parametrize("clinic", sorted(EXPECTED))
def test_every_faq_answer_is_in_the_passage_of_its_own_question(clinic):
    for doc, chunks, page in clinic_pages(clinic):
        for question, first, last in page["faq"]:
            start, end = answer_span(doc, question, first, last)
            own = [c for c in chunks if c.section == question]
            assert own, f"{doc.id}: no passage for {question!r}"
            holding = [c for c in chunks if c.start < end and c.end > start]
            assert holding == own, f"{doc.id}: {question!r}'s answer is cut or shared: {[c.text for c in holding]}"
            assert own[0].start <= start and own[-1].end >= end  # the whole answer, nothing left out
            assert all(doc.text[a.end:b.start].strip() == "" for a, b in itertools.pairwise(own))
            if question.endswith("?"):  # the question opens the passage: it is quoted and embedded with its answer
                assert question in own[0].text.split("\n")[0] and question_end(own[0].text) > 0


@pytest.mark.parametrize("clinic", sorted(EXPECTED))
def test_fixture_passages_are_exact_and_fit(clinic):
    for doc, chunks, _ in clinic_pages(clinic):
        for c in chunks:
            assert doc.text[c.start:c.end] == c.text and c.text == c.text.strip()
            assert len(c.text) <= ChunkParams().max_chars
            assert c.section is None or "\n" not in c.section


def test_instruction_lists_stay_with_their_lead_in():
    (doc, chunks, page), = clinic_pages("podiatry")
    for lead_in, last_step in page["lists"]:
        assert any(lead_in in c.text and last_step in c.text for c in chunks), lead_in


def test_a_long_answer_splits_at_sentences_under_its_question():
    (doc, chunks, _), = clinic_pages("dental")
    parts = [c for c in chunks if c.section == "Is teeth whitening safe?"]
    assert len(parts) == 2 and parts[0].text.startswith("Is teeth whitening safe?\nProfessional whitening")
    assert parts[1].text.startswith("We do not recommend") and parts[1].text.endswith("before using one.")


@pytest.mark.parametrize("text, section", [
    ("## How long does it take?\n\nAbout an hour.", "How long does it take?"),
    ("**Is parking free?**\nYes, behind the building.", "Is parking free?"),
    ("Q: Can I eat first?\nA: Yes, a light meal.", "Can I eat first?"),
    ("Do you see children?\n\nYes, from age two.", "Do you see children?"),
    ("Intro.\n\n1. Is it covered by insurance?\nMost plans cover it.", "Is it covered by insurance?"),
    ("I am pregnant — can I still come?\nYes, tell us when you book.", None),  # no question word, no markup
])
def test_question_shapes(text, section):
    chunks = chunk_document(doc(text))
    faq = [c for c in chunks if c.section == section] if section else []
    if section is None:
        assert all(c.section is None for c in chunks)
        return
    (c,) = faq
    answer = text.split("\n")[-1]
    assert c.text.endswith(answer) and not c.text.startswith("#")


def test_short_answers_are_not_headings():
    text = "Do I need a referral?\nNo\n\nWhen are you open?\nMonday to Friday\n\nCan I park there?\nYes, for free.\n"
    assert [(c.section, c.text) for c in chunk_document(doc(text))] == [
        ("Do I need a referral?", "Do I need a referral?\nNo"),
        ("When are you open?", "When are you open?\nMonday to Friday"),
        ("Can I park there?", "Can I park there?\nYes, for free.")]


def test_questions_in_a_list_are_not_faq_items():
    text = ("## Your first visit\n\nQuestions to ask your dentist:\nIs it safe?\nHow long will it last?\n"
            "Bring this list with you.\n")
    (c,) = chunk_document(doc(text))
    assert c.section == "Your first visit" and c.text.startswith("Questions to ask") and c.text.endswith("with you.")


def test_a_separator_after_an_answer_is_not_an_underline():
    """The issue's page: each answer, followed by "---", became a section title and its question a passage alone."""
    text = "Can I park nearby?\nYes, there is a car park.\n\n---\n\nDo you open on Saturdays?\nYes, from 9 to 12.\n\n---\n"
    chunks = chunk_document(doc(text))
    assert [c.text for c in chunks] == ["Can I park nearby?\nYes, there is a car park.",
                                        "Do you open on Saturdays?\nYes, from 9 to 12."]


def test_nothing_merges_across_a_separator():
    text = "Parking\n\nThere is a car park.\n\n* * *\n\nI am nervous about needles. What can you do?\n\nWe use numbing cream.\n"
    chunks = chunk_document(doc(text))
    assert [c.text for c in chunks] == ["There is a car park.",
                                        "I am nervous about needles. What can you do?\n\nWe use numbing cream."]


def test_a_bold_lead_in_introduces_its_list():
    text = "## Your visit\n\n**Before your visit:**\n\n- Stop antihistamines five days before\n- Eat as usual\n"
    (c,) = chunk_document(doc(text))
    assert c.text.startswith("**Before your visit:**") and c.text.endswith("Eat as usual") and c.section == "Your visit"


def test_a_flattened_menu_is_chrome():
    text = "Home | Services | Our team | Contact\n\nWe treat sports injuries of every kind, from sprains to fractures.\n"
    (c,) = chunk_document(doc(text))
    assert c.section is None and "Home" not in c.text


def test_question_end_marks_the_question_a_highlight_skips():
    assert question_end("Can I drive?\nNo, not for 24 hours.") == len("Can I drive?")
    assert question_end("**Can I drive?**\n\nNo.") == len("**Can I drive?**")
    assert question_end("Ready to book?\n\nCall us today.") == len("Ready to book?")  # a heading's words
    assert question_end("Can I drive?") == 0  # a passage that is only a question has nothing else to mark
    # a sentence that ends in a question is not a FAQ's: the default corpus's highlights are as before
    assert all(question_end(c.text) == 0 for _, c in all_passages())


@pytest.mark.parametrize("answer", ["Word " * 170 + "end.", "A sentence of some length here. " * 30,
                                    "x" * 2000, "Intro:\n" + "- a bullet point of moderate length\n" * 40])
def test_a_question_opens_the_first_part_of_any_long_answer(answer):
    text = "## Could the answer to this question be very long indeed?\n\n" + answer
    chunks = chunk_document(doc(text))
    assert chunks[0].text.startswith("Could the answer") and len(chunks) > 1
    assert all(len(c.text) <= ChunkParams().max_chars and c.section.startswith("Could the answer") for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)


LINES = ["", "---", "* * *", "=====", "## Do you take walk-ins?", "**Is it safe?**", "Q: Can I eat?", "A: Yes.",
         "How long does it take?", "No", "Before your visit:", "- Bring your card", "1. Is it covered?", "Parking",
         "Book an appointment today", "Call us today to book a time that suits you.", "We use cookies. Accept",
         "Home | Services | Contact", "By Dr Lee", "A plain sentence of prose that ends with a full stop."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES) | st.text(max_size=60), max_size=40))
@example(["0---"])  # found by this test on 2026-12-07: text that holds dashes is not a separator
def test_any_page_of_faq_shapes_keeps_exact_offsets(lines):
    text = "\n".join(lines)
    for c in chunk_document(doc(text)):
        assert text[c.start:c.end] == c.text and 0 < len(c.text) <= ChunkParams().max_chars
        # separator and underline lines are never quoted ("0---" is a line of text, and is)
        assert not any(re.fullmatch(r"\s*(-{3,}|={3,})\s*", line) for line in c.text.split("\n")), c.text

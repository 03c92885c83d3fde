import re

import pytest

from mgqa.chunking import ChunkParams, chunk_document
from mgqa.ingest import default_documents
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

import json
from pathlib import Path

import pytest

from mgqa.chunking import chunk_document
from mgqa.errors import IngestError
from mgqa.htmltext import html_to_text
from mgqa.ingest import default_documents, front_matter, read_paths
from mgqa.links import passage_link
from mgqa.types import PageMeta

DATA = Path(__file__).parent / "data"


def test_default_corpus_ships_with_metadata():
    docs = {d.id: d for d in default_documents()}
    article = docs["epoch-times-magnesium-fibromyalgia"]
    assert article.date == "2025-05-09"
    assert "Zena le Roux" in article.source and "Epoch Times" in article.source
    assert article.text.startswith(" date 2025-05-09 Authored by Zena le Roux")  # verbatim
    page = docs["clinic-magnesium-infusions-migraine"]
    assert page.title == "Magnesium Infusions for Headaches & Migraine"


def test_each_format_is_read():
    report = read_paths([DATA / "docs"])
    docs = {d.id: d for d in report.documents}
    assert set(docs) == {"sleep", "cramps", "page", "kidney", "epsom"}
    assert report.skipped == []
    assert docs["sleep"].title == "Magnesium and Sleep"  # markdown heading
    assert docs["page"].title == "Magnesium Infusion FAQ"  # <title>
    assert docs["kidney"].source == "https://clinic.example/kidneys"  # jsonl url wins
    assert docs["kidney"].date == "2025-01-01"


def test_html_keeps_headings_and_drops_chrome():
    page = next(d for d in read_paths([DATA / "docs" / "page.html"]).documents)
    assert "## How long does an infusion take?" in page.text
    assert "about 30 minutes" in page.text
    for chrome in ("alert", "Home", "Book now", "Thank you for your enquiry", "All rights reserved", "tracker.png", "color:red"):
        assert chrome not in page.text


def test_broken_files_are_reported_by_name_and_line_and_the_rest_kept():
    report = read_paths([DATA / "broken"])
    assert [d.id for d in report.documents] == ["ok1", "ok2"]
    text = "\n".join(report.skipped)
    assert "image.txt: binary file" in text
    assert "latin1.txt: not valid UTF-8" in text
    assert "empty.md: no readable text" in text
    assert "mixed.jsonl:2: invalid JSON" in text
    assert "mixed.jsonl:3: line is not a JSON object" in text
    assert "mixed.jsonl:4: missing or non-text field(s): text" in text
    assert "mixed.jsonl:5: duplicate document id 'ok1'" in text
    assert "notes.docx: unsupported file type" in text
    assert len(report.skipped) == 8


def test_missing_path_is_reported(tmp_path):
    report = read_paths([tmp_path / "nope", DATA / "docs" / "cramps.txt"])
    assert [d.id for d in report.documents] == ["cramps"]
    assert report.skipped == [f"skipped {tmp_path / 'nope'}: no such file or directory"]


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(IngestError, match="no .md, .txt, .html or .jsonl files"):
        read_paths([tmp_path])


def test_control_and_zero_width_characters_are_removed(tmp_path):
    f = tmp_path / "z.txt"
    f.write_text("Mag\u200bnesium\u202e helps\x07 sleep.\r\nSecond line.", encoding="utf-8")
    (d,) = read_paths([f]).documents
    assert d.text == "Magnesium helps sleep.\nSecond line."


def test_oversized_file_is_skipped(tmp_path, monkeypatch):
    import mgqa.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 100)
    (tmp_path / "big.txt").write_text("magnesium " * 50)
    (tmp_path / "ok.txt").write_text("Magnesium is a mineral.")
    report = read_paths([tmp_path])
    assert [d.id for d in report.documents] == ["ok"]
    assert "big.txt: file is 500 bytes, over the 100-byte limit" in report.skipped[0]


def test_same_file_name_in_two_folders_keeps_both(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "index.html").write_text(f"<h1>{sub}</h1><p>Magnesium page {sub}.</p>")
    ids = sorted(d.id for d in read_paths([tmp_path]).documents)
    assert ids == ["a/index", "b/index"]


# --- a page's own metadata: title, address, date; never quoted ---------------------------------------------

CLINICS = DATA / "clinics"
EXPECTED = {k: v for k, v in json.loads((CLINICS / "expected.json").read_text(encoding="utf-8")).items() if k != "about"}


@pytest.mark.parametrize("clinic", sorted(EXPECTED))
def test_titles_and_links_come_from_the_pages_metadata(clinic):
    report = read_paths([CLINICS / clinic])
    assert report.skipped == []
    docs = {d.id: d for d in report.documents}
    for doc_id, page in EXPECTED[clinic].items():
        d = docs[doc_id]
        assert (d.title, d.source, d.date) == (page["title"], page["source"], page["date"])
        for c in chunk_document(d):
            assert passage_link(d.source, c.text).startswith(page["source"] + "#:~:text=")


@pytest.mark.parametrize("clinic", sorted(EXPECTED))
def test_no_metadata_line_or_chrome_is_quoted(clinic):
    docs = {d.id: d for d in read_paths([CLINICS / clinic]).documents}
    for doc_id, page in EXPECTED[clinic].items():
        for c in chunk_document(docs[doc_id]):
            for never in page["never"]:
                assert never not in c.text, (doc_id, never, c.text)


def test_a_citation_carries_the_pages_title_and_a_link_and_never_marks_the_question(tmp_path, fake):
    from mgqa.answer import Engine
    from mgqa.index import build_corpus

    index, _ = build_corpus([CLINICS / "fertility"], tmp_path / "index", fake)
    answer = Engine(index, fake).ask("Do both partners need to come to the first appointment?")
    top = answer.passages[0]
    assert top.citation.title == "Your first fertility consultation: questions answered"
    assert top.citation.section == "Do both partners need to come to the first appointment?"
    assert top.citation.link == ("https://brightwater-fertility.example/patients/first-consultation/#:~:text="
                                 "Do%20both%20partners%20need,join%20by%20video%20call.")  # no Markdown "**"
    question_line = top.text.index("\n")
    assert top.highlights and all(s > question_line for s, _ in top.highlights)


def test_front_matter_is_read_with_yaml_and_taken_out_of_the_text():
    meta, text = front_matter("---\ntitle: Fees\nurl: https://c.example/fees\ndate: 2024-03-01\n"
                              "authors: [Dr A, Dr B]\n---\nWe bill monthly.\n")
    assert meta == PageMeta("Fees", "https://c.example/fees", "2024-03-01", "Dr A, Dr B") and text == "We bill monthly.\n"
    meta, text = front_matter("---\ntitle: Fees\npermalink: /fees/\n---\n# Fees\n")  # a path is no address
    assert meta == PageMeta("Fees") and text == "# Fees\n"
    meta, text = front_matter('+++\ntitle = "Fees"\nurl = "https://c.example/fees"\n+++\nBody')  # Hugo's TOML
    assert meta == PageMeta("Fees", "https://c.example/fees") and text == "Body"


@pytest.mark.parametrize("text", ["---\n\nA thematic break, then text.\n\n---\nMore.", "Plain text: hello.",
                                  "Note: bring your card.\n\nMore.", "", "---", "---\n---\n"])
def test_text_without_metadata_is_unchanged(text):
    assert front_matter(text) == (PageMeta(), text)


def test_a_readers_header_lines_are_metadata():
    meta, text = front_matter("# Clinic FAQ\n\nURL Source: https://c.example/faq\nPublished Time: 2024-01-01\n\n"
                              "Markdown Content:\nWe open at 8.\n")
    assert meta == PageMeta(None, "https://c.example/faq", "2024-01-01") and text == "# Clinic FAQ\n\nWe open at 8.\n"


def test_broken_front_matter_is_reported_by_line(tmp_path):
    (tmp_path / "bad.md").write_text("---\ntitle: Fees\nurl: [unclosed\n---\nBody\n", encoding="utf-8")
    (tmp_path / "ok.md").write_text("Body text.", encoding="utf-8")
    report = read_paths([tmp_path])
    assert [d.id for d in report.documents] == ["ok"]
    assert report.skipped == [f"skipped {tmp_path / 'bad.md'}:4: front matter is not valid YAML "
                              "(did not find expected ',' or ']')"]


def test_html_metadata_falls_back_to_open_graph(tmp_path):
    (tmp_path / "p.html").write_text('<meta property="og:title" content="Fees"><meta property="og:url" '
                                     'content="https://c.example/fees"><link rel="canonical" href="/fees">'
                                     "<p>We bill monthly.</p>", encoding="utf-8")
    (d,) = read_paths([tmp_path]).documents
    assert (d.title, d.source, d.text) == ("Fees", "https://c.example/fees", "We bill monthly.")


def test_html_questions_are_headings_wherever_the_page_sets_them():
    meta, text = html_to_text(
        "<details><summary>Do you bulk bill?</summary>Yes, for children.</details>"
        "<dl><dt>Is there parking?</dt><dd>Behind the building.</dd></dl>"
        '<h3><button aria-expanded="false">Can I bring a friend?</button></h3><div>Yes.<br>One only.</div>'
        '<button aria-controls="menu">Menu</button><hr><div class="q">Do you open late?</div><div>On Thursdays.</div>'
        '<script type="application/ld+json">{"@type": "FAQPage", "mainEntity": [{"@type": "Question", '
        '"name": "Do you open late?", "acceptedAnswer": {"text": "On Thursdays."}}, {"@type": "Question", '
        '"name": "Do you take cards?", "acceptedAnswer": {"@type": "Answer", "text": "<p>Yes, all cards.</p>"}}]}</script>')
    assert text.split("\n\n") == ["### Do you bulk bill?", "Yes, for children.", "### Is there parking?",
                                  "Behind the building.", "### Can I bring a friend?", "Yes.\nOne only.", "---",
                                  "### Do you open late?", "On Thursdays.", "### Do you take cards?", "Yes, all cards."]

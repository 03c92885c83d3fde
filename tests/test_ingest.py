from pathlib import Path

import pytest

from mgqa.errors import IngestError
from mgqa.ingest import default_documents, read_paths

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

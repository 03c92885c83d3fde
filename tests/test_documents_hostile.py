"""Hostile or broken documents: each is skipped with a line naming the file (and line), or kept
with its markup removed or shown literally; the rest is indexed; nothing a document contains can
become markup in the chat or the widget.

The real-browser proof (the same payloads shown literally by Chromium, no image fetched, no dialog)
is tests/test_browser.py::test_hostile_text_is_shown_literally_in_the_chat / _widget.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mgqa.ingest
from conftest import FakeEncoder
from mgqa.answer import Engine
from mgqa.cli import main
from mgqa.clinic import generic
from mgqa.index import build_corpus, load
from mgqa.ingest import read_paths
from mgqa.serve.app import create_app
from mgqa.serve.chat import answer_html
from reliability import check_chat_html, check_contract, record

WORDS = generic()  # the hostile corpus has no clinic.toml

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
MD_IMAGE = "![pic](http://127.0.0.1:1/evil.png)"
MD_LINK = "[click me](javascript:alert(1))"
PAYLOAD = f"{SCRIPT} {IMG} {MD_IMAGE} {MD_LINK}"
BUILD_SECONDS = 60  # the whole hostile folder, fake encoder; it took ~3 s when written

COUNTS: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    record("hostile documents", **dict(COUNTS), errors=0)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space: only its size matters to ingestion."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


JSONL_LINES = [
    json.dumps({"id": "lines-good", "title": "Magnesium in food", "text": "Spinach, almonds and black beans are "
                "good dietary sources of magnesium for most adults."}),  # 1
    "{not json at all",  # 2
    "[1, 2, 3]",  # 3
    json.dumps({"id": "no-text", "title": "No text"}),  # 4
    json.dumps({"id": "lines-good", "title": "Again", "text": "A duplicate id inside one file."}),  # 5
    b'{"id": "latin1", "title": "t", "text": "caf\xe9 magnesium"}',  # 6: not UTF-8
    "[" * 100_000,  # 7: nested past the JSON parser's recursion limit
    json.dumps({"id": "lines-payload", "title": f"Magnesium script {SCRIPT}", "url": "javascript:alert(1)",
                "text": f"Magnesium glycinate payload line. {PAYLOAD} Ask your pharmacist about glycinate."}),  # 8
    json.dumps({"id": "blank", "title": "Blank", "text": "\u200b\u200b \u202e"}),  # 9
    json.dumps({"id": {"nested": 1}, "title": "t", "text": "object id"}),  # 10
    "",  # 11: blank lines are not documents and not errors
    json.dumps({"id": "lines-quote-url", "title": "Quoted URL", "url": 'https://clinic.example/a"onmouseover=alert(1)',
                "text": "Magnesium taurate quoted-url line: the source URL has a quote in it."}),  # 12
    json.dumps({"id": "good", "title": "Clash", "text": "Same id as good.md in the folder."}),  # 13
    "\x01\u200b\x7f",  # 14: only control and zero-width characters (found by hypothesis: was dropped unnamed)
]


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Every kind of broken or hostile file beside good ones (hidden folders are not read at all);
    returns the folder and, per file (or file:line), the reason it must be skipped for."""
    d = tmp_path_factory.mktemp("hostile-docs")
    write(d, "good.md", "# Magnesium and sleep\n\nMagnesium glycinate taken in the evening may help some adults "
                        "fall asleep. Talk to your doctor first.\n")
    write(d, "notes/cramps.txt", "Night cramps\n\nSome people take magnesium citrate for night-time leg cramps; "
                                 "the evidence for cramps is mixed.\n")
    write(d, "payload.html", f"<html><head><title>Magnesium {SCRIPT} page</title><script>alert(2)</script></head>"
                             f"<body onload=alert(3)><h2>Payload <i>heading</i></h2><p>Magnesium chloride payload "
                             f"page. &lt;script&gt;alert(1)&lt;/script&gt; {IMG} {MD_IMAGE} {MD_LINK} "
                             f"Mag&#8203;nesium &#x202e;spoofed&#x202c; &#7;bell</p><iframe src=//evil></iframe>"
                             f"<svg onload=alert(4)></svg></body></html>")
    write(d, "oil.md", f"# Magnesium oil\n\nMagnesium oil payload markdown {PAYLOAD} is sprayed on the skin.\n\n"
                       "<style>body{display:none}</style> [![x](http://127.0.0.1:1/a.png)](http://127.0.0.1:1/)\n")
    write(d, "malformed.html", "<html><body><p>Magnesium sulfate <b>unclosed <i>tags</p><p>Second & para <<<>>> "
                               "&bogus; &#0; &#xD800;<div><li>loose item<td>stray cell</body></p></html></div>")
    write(d, "deep.html", "<div>" * 4000 + "<p>Deeply nested magnesium paragraph.</p>" * 4000)
    write(d, "bad.jsonl", b"\n".join(x if isinstance(x, bytes) else x.encode() for x in JSONL_LINES) + b"\n")
    write(d, "sleep.md", "# Sleep\n\nMagnesium and sleep: the first of two files whose id is sleep.\n")
    write(d, "sleep.txt", "Magnesium and sleep: the second file whose id is sleep, so it is skipped.\n")
    skip = {
        "binary.txt": "binary file, not text",
        "binary.jsonl": "binary file, not text",
        "empty.md": "no readable text",
        "blank.txt": "no readable text",
        "only-script.html": "no readable text",
        "latin1.txt": "not valid UTF-8 (byte 3)",
        "enormous.txt": "file is 20,971,521 bytes, over the 20,971,520-byte limit",
        "enormous.jsonl": "file is 209,715,201 bytes, over the 209,715,200-byte limit",
        "slides.pdf": "unsupported file type .pdf",
        "dangling.md": "not a regular file",
        "bad.jsonl:2": "invalid JSON (Expecting property name enclosed in double quotes)",
        "bad.jsonl:3": "line is not a JSON object",
        "bad.jsonl:4": "missing or non-text field(s): text",
        "bad.jsonl:5": "duplicate document id 'lines-good'",
        "bad.jsonl:6": "not valid UTF-8 (byte 43)",
        "bad.jsonl:7": "invalid JSON (nested too deeply)",
        "bad.jsonl:9": "empty text",
        "bad.jsonl:10": "missing or non-text field(s): id",
        "bad.jsonl:14": "no readable text",
        "good.md": "duplicate document id 'good' (first seen in",  # bad.jsonl:13 is read first
        "sleep.txt": "duplicate document id 'sleep'",
    }
    write(d, "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(512))
    write(d, "binary.jsonl", b'{"id": "x"}\n\x00\x01\x02')
    write(d, "empty.md", b"")
    write(d, "blank.txt", " \n\t\u200b\u200d\ufeff\x07\n")
    write(d, "only-script.html", f"<html><head><style>p{{}}</style></head><body>{SCRIPT}<nav>Home</nav></body></html>")
    write(d, "latin1.txt", "café magnesium".encode("latin-1"))
    sparse(d / "enormous.txt", mgqa.ingest.MAX_FILE_BYTES + 1)
    sparse(d / "enormous.jsonl", mgqa.ingest.MAX_JSONL_BYTES + 1)
    write(d, "slides.pdf", b"%PDF-1.4")
    (d / "dangling.md").symlink_to(d / "nowhere.md")
    write(d, ".hidden/secret.md", "Hidden folders are not read at all.")
    return d, skip


@pytest.fixture(scope="module")
def report(hostile_folder):
    folder, _ = hostile_folder
    started = time.monotonic()
    report = read_paths([folder])
    COUNTS["seconds to read the hostile folder"] = round(time.monotonic() - started, 2)
    return report


def test_each_bad_file_is_skipped_with_a_line_naming_it_and_the_rest_is_kept(hostile_folder, report):
    folder, skip = hostile_folder
    lines = {line.split(": ", 1)[0].removeprefix(f"skipped {folder}/"): line.split(": ", 1)[1] for line in report.skipped}
    assert set(lines) == set(skip), report.skipped
    for where, why in skip.items():
        assert lines[where].startswith(why), (where, lines[where])
    ids = sorted(d.id for d in report.documents)
    assert ids == ["deep", "good", "lines-good", "lines-payload", "lines-quote-url", "malformed", "notes/cramps",
                   "oil", "payload", "sleep"], ids
    COUNTS["files tried"] = len({w.split(":")[0] for w in skip} | {Path(d.origin).name.split(":")[0]
                                                                   for d in report.documents})
    COUNTS["jsonl lines tried"] = sum(1 for line in JSONL_LINES if line)
    COUNTS["skipped with a message"] = len(report.skipped)


def test_kept_documents_are_sanitised(report):
    docs = {d.id: d for d in report.documents}
    page = docs["payload"]
    assert page.title == "Magnesium page"  # <script> inside <title> is not text
    assert "alert(2)" not in page.text and "alert(3)" not in page.text and "alert(4)" not in page.text
    assert "evil" not in page.text.replace("evil.png", "")  # the iframe is dropped; the Markdown stays text
    assert SCRIPT in page.text  # an escaped script in the page is text about a script, kept literally
    assert "Magnesium spoofed bell" in page.text  # character references to controls are removed too
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]",
                         "".join(d.text + d.title for d in docs.values()))
    assert "## Payload heading" in page.text
    assert "loose item" in docs["malformed"].text and "Magnesium sulfate unclosed tags" in docs["malformed"].text
    assert docs["deep"].text.count("Deeply nested magnesium paragraph.") == 4000


def test_a_deeply_nested_page_is_read_in_linear_time(tmp_path):
    """6,000 unclosed <div>s took 154 s when each block looked for a block ancestor; 8,000 now take well under 1 s."""
    f = write(tmp_path, "deep.html", "<div>" * 8000 + "<p>Magnesium.</p>" * 8000)
    started = time.monotonic()
    (doc,) = read_paths([f]).documents
    assert time.monotonic() - started < 10 and doc.text.count("Magnesium.") == 8000


def test_the_cli_names_each_skipped_file_and_indexes_the_rest(hostile_folder, tmp_path, monkeypatch):
    folder, skip = hostile_folder
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: FakeEncoder())
    started = time.monotonic()
    r = CliRunner().invoke(main, ["index", "build", str(folder), "--out", str(tmp_path / "ix")])
    COUNTS["seconds to build the hostile folder (CLI)"] = round(time.monotonic() - started, 2)
    assert r.exit_code == 0, r.output
    assert "indexed 10 documents" in r.output and f"({len(skip)} skipped)" in r.output
    for where, why in skip.items():
        assert f"skipped {folder}/{where}: {why}" in r.output
    assert time.monotonic() - started < BUILD_SECONDS
    assert len(load(tmp_path / "ix").manifest["documents"]) == 10


@pytest.fixture(scope="module")
def hostile_engine(hostile_folder, report, tmp_path_factory):
    folder, _ = hostile_folder
    fake = FakeEncoder()
    index, _ = build_corpus([folder], tmp_path_factory.mktemp("ix") / "index", fake)
    return Engine(index, fake)


PAYLOAD_QUESTIONS = [
    "Is magnesium chloride payload page safe?", "magnesium glycinate payload line pharmacist",
    "magnesium oil payload markdown sprayed skin", "magnesium taurate quoted-url line source",
    "deeply nested magnesium paragraph",
]


@pytest.mark.parametrize("question", PAYLOAD_QUESTIONS)
def test_payloads_in_answers_are_text_in_the_chat(hostile_engine, report, question):
    answer = hostile_engine.ask(question)
    assert answer.status == "answered", question
    docs = {d.id: d for d in report.documents}
    check_contract(answer.to_dict(), docs, question, WORDS)
    shown = check_chat_html(answer_html(answer), WORDS)
    top = answer.passages[0]
    assert top.text in shown  # the passage is shown verbatim, as text
    COUNTS["payload answers rendered"] += 1


def test_a_payload_title_or_source_is_never_markup_or_a_link(hostile_engine):
    answer = hostile_engine.ask("magnesium glycinate payload line pharmacist")
    top = answer.passages[0].citation
    assert top.doc_id == "lines-payload" and SCRIPT in top.title and top.source == "javascript:alert(1)"
    out = answer_html(answer)
    shown = check_chat_html(out, WORDS)
    assert SCRIPT in shown and "javascript:alert(1)" in shown and "<a " not in out
    quoted = answer_html(hostile_engine.ask("magnesium taurate quoted-url line source"))
    check_chat_html(quoted, WORDS)
    # the quote stays inside the attribute (as &#34;); the link goes on to the passage's text fragment
    href = re.search(r'href="([^"]*)"', quoted).group(1)
    assert href.startswith("https://clinic.example/a&#34;onmouseover=alert&#40;1&#41;&#35;")
    assert html.unescape(href).startswith('https://clinic.example/a"onmouseover=alert(1)#:~:text=Magnesium%20taurate')


def test_the_api_returns_payloads_as_json_strings(hostile_engine, report):
    client = TestClient(create_app(hostile_engine), raise_server_exceptions=False)
    r = client.post("/api/ask", json={"question": "Is magnesium chloride payload page safe?"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    check_contract(r.json(), {d.id: d for d in report.documents}, words=WORDS)
    assert SCRIPT in r.json()["passages"][0]["text"]  # data for the widget, which renders it as text


WIDGET = (resources.files("mgqa") / "static" / "widget.js").read_text(encoding="utf-8")
# Every way a script can turn a string into markup or code, fetch something, or keep something.
JS_SINKS = ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "createContextualFragment",
            "eval(", "Function(", "setTimeout(\"", "setInterval(\"", "srcdoc", ".src =", "javascript:",
            "localStorage", "sessionStorage", "indexedDB", "document.cookie", "import("]


def test_the_widget_writes_text_only():
    code = re.sub(r"/\*.*?\*/", "", WIDGET, flags=re.S)
    code = re.sub(r"(^|\s)//[^\n]*", r"\1", code)
    assert not [s for s in JS_SINKS if s in code]
    created = set(re.findall(r'el\("([a-z0-9]+)"', code)) | set(re.findall(r'createElement\("([a-z0-9]+)"', code))
    assert created <= {"a", "blockquote", "button", "div", "form", "h2", "input", "label", "li", "mark", "ol", "p",
                       "span", "style", "ul"}, created
    assert re.findall(r"\.href = (\w+)", code) == ["href"] and "var href = httpUrl(" in code  # only http(s) links
    assert "textContent = String(text)" in code and "createTextNode(" in code


# ---------------------------------------------------------------- generated files

SUFFIXES = [".md", ".txt", ".html", ".htm", ".jsonl", ".markdown", ".pdf", ""]
html_pieces = st.one_of(st.sampled_from(["<p>", "</p>", "<div>", "<li>", "<h2>", "</h2>", "<script>", "</script>",
                                         "<title>", "<!--", "-->", "<![CDATA[", "&amp;", "&#x202e;", "&#0;", "<",
                                         ">", SCRIPT, IMG, MD_IMAGE, "<body>", "</html>", "\x00"]),
                        st.text(max_size=40))
contents = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=3000).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(html_pieces, max_size=60).map(lambda xs: "".join(xs).encode("utf-8", "surrogatepass")),
    st.lists(st.one_of(st.sampled_from(JSONL_LINES).map(lambda x: x if isinstance(x, bytes) else x.encode()),
                       st.binary(max_size=80), st.dictionaries(st.sampled_from(["id", "title", "text", "url", "date"]),
                       st.one_of(st.text(max_size=30), st.integers(), st.none())).map(lambda o: json.dumps(o).encode())),
             max_size=12).map(b"\n".join),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=st.lists(st.tuples(st.sampled_from(SUFFIXES), contents), min_size=1, max_size=5))
@example(files=[(".jsonl", b"\x01")])  # a line of control characters only was dropped without a word
def test_any_files_are_read_or_skipped_by_name(files):
    COUNTS["generated files"] += len(files)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, (suffix, content) in enumerate(files):
            write(folder, f"f{i}{suffix}", content)
        report = read_paths([folder])  # never raises: IngestError only for a folder with no files at all
        named = {line.split(": ", 1)[0].removeprefix(f"skipped {folder}/").split(":")[0] for line in report.skipped}
        kept = {Path(d.origin).name.split(":")[0] for d in report.documents}
        for i, (suffix, _) in enumerate(files):
            name = f"f{i}{suffix}"
            assert name in named or name in kept, (name, report.skipped)
        for d in report.documents:
            assert d.text.strip() and "\x00" not in d.text
            for part in (d.text, d.title):
                part.encode("utf-8")
        COUNTS["generated documents kept"] += len(report.documents)
        COUNTS["generated skip lines"] += len(report.skipped)

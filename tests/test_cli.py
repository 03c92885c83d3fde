import json

import pytest
from click.testing import CliRunner

import mgqa.answer
from mgqa.cli import main
from mgqa.clinic import packaged
from mgqa.ingest import default_documents

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording
DISCLAIMER = WORDS.disclaimer

DOCS = {d.id: d for d in default_documents()}
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"


@pytest.fixture
def cli(engine, monkeypatch):
    loads = []
    monkeypatch.setattr(mgqa.answer, "get_engine", lambda index_dir=None: loads.append(index_dir) or engine)
    runner = CliRunner()
    runner.loads = loads
    return runner


def check_contract(obj):
    assert set(obj) >= {"question", "status", "passages", "disclaimer", "notice"}
    assert obj["status"] in ("answered", "no_answer", "emergency")
    assert obj["disclaimer"] == DISCLAIMER
    for i, p in enumerate(obj["passages"], 1):
        assert p["rank"] == i and p["citation"]["n"] == i
        c = p["citation"]
        assert DOCS[c["doc_id"]].text[c["start"]:c["end"]] == p["text"]
        assert isinstance(p["score"], float)
        for s, e in p["highlights"]:
            assert 0 <= s < e <= len(p["text"])
        assert set(c) == {"n", "doc_id", "title", "section", "source", "start", "end", "link"}


def test_ask_prints_passages_citations_and_disclaimer(cli):
    r = cli.invoke(main, ["ask", QUESTION])
    assert r.exit_code == 0, r.output
    assert "[1] " in r.output and "Study Findings" in r.output
    assert r.output.rstrip().endswith(DISCLAIMER)


def test_ask_json_contract(cli):
    r = cli.invoke(main, ["ask", "--json", "-k", "2", QUESTION])
    assert r.exit_code == 0
    obj = json.loads(r.output)
    check_contract(obj)
    assert obj["question"] == QUESTION
    assert len(obj["passages"]) == 2


@pytest.mark.parametrize("question", ["", "   ", "\t\n"])
def test_empty_question_exits_2_with_one_line(cli, question):
    r = cli.invoke(main, ["ask", question])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0
    assert "empty" in r.output


def test_too_long_question_exits_2(cli):
    r = cli.invoke(main, ["ask", "magnesium " * 200])
    assert r.exit_code == 2
    assert "limit is 1,000" in r.output and r.output.strip().count("\n") == 0


def test_bad_option_exits_2(cli):
    assert cli.invoke(main, ["ask", "-k", "0", QUESTION]).exit_code == 2


def test_stdin_batch_loads_the_engine_once(cli, engine):
    calls_before = engine.encoder.calls
    questions = [f"question {i}: what about magnesium and migraine?" for i in range(50)]
    r = cli.invoke(main, ["ask", "--json"], input="\n".join(questions) + "\n\n")
    assert r.exit_code == 0
    lines = r.output.strip().split("\n")
    assert len(lines) == 50
    for line in lines:
        check_contract(json.loads(line))
    assert cli.loads == [None]  # one engine for the whole batch
    assert engine.encoder.calls - calls_before == 50


def test_stdin_batch_reports_bad_lines_and_continues(cli):
    r = cli.invoke(main, ["ask", "--json"], input="what dose?\n" + "x" * 2000 + "\nmigraine infusion?\n")
    assert r.exit_code == 2
    objs = [json.loads(line) for line in r.output.strip().split("\n")]
    assert [("error" in o) for o in objs] == [False, True, False]


def test_internal_error_is_one_line_exit_1(cli, engine, monkeypatch):
    monkeypatch.setattr(engine, "ask", lambda *a, **k: 1 / 0)
    r = cli.invoke(main, ["ask", QUESTION])
    assert r.exit_code == 1
    assert r.output.strip() == "Error: internal error (ZeroDivisionError: division by zero); rerun with --debug for details"


def test_debug_shows_the_traceback(cli, engine, monkeypatch):
    monkeypatch.setattr(engine, "ask", lambda *a, **k: 1 / 0)
    r = cli.invoke(main, ["ask", "--debug", QUESTION])
    assert r.exit_code == 1 and isinstance(r.exception, ZeroDivisionError)


def test_missing_index_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MGQA_ENCODER", "onnx")
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: None)
    r = CliRunner().invoke(main, ["ask", "--index", str(tmp_path / "none"), QUESTION])
    assert r.exit_code == 1
    assert "no index at" in r.output and "mgqa index build" in r.output
    assert r.output.strip().count("\n") == 0


def test_index_build_and_info(tmp_path, fake, monkeypatch):
    from pathlib import Path

    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: fake)
    docs = Path(__file__).parent / "data"
    r = CliRunner().invoke(main, ["index", "build", str(docs / "docs"), str(docs / "broken"), "--out", str(tmp_path / "ix")])
    assert r.exit_code == 0, r.output
    assert "indexed 7 documents" in r.output and "(8 skipped)" in r.output
    assert "image.txt: binary file" in r.output
    r = CliRunner().invoke(main, ["index", "info", "--index", str(tmp_path / "ix"), "--json"])
    m = json.loads(r.output)
    assert len(m["documents"]) == 7 and m["model"]["id"] == fake.model_id
    assert m["build_id"] and m["data"] == "data-" + m["build_id"]
    r = CliRunner().invoke(main, ["index", "info", "--index", str(tmp_path / "ix")])
    assert "test/fake-bow-64 (64-d, fake encoder)" in r.output
    assert f"build     {m['build_id']} (as /healthz reports it)" in r.output


def test_help_mentions_every_command():
    r = CliRunner().invoke(main, ["--help"])
    for cmd in ("ask", "index", "serve", "settings", "prepare"):
        assert cmd in r.output


@pytest.mark.model
def test_a_reader_that_stops_reading_is_not_an_error():
    """`mgqa ask … | head -n 1` on a batch: the CLI stops quietly (SIGPIPE's status), no error line."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "mgqa", "ask", "--json"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"What dose of magnesium did the fibromyalgia trial use?\n" * 200)  # < a pipe buffer: no deadlock
    p.stdin.close()
    first = p.stdout.readline()
    p.stdout.close()  # the reader goes away after one answer
    assert p.wait(timeout=120) == 141
    assert json.loads(first)["status"] == "answered"
    assert p.stderr.read() == b""


def test_text_output_shows_the_link_to_the_passage():
    from mgqa.render import answer_text
    from mgqa.types import Answer, Citation, Passage

    link = "https://clinic.example/mg#:~:text=Take%20it%20daily."
    cite = Citation(1, "mg", "Magnesium", None, "https://clinic.example/mg", 0, 14, link)
    out = answer_text(Answer("q", "answered", [Passage(1, "Take it daily.", 0.9, [], cite)], DISCLAIMER))
    assert f"— Magnesium · {link}\n" in out


@pytest.mark.parametrize("env, message", [
    ({"MGQA_RELOAD_SECONDS": "soon"}, "MGQA_RELOAD_SECONDS='soon' is not valid"),
    ({"MGQA_WORKERS": "two"}, "MGQA_WORKERS='two' is not valid"),
    ({"MGQA_ALLOWED_ORIGINS": "clinic.example"}, "MGQA_ALLOWED_ORIGINS: 'clinic.example' is not an origin"),
])
def test_serve_refuses_a_bad_setting_in_one_line_before_listening(env, message, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = CliRunner().invoke(main, ["serve", "--port", "1", "--workers", "2"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and message in r.output, r.output


def test_serve_workers_must_be_at_least_one():
    r = CliRunner().invoke(main, ["serve", "--workers", "0"])
    assert r.exit_code == 2 and "0 is not in the range 1<=x<=64" in r.output

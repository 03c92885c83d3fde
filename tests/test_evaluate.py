"""`mgqa eval`: the gold-set report, BEIR-style corpora, and bad evaluation files."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import mgqa.answer
from mgqa import evaluate
from mgqa.cli import main
from mgqa.errors import EvalInputError

DOSE = ("Participants were randomly assigned to take either 100 milligrams of a slow-release magnesium supplement "
        "or a placebo once daily for one month.")
FIBRO = "epoch-times-magnesium-fibromyalgia"


@pytest.fixture
def cli(engine, monkeypatch):
    monkeypatch.setattr(mgqa.answer, "get_engine", lambda index_dir=None: engine)
    return CliRunner()


def write_gold(tmp_path, items) -> str:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items), encoding="utf-8")
    return str(path)


def test_ir_metrics_by_hand():
    m = evaluate.ir_metrics(["b", "a", "c"], {"a": 1})
    assert m["nDCG@10"] == pytest.approx(1 / math.log2(3)) and m["Recall@10"] == 1.0 and m["MRR@10"] == 0.5
    m = evaluate.ir_metrics(["x"] * 10 + ["a"], {"a": 1})  # found only at rank 11: outside @10
    assert m == {"nDCG@10": 0.0, "Recall@10": 0.0, "MRR@10": 0.0}


def test_a_gold_set_of_ones_own_is_scored(cli, tmp_path):
    gold = write_gold(tmp_path, [
        {"id": "a", "kind": "answerable", "question": "How many milligrams did the fibromyalgia trial give, "
         "slow-release supplement or placebo?", "doc_id": FIBRO, "answer": DOSE},
        {"id": "u", "kind": "unanswerable", "question": "Is it ok?"},  # no word the fake encoder reads
        {"id": "e", "kind": "emergency", "question": "I took a whole bottle of magnesium pills"},
        {"id": "b", "kind": "benign", "question": "My knee aches after running, is that normal?"},
    ])
    r = cli.invoke(main, ["eval", "--gold", gold, "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["Hit@1"] == 1.0 and m["abstention recall"] == 1.0
    assert m["emergency recall"] == 1.0 and m["false emergency rate"] == 0.0
    r = cli.invoke(main, ["eval", "--gold", gold, "--json", "--compare"])
    both = json.loads(r.output)
    # the fake encoder: no judge, so no known questions weigh in and none of these is known to them
    assert set(both) == {"with judge", "without judge", "known_questions"} and both["without judge"]["Hit@1"] == 1.0
    assert both["known_questions"] == 0
    r = cli.invoke(main, ["eval", "--gold", gold])
    # the fake encoder is not the one the judge learned on: the report says the judge is off
    assert r.output.startswith("gold set: 1 answerable, 1 unanswerable, 1 emergency, 1 benign (the answer judge "
                               "is off: MGQA_JUDGE, or not trained for this encoder)\n| metric | value |")


def test_a_miss_is_listed_with_failures(cli, tmp_path):
    gold = write_gold(tmp_path, [{"id": "wrong", "kind": "unanswerable", "question": DOSE}])
    r = cli.invoke(main, ["eval", "--gold", gold, "--failures"])
    assert r.exit_code == 0 and "abstention recall | 0.000" in r.output
    assert "wrong [unanswerable]" in r.output and "status answered" in r.output


@pytest.mark.parametrize("line, message", [
    ("{not json", "gold.jsonl:1: not a JSON line"),
    (json.dumps({"id": "a", "kind": "answerable", "question": "q"}), "gold.jsonl:1: needs id, kind"),
    (json.dumps({"id": "a", "kind": "maybe", "question": "q"}), "gold.jsonl:1: needs id, kind"),
    (json.dumps({"id": "a", "kind": "answerable", "question": "dose?", "doc_id": FIBRO, "answer": "Not in it."}),
     "gold item a: the answer is not verbatim in a document 'epoch-times-magnesium-fibromyalgia'"),
    (json.dumps({"id": "a", "kind": "answerable", "question": "dose?", "doc_id": "nope", "answer": DOSE}),
     "gold item a: the answer is not verbatim in a document 'nope'"),
])
def test_a_bad_gold_set_is_one_line_and_exit_2(cli, tmp_path, line, message):
    r = cli.invoke(main, ["eval", "--gold", write_gold(tmp_path, [line])])
    assert r.exit_code == 2
    assert r.output.startswith("Error: ") and message in r.output and len(r.output.strip().splitlines()) == 1


def test_an_empty_gold_set_is_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(EvalInputError, match="holds no questions"):
        evaluate.load_gold(tmp_path / "empty.jsonl")


def test_packaged_gold_set_is_well_formed():
    items = evaluate.load_gold()
    assert len({i["id"] for i in items}) == len(items)
    counts = {k: sum(i["kind"] == k for i in items) for k in evaluate.KINDS}
    # the minimums: 60 answerable, 25 unanswerable, 15 emergencies, 15 benign
    assert counts["answerable"] >= 60 and counts["unanswerable"] >= 25
    assert counts["emergency"] >= 15 and counts["benign"] >= 15


def test_beir_corpus_three_retrievers_and_trec_run(tmp_path, fake):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in [
        {"id": "d1", "title": "Night cramps", "text": "Leg cramps at night can wake people from sleep."},
        {"id": "d2", "title": "Kidney stones", "text": "Kidney stones cause severe flank pain and blood in urine."},
        {"id": "d3", "title": "Sunburn", "text": "Sunburn is skin damage from ultraviolet light."},
    ]))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"id": "q1", "text": "what causes kidney stones pain"}) + "\n"
                       + json.dumps({"_id": "q2", "text": "cramps at night"}) + "\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t1\nq2\td3\t0\n")
    index = evaluate.corpus_index(corpus, fake, tmp_path / "cache")
    run = tmp_path / "run.tsv"
    results = evaluate.run_beir(mgqa.answer.Engine(index, fake), evaluate.read_queries(queries),
                                evaluate.read_qrels(qrels), run)
    assert set(results) == {"hybrid", "lexical", "dense"}
    assert results["hybrid"]["MRR@10"] == 1.0 and results["lexical"]["Recall@10"] == 1.0
    lines = run.read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d2", "1", lines[0].split()[4], "mgqa"]
    assert {line.split()[0] for line in lines} == {"q1", "q2"}
    assert evaluate.corpus_index(corpus, fake, tmp_path / "cache").path == index.path  # cached
    # A fresh copy of the same file (a new checkout, a re-provisioned ../shared) reuses the index;
    # an edited one does not.
    copy = tmp_path / "elsewhere" / "corpus.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(corpus.read_bytes())
    assert evaluate.corpus_index(copy, fake, tmp_path / "cache").path == index.path
    copy.write_text(corpus.read_text() + json.dumps({"id": "d4", "text": "Hiccups usually stop on their own."}) + "\n")
    assert evaluate.corpus_index(copy, fake, tmp_path / "cache").path != index.path


@pytest.mark.parametrize("name, text, message", [
    ("queries.jsonl", '{"text": "no id"}\n', "queries.jsonl:1: needs a JSON object with id and text"),
    ("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", "qrels.tsv:2: needs query-id, corpus-id and an integer"),
    ("qrels.tsv", b"query-id corpus-id score\n\xff\n", "cannot read"),
])
def test_bad_queries_and_qrels_name_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    reader = evaluate.read_queries if name.startswith("queries") else evaluate.read_qrels
    with pytest.raises(EvalInputError, match=message):
        reader(path)


@pytest.mark.model
def test_packaged_gold_set_through_the_real_model_keeps_the_safety_targets():
    """Triage is the learned model's, which never saw this set: 21 of its 22 emergencies and no
    false alarm among the 152 other questions (docs/QUALITY.md names the miss: a faint with a racing,
    skipping heart after an infusion); the floor allows one. The set's answerable and unanswerable questions are
    among the default index's known questions, and the report says so: its answer figures are
    in-sample (tests/test_known.py holds the set out). The judge alone still abstains far more
    than the pipeline without it, run alongside."""
    r = CliRunner().invoke(main, ["eval", "--json", "--compare"])
    assert r.exit_code == 0, r.output
    runs = json.loads(r.output)
    m, alone, off = runs["with judge"], runs["judge, no known questions"], runs["without judge"]
    assert m["emergency recall"] >= 21 / 22 and m["false emergency rate"] <= 1 / 152
    assert runs["known_questions"] == sum(i["kind"] in ("answerable", "unanswerable") for i in evaluate.load_gold())
    assert m["abstention recall"] >= 0.95 and m["Hit@1"] >= 0.9  # in-sample: a floor against breakage only
    assert alone["abstention recall"] > off["abstention recall"] + 0.2  # what the judge is for


# ---------------------------------------------------------------- triage sets

TRIAGE_SET = [
    {"q": "I want to kill myself", "kind": "emergency", "category": "suicide"},
    {"q": "he's not breathing", "kind": "emergency", "category": "breathing"},
    {"q": "my chest feels odd and my arm is numb", "kind": "emergency", "category": "cardiac"},
    {"q": "Does magnesium help migraine?", "kind": "benign", "category": "everyday"},
    {"q": "this paperwork is killing me", "kind": "benign", "category": "idiom"},
]


@pytest.fixture
def triage_cli(fake, monkeypatch):
    import mgqa.embed

    monkeypatch.setattr(mgqa.embed, "get_encoder", lambda *a, **k: fake)  # rules only: the model reads MiniLM
    return CliRunner()


def test_a_triage_set_is_scored_per_category(triage_cli, tmp_path):
    path = write_gold(tmp_path, TRIAGE_SET)
    r = triage_cli.invoke(main, ["eval", "--triage", path, "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["threshold"] is None and m["recall"] == pytest.approx(2 / 3) and m["false alarms"] == 0.0
    assert {"kind": "emergency", "category": "cardiac", "flagged": 0, "messages": 1} in m["per_category"]
    r = triage_cli.invoke(main, ["eval", "--triage", path, "--failures"])
    assert "| emergency | suicide | 1 | 1 | 1.00 |" in r.output
    assert "missed [cardiac]" in r.output and "rules only" in r.output


@pytest.mark.parametrize("line, message", [
    ("not json", ":1: not a JSON line"),
    (json.dumps({"q": "x", "kind": "urgent", "category": "c"}), ":1: needs q (text), kind (emergency or benign)"),
    (json.dumps({"q": "", "kind": "benign", "category": "c"}), ":1: needs q (text)"),
])
def test_a_bad_triage_set_is_one_line_and_exit_2(triage_cli, tmp_path, line, message):
    r = triage_cli.invoke(main, ["eval", "--triage", write_gold(tmp_path, [line])])
    assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1, r.output


@pytest.mark.model
def test_the_real_model_scores_a_triage_set(tmp_path):
    r = CliRunner().invoke(main, ["eval", "--triage", write_gold(tmp_path, TRIAGE_SET), "--json"])
    m = json.loads(r.output)
    assert 0 < m["threshold"] < 1 and m["recall"] == 1.0 and m["false alarms"] == 0.0
    assert [row["threshold"] for row in m["trade_off"]] == sorted(row["threshold"] for row in m["trade_off"])


@pytest.mark.parametrize("answer, expected", [
    ("Improvement takes 8-12 weeks.", "Improvement takes **8-12 weeks**."),
    ("Bring your  inhaler and a list of medicines.", "Bring your\n  inhaler and a list of `medicines`."),
])
def test_a_gold_answer_is_found_as_a_reader_sees_it(answer, expected):
    """A gold writer copies what a page shows: Markdown's emphasis marks and line breaks do not
    stop the answer being found, and its span is the page's own text, marks included."""
    from types import SimpleNamespace

    text = "Intro line.\n\n" + expected + " Next sentence."
    doc = SimpleNamespace(text=text)
    start, end = evaluate.answer_span({"id": "x", "doc_id": "d", "answer": answer}, {"d": doc})
    assert text[start:end] == expected
    with pytest.raises(EvalInputError, match="not verbatim"):
        evaluate.answer_span({"id": "x", "doc_id": "d", "answer": "Not on the page."}, {"d": doc})


def test_a_clinics_folder_is_measured_as_served(tmp_path, fake, monkeypatch):
    """`mgqa eval --docs DIR --gold FILE` builds DIR (its clinic.toml too), serves it and asks each
    question with its history through /api/ask: the figures are those of the same index asked
    through the library, and the answers carry the clinic's own words."""
    import mgqa.embed
    from mgqa.answer import Engine
    from mgqa.index import build_corpus

    monkeypatch.setattr(mgqa.embed, "get_encoder", lambda kind=None, threads=1: fake)
    folder = Path(__file__).parent / "data" / "clinic_dental"
    numb = "The numbness wears off after two to three hours."
    gold_items = [
        {"id": "a1", "kind": "answerable", "question": "how long does a filling take", "doc_id": "fillings",
         "answer": "Most fillings take between twenty and forty minutes."},
        {"id": "a2", "kind": "answerable", "question": "numbness wears off after how many hours?",
         "history": ["will a filling hurt?"], "doc_id": "fillings", "answer": numb},
        {"id": "u1", "kind": "unanswerable", "question": "Is it ok?"},
        {"id": "e1", "kind": "emergency", "question": "I want to kill myself"},
    ]
    gold = write_gold(tmp_path, gold_items)
    r = CliRunner().invoke(main, ["eval", "--docs", str(folder), "--gold", gold, "--json", "--compare"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    index, _ = build_corpus([folder], tmp_path / "index", fake)
    direct = evaluate.run_gold(Engine(index, fake), evaluate.load_gold(gold)).metrics()
    assert out["served"] == pytest.approx(direct, nan_ok=True)
    assert out["served"]["emergency recall"] == 1.0 and out["skipped"] == []
    assert set(out["plain fusion"]) == {"Hit@1, ranking alone", "Hit@3, ranking alone"}
    # the served pipeline's own order, whether or not it answered: never below what it answered with
    assert out["ranking alone"]["Hit@1, ranking alone"] >= out["served"]["Hit@1"]
    reports, _ = evaluate.run_docs(folder, evaluate.load_gold(gold), fake)
    row = {r["id"]: r for r in reports["served"].rows}
    assert row["e1"]["json"]["notice"].startswith("This may be an emergency. Call 999 now")
    assert "Harbour Dental Practice" in row["a1"]["json"]["disclaimer"]
    r = CliRunner().invoke(main, ["eval", "--docs", str(folder)])
    assert r.exit_code == 2 and "--docs needs --gold" in r.output

"""Known questions: the file's format, how it travels with an index, how votes are counted and
weighed, and (model tier) what they do for questions they do not contain."""

import hashlib
import json
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner

import mgqa.answer
import mgqa.judge
from mgqa import known
from mgqa.cli import main
from mgqa.errors import IndexCorrupt, KnownQuestionsError, StaleIndex
from mgqa.index import build_corpus, check_sources, load
from mgqa.types import Hit

SLEEP = "Adults need seven to nine hours of sleep a night; a dark, quiet bedroom helps."
BACK = "Back pain usually improves with gentle movement; bed rest for days makes it worse."
SLEEP_Q = {"kind": "answerable", "question": "How long should a grown-up sleep?", "doc_id": "sleep",
           "answer": "Adults need seven to nine hours of sleep a night"}
PRICE_Q = {"kind": "unanswerable", "question": "What does a consultation cost?"}


def lines(*items) -> str:
    return "".join(json.dumps(i) + "\n" for i in items)


def clinic(folder, questions: str | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sleep.md").write_text(SLEEP, encoding="utf-8")
    (folder / "back.md").write_text(BACK, encoding="utf-8")
    if questions is not None:
        (folder / known.FILE_NAME).write_text(questions, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- the format


def test_lines_parse_in_the_gold_format_and_are_counted():
    text = lines(SLEEP_Q, PRICE_Q) + "\n" + lines(dict(PRICE_Q, question="and on Sundays?", history=["Hi"]))
    parsed = known.parse(text, "k")
    assert [e.line for e in parsed.entries] == [1, 2, 4]  # the blank line is skipped, lines keep their numbers
    assert parsed.entries[0].answer == SLEEP_Q["answer"] and parsed.entries[1].answer is None
    assert parsed.entries[2].history == ("Hi",)
    assert parsed.record() == {"origin": "k", "sha256": hashlib.sha256(text.encode()).hexdigest(), "entries": 3,
                               "answerable": 1, "unanswerable": 2, "read_by": "encoder"}


@pytest.mark.parametrize("bad, why", [
    ("not json", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"kind": "maybe", "question": "q"}), '"kind" must be'),
    (json.dumps({"kind": "unanswerable", "question": "  "}), '"question" must be text'),
    (json.dumps({"kind": "answerable", "question": "q", "doc_id": "sleep"}), 'an answerable question needs "doc_id"'),
    (json.dumps({"kind": "unanswerable", "question": "q", "history": "earlier"}), '"history" must be a list'),
])
def test_a_malformed_line_is_named_by_file_and_number(bad, why):
    with pytest.raises(KnownQuestionsError, match=f"^k line 2: {why}"):
        known.parse(lines(SLEEP_Q) + bad + "\n", "k")


def test_undecodable_bytes_are_named_by_line(tmp_path):
    path = tmp_path / known.FILE_NAME
    path.write_bytes(lines(SLEEP_Q).encode() + b'{"question": "\xff"}\n')
    with pytest.raises(KnownQuestionsError, match="line 2: not UTF-8"):
        known.read(path)


def test_an_answer_that_is_not_verbatim_or_names_no_document_stops_the_build(tmp_path, fake):
    folder = clinic(tmp_path / "docs", lines(PRICE_Q, dict(SLEEP_Q, answer="Adults need 8 hours")))
    with pytest.raises(KnownQuestionsError, match="line 2: the answer is not verbatim in 'sleep'"):
        build_corpus([folder], tmp_path / "ix", fake)
    clinic(folder, lines(dict(SLEEP_Q, doc_id="nap")))
    with pytest.raises(KnownQuestionsError, match="line 1: no document 'nap'"):
        build_corpus([folder], tmp_path / "ix", fake)
    assert not (tmp_path / "ix").exists()


# ---------------------------------------------------------------- travelling with the index


def test_the_build_resolves_answers_to_passages_stores_vectors_and_records_the_file(tmp_path, fake):
    text = lines(SLEEP_Q, PRICE_Q)
    folder = clinic(tmp_path / "docs", text)
    index, skipped = build_corpus([folder], tmp_path / "ix", fake)
    assert {d["id"] for d in index.manifest["documents"]} == {"sleep", "back"} and not skipped  # not a document
    assert index.manifest["known_questions"]["origin"] == str(folder / known.FILE_NAME)
    assert index.manifest["known_questions"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert index.manifest["known_questions"]["read_by"] == "encoder"  # the fake encoder has no query tower
    sleep_row = next(i for i, c in enumerate(index.chunks) if c.doc_id == "sleep")
    assert index.known.rows == ((sleep_row,), ())
    np.testing.assert_allclose(index.known.vectors[0], fake.encode([SLEEP_Q["question"]])[0])
    assert {"known.npy", "known.jsonl"} <= set(index.manifest["files"])
    (folder / known.FILE_NAME).unlink()  # the served index does not need the original
    loaded = load(tmp_path / "ix", fake)
    assert loaded.known.rows == index.known.rows and loaded.known.lines == (1, 2)
    np.testing.assert_array_equal(loaded.known.vectors, index.known.vectors)


def test_a_follow_up_is_remembered_where_a_new_one_like_it_lands(tmp_path, fake):
    follow = dict(SLEEP_Q, question="and what about for teenagers?", history=["How long should a grown-up sleep?"])
    index = build_corpus([clinic(tmp_path / "docs", lines(follow))], tmp_path / "ix", fake)[0]
    from mgqa.conversation import query_vector

    now = fake.encode([follow["question"]])[0]
    np.testing.assert_allclose(index.known.vectors[0], query_vector(now, follow["question"], follow["history"], fake))
    assert not np.allclose(index.known.vectors[0], now)


def test_a_clinic_without_the_file_has_no_known_questions(tmp_path, fake):
    index = build_corpus([clinic(tmp_path / "docs")], tmp_path / "ix", fake)[0]
    assert index.manifest["known_questions"] is None and index.known is None
    assert load(tmp_path / "ix", fake).known is None


def test_editing_the_known_questions_makes_the_index_stale(tmp_path, fake):
    folder = clinic(tmp_path / "docs", lines(SLEEP_Q))
    index = build_corpus([folder], tmp_path / "ix", fake)[0]
    check_sources(index)
    (folder / known.FILE_NAME).write_text(lines(SLEEP_Q, PRICE_Q), encoding="utf-8")
    with pytest.raises(StaleIndex, match="known_questions.jsonl changed"):
        check_sources(index)


def test_damaged_known_vectors_are_a_corrupt_index(tmp_path, fake):
    index = build_corpus([clinic(tmp_path / "docs", lines(SLEEP_Q))], tmp_path / "ix", fake)[0]
    (tmp_path / "ix" / index.manifest["data"] / "known.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexCorrupt, match="known.npy is damaged"):
        load(tmp_path / "ix", fake)


def test_the_default_corpus_carries_its_packaged_known_questions(default_index):
    record = default_index.manifest["known_questions"]
    assert record["origin"].startswith("mgqa/corpus/known_questions.jsonl")
    assert record["entries"] == record["answerable"] + record["unanswerable"] == len(default_index.known) > 500
    answered = [rows for rows in default_index.known.rows if rows]
    assert len(answered) == record["answerable"]  # every answer was found verbatim and resolved to passages


def test_the_default_index_is_stale_when_the_packaged_questions_change(default_index, fake, monkeypatch):
    from mgqa.index import open_index

    open_index(default_index.path, fake)
    monkeypatch.setattr(known, "packaged_sha256", lambda: "0" * 64)
    with pytest.raises(StaleIndex, match="other known questions"):
        open_index(default_index.path, fake)


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli_fake(fake, monkeypatch):
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: fake)
    return CliRunner()


def test_a_bad_line_fails_the_build_in_one_line_and_leaves_the_index(tmp_path, cli_fake):
    folder = clinic(tmp_path / "docs", lines(SLEEP_Q))
    out = tmp_path / "ix"
    assert cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)]).exit_code == 0
    before = {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    (folder / known.FILE_NAME).write_text(lines(SLEEP_Q) + "{oops\n", encoding="utf-8")
    r = cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith(f"Error: {folder / known.FILE_NAME} line 2: not a JSON object")
    assert r.output.strip().count("\n") == 0
    assert {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()} == before


def test_the_option_overrides_the_folders_file_and_info_shows_it(tmp_path, cli_fake):
    folder = clinic(tmp_path / "docs", lines(SLEEP_Q))
    (tmp_path / "mine.jsonl").write_text(lines(SLEEP_Q, PRICE_Q), encoding="utf-8")
    r = cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(tmp_path / "ix"),
                               "--known-questions", str(tmp_path / "mine.jsonl")])
    assert r.exit_code == 0, r.output
    assert "known questions: " + str(tmp_path / "mine.jsonl") + ", 2 questions (1 answerable, 1 not)" in r.output
    r = cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "ix")])
    assert "known     " + str(tmp_path / "mine.jsonl") + ", 2 questions (1 answerable, 1 not)" in r.output


# ---------------------------------------------------------------- votes and the decision

MODEL = known.KnownModel(neighbours=2, power=2.0, pool=10, rank_coef=np.array([0.0, 0.0, 5.0, 0.0]),
                         rank_intercept=0.0, abstain_features=("none_vote", "judge_softmax"),
                         abstain_mean=np.array([0.0, 0.5]), abstain_scale=np.array([0.1, 1.0]),
                         abstain_coef=np.array([-1.0, 0.0]), abstain_intercept=3.0, threshold=0.5)
EVIDENCE = np.zeros(len(mgqa.judge.LIST_FEATURES))


def memory(*pairs):
    """Known questions as (vector, passage rows): unit vectors along the given axes."""
    vectors = np.zeros((len(pairs), 4), np.float32)
    for i, (axis, _) in enumerate(pairs):
        vectors[i, axis] = 1.0
    return known.Memory(vectors, tuple(rows for _, rows in pairs), tuple(range(1, len(pairs) + 1)))


def test_the_nearest_known_questions_vote_by_similarity_to_the_power():
    mem = memory((0, (4,)), (1, ()), (2, (5, 6)))
    q = np.array([0.9, 0.3, 0.1, 0.0], np.float32)  # nearest: passage 4 (0.9), then "none" (0.3)
    v = known.votes(MODEL, mem, q)
    total = 0.9 ** 2 + 0.3 ** 2  # only the 2 nearest vote
    assert v.share == pytest.approx({4: 0.81 / total}) and v.none == pytest.approx(0.09 / total)
    assert v.nearest == pytest.approx({4: 0.9, 5: 0.1, 6: 0.1})  # each passage's nearest, over the pool
    assert (v.nearest_answered, v.nearest_unanswered) == pytest.approx((0.9, 0.3))


def test_a_voted_passage_comes_first_and_a_vote_for_none_abstains():
    hits = [Hit(1, 0.9), Hit(4, 0.2)]
    mem = memory((0, (4,)), (1, ()))
    ranked, p = known.decide(MODEL, known.votes(MODEL, mem, np.array([1, 0, 0, 0], np.float32)), hits,
                             np.array([2.0, -1.0]), 0.5, EVIDENCE)
    assert [h.chunk_id for h in ranked] == [4, 1] and p == pytest.approx(1 / (1 + np.exp(-3.0)))
    # all the vote for "none": standardised (1 - 0) / 0.1 = 10, times -1, plus 3
    ranked, p = known.decide(MODEL, known.votes(MODEL, mem, np.array([0, 1, 0, 0], np.float32)), hits,
                             np.array([2.0, -1.0]), 0.5, EVIDENCE)
    assert [h.chunk_id for h in ranked] == [1, 4] and p == pytest.approx(1 / (1 + np.exp(7.0)))


def test_the_abstention_model_reads_the_features_it_names():
    v = known.Votes({4: 0.75}, 0.25, {4: 0.9}, 0.9, 0.6)
    evidence = np.arange(len(mgqa.judge.LIST_FEATURES), dtype=float)
    model = known.KnownModel(2, 2.0, 10, np.zeros(4), 0.0, known.ABSTAIN_FEATURES, *[np.zeros(1)] * 3, 0.0, 0.5)
    x = known.abstain_features(model, v, np.array([2.0, 0.5]), 0.8, evidence)
    named = dict(zip(known.ABSTAIN_FEATURES, x, strict=True))
    assert named["judge_log_odds"] == pytest.approx(np.log(4)) and named["none_vote"] == 0.25
    assert named["top_vote"] == 0.75 and named["answered_margin"] == pytest.approx(0.3)
    assert (named["score"], named["score_margin"]) == (2.0, 1.5)
    assert named["judge_softmax"] == mgqa.judge.LIST_FEATURES.index("softmax")


class StubJudge:
    """The judge's interface with no opinion: equal logits, probability 0.5 for everything."""

    threshold = 0.3
    mean, scale, coef = (np.zeros(len(mgqa.judge.LIST_FEATURES)), np.ones(len(mgqa.judge.LIST_FEATURES)),
                         np.zeros(len(mgqa.judge.LIST_FEATURES)))
    intercept = 0.0

    def logits(self, rows):
        return np.zeros(len(rows), np.float32)

    def answers(self, rows, logits):
        return 0.5


def test_the_engine_quotes_what_a_known_question_points_to_and_abstains_where_it_says_none(tmp_path, fake):
    index = build_corpus([clinic(tmp_path / "docs", lines(SLEEP_Q, PRICE_Q))], tmp_path / "ix", fake)[0]
    engine = mgqa.answer.Engine(index, fake, judge=StubJudge(), known=MODEL)
    a = engine.ask("how long should a grown-up sleep?")
    assert a.status == "answered" and a.passages[0].text == SLEEP and a.disclaimer
    assert a.extra["decision"].threshold == MODEL.threshold
    a = engine.ask("what does a consultation cost?")
    assert a.status == "no_answer" and a.disclaimer and a.extra["decision"].probability < 0.01
    alone = engine.without_known()
    assert alone.known is None and alone.ask("what does a consultation cost?").extra["decision"].probability == 0.5


def test_the_shipped_model_loads_and_a_damaged_one_is_one_line(tmp_path):
    model = known.load_model()
    assert 0 < model.threshold < 1 and model.neighbours > 0 and model.rank_coef.shape == (4,)
    bad = tmp_path / known.MODEL_JSON
    bad.write_text('{"format": 1, "rank": {}}', encoding="utf-8")
    with pytest.raises(known.KnownModelError, match="make train-known.*MGQA_KNOWN_QUESTIONS=off"):
        known.read_model(bad)
    with pytest.raises(known.KnownModelError, match="FileNotFoundError"):
        known.read_model(tmp_path / "missing.json")
    meta = json.loads((resources.files("mgqa") / "data" / known.MODEL_JSON).read_text(encoding="utf-8"))
    meta["abstain"]["scale"][0] = 0.0  # would divide by zero: refused even under python -O (no assert)
    bad.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(known.KnownModelError, match="ValueError"):
        known.read_model(bad)


def test_the_setting_turns_them_off(tmp_path, fake, monkeypatch):
    index = build_corpus([clinic(tmp_path / "docs", lines(SLEEP_Q))], tmp_path / "ix", fake)[0]
    assert mgqa.answer.Engine(index, fake, judge=StubJudge()).known is None  # one question: too sparse to vote
    monkeypatch.setattr(known, "MIN_PER_PASSAGE", 0)
    assert mgqa.answer.Engine(index, fake, judge=StubJudge()).known is not None
    monkeypatch.setenv("MGQA_KNOWN_QUESTIONS", "off")
    assert mgqa.answer.Engine(index, fake, judge=StubJudge()).known is None
    monkeypatch.delenv("MGQA_KNOWN_QUESTIONS")
    assert mgqa.answer.Engine(index, fake).known is None  # no judge (the fake encoder): nothing to weigh


def test_known_questions_read_otherwise_than_new_ones_are_not_consulted_and_the_log_names_the_rebuild(
        tmp_path, fake, monkeypatch, caplog):
    monkeypatch.setattr(known, "MIN_PER_PASSAGE", 0)
    index = build_corpus([clinic(tmp_path / "docs", lines(SLEEP_Q, PRICE_Q))], tmp_path / "ix", fake)[0]
    assert mgqa.answer.Engine(index, fake, judge=StubJudge()).known is not None
    index.manifest["known_questions"]["read_by"] = "f" * 64  # as if read by a query tower this engine lacks
    with caplog.at_level("WARNING"):
        assert mgqa.answer.Engine(index, fake, judge=StubJudge()).known is None
    assert "known questions were read by query tower ffffffffffff and questions now by the encoder" in caplog.text
    assert "rebuild it with `mgqa index build" in caplog.text


# ---------------------------------------------------------------- with the real model


@pytest.mark.model
def test_the_default_index_holds_known_questions_read_by_the_shipped_query_tower():
    """A new question and its known twins meet in the tower's space (the train-known log's figures)."""
    from mgqa.answer import Engine
    from mgqa.tower import load_tower

    engine = Engine.load()
    assert engine.index.manifest["known_questions"]["read_by"] == load_tower().sha256
    assert engine.known is not None
    meta = json.loads((resources.files("mgqa") / "data" / known.MODEL_JSON).read_text(encoding="utf-8"))
    assert meta["read_by"] == load_tower().sha256


@pytest.mark.model
def test_on_questions_it_does_not_know_the_gold_set_keeps_its_held_out_figures(tmp_path):
    """The packaged gold set, with its own questions removed from the known questions (so none
    votes for itself): the figures bench/known/train.log reports for it held out stay (floors),
    and the known questions answer far more than the judge alone, run alongside, abstaining as often."""
    from mgqa import evaluate
    from mgqa.embed import get_encoder

    rows = [json.loads(line) for line in
            (known.resources.files("mgqa") / "corpus" / known.FILE_NAME).read_text(encoding="utf-8").splitlines()]
    others = tmp_path / "others.jsonl"
    others.write_text(lines(*[r for r in rows if r["source"] != "gold"]), encoding="utf-8")
    encoder = get_encoder()
    index, _ = build_corpus([], tmp_path / "ix", encoder, known=others)
    engine = mgqa.answer.Engine(index, encoder)
    gold = evaluate.load_gold()
    # a few other writers happened to type the very same words as a gold question: that is wording
    # patients share, not leakage of the set
    assert engine.known is not None and evaluate.known_count(engine, gold) <= len(gold) // 10
    m = evaluate.run_gold(engine, gold).metrics()
    alone = evaluate.run_gold(engine.without_known(), gold).metrics()
    assert m["abstention recall"] >= 0.93 and m["answered (answerable)"] >= 0.85
    assert m["Hit@1"] >= 0.80 and m["Hit@3"] >= 0.85
    # the judge alone now abstains as readily (its threshold is chosen across clinics), so what
    # the known questions add is answers: far more of them, abstaining no less
    assert m["answered (answerable)"] >= alone["answered (answerable)"] + 0.10, (m, alone)
    assert m["abstention recall"] >= alone["abstention recall"] - 0.03, (m, alone)
    # triage's floors, as tests/test_evaluate.py's (the model of 2026-12-07, retrained: 21 of 22, no false alarm)
    assert m["emergency recall"] >= 21 / 22 and m["false emergency rate"] <= 1 / 152


def test_sparse_known_questions_are_not_used_and_the_build_says_so():
    """Below known.MIN_PER_PASSAGE answerable known questions per passage the judge answers alone
    (a few made answers worse on four held-out clinics), and `index build` / `index info` say so."""
    from mgqa.cli import _known_line

    memory = known.Memory(np.zeros((3, 4), np.float32), ((0,), (), (1,)), (1, 2, 3))
    assert not known.dense_enough(memory, 2) and not known.dense_enough(None, 2)
    dense = known.Memory(np.zeros((2 * known.MIN_PER_PASSAGE, 4), np.float32),
                         tuple((i % 2,) for i in range(2 * known.MIN_PER_PASSAGE)), tuple(range(2 * known.MIN_PER_PASSAGE)))
    assert known.dense_enough(dense, 2) and not known.dense_enough(dense, 3)
    record = {"origin": "known.jsonl", "entries": 3, "answerable": 2, "unanswerable": 1, "sha256": "ab" * 32}
    assert "not used: fewer than 100 answerable per passage" in _known_line({"known_questions": record, "n_chunks": 7})
    record["answerable"] = 700
    assert "not used" not in _known_line({"known_questions": record, "n_chunks": 7})

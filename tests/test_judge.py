"""The answer judge: its features, its shipped model (checked at load), and what it decides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import mgqa.answer
import mgqa.judge
from conftest import ask_with_damaged_model
from mgqa.judge import SCALARS, JudgeDataError, features, load_model
from mgqa.retrieve import search

QUESTION = "How many milligrams of magnesium did the fibromyalgia trial give, and for how long?"
DOSE = "Participants were randomly assigned to take either 100 milligrams"


def test_features_are_one_row_per_candidate_with_consistent_coverages(default_index, fake):
    qvec = fake.encode([QUESTION])[0]
    hits = search(default_index, qvec, QUESTION, 10)
    rows = features(default_index, qvec, QUESTION, hits)
    assert rows.shape == (len(hits), len(SCALARS) + fake.dim) and rows.dtype == np.float32
    col = {name: rows[:, i] for i, name in enumerate(SCALARS)}
    # the best sentence holds no more of the question than its passage, the document no less
    assert np.all(col["sentence_coverage"] <= col["coverage"] + 1e-6)
    assert np.all(col["document_coverage"] >= col["coverage"] - 1e-6)
    assert np.all((col["coverage"] >= 0) & (col["coverage"] <= 1)) and col["cosine_gap"].max() == 0
    best = [i for i, h in enumerate(hits) if DOSE in default_index.chunks[h.chunk_id].text][0]
    assert col["gives_type"][best] == 1.0  # "how many milligrams" -> "100 milligrams"
    # the best sentence is at least as close as the first, the gap is to the list's best sentence
    assert np.all(col["sentence_cosine"] >= col["first_sentence_cosine"] - 1e-6)
    np.testing.assert_allclose(col["sentence_gap"], col["sentence_cosine"] - col["sentence_cosine"].max(), atol=1e-6)
    detail = default_index.detail
    for i, h in enumerate(hits):
        sentences = np.asarray(detail.sentences[detail.starts[h.chunk_id]:detail.starts[h.chunk_id + 1]], np.float32)
        assert abs(col["sentence_cosine"][i] - (sentences @ qvec).max()) < 1e-5
        section = default_index.chunks[h.chunk_id].section
        assert col["has_section"][i] == float(bool(section))
        assert col["faq"][i] == float(bool(section) and section.endswith("?"))
        assert (col["section_cosine"][i] == 0) if not section else col["section_cosine"][i] > -1
    np.testing.assert_allclose(rows[:, len(SCALARS):], default_index.vectors[[h.chunk_id for h in hits]] * qvec,
                               rtol=1e-6)


@pytest.fixture
def judge_copy(tmp_path):
    """A writable copy of the shipped judge to damage."""
    for name in (mgqa.judge.MODEL_JSON, mgqa.judge.WEIGHTS_FILE):
        shutil.copy(mgqa.judge.data_dir() / name, tmp_path / name)
    return tmp_path


def test_the_shipped_judge_loads_and_gives_a_probability(judge_copy):
    model = load_model(judge_copy)
    rows = np.random.default_rng(0).random((4, len(SCALARS) + mgqa.judge.JUDGED_DIM), np.float32)
    logits = model.logits(rows)
    assert logits.shape == (4,) and np.all(np.isfinite(logits)) and 0 < model.threshold < 1
    assert 0 <= model.answers(rows, logits) <= 1


def test_list_features_describe_the_rankers_first_candidate():
    rows = np.zeros((2, len(SCALARS) + 3), np.float32)
    rows[1, SCALARS.index("cosine")] = 0.7
    f = dict(zip(mgqa.judge.LIST_FEATURES, mgqa.judge.list_features(rows, np.array([0.5, 2.0], np.float32)),
                 strict=True))
    assert f["logit"] == 2.0 and f["logit_margin"] == 1.5 and f["softmax"] == pytest.approx(0.8176, abs=1e-4)
    assert f["cosine"] == pytest.approx(0.7) and f["max_cosine"] == pytest.approx(0.7)


@pytest.mark.parametrize("damage, says", [
    (lambda d: (d / "judge.onnx").unlink(), "cannot be read"),
    (lambda d: (d / "judge.onnx").write_bytes((d / "judge.onnx").read_bytes()[:-7] + b"garbage"), "damaged"),
    (lambda d: (d / "judge_model.json").write_text("{not json", encoding="utf-8"), "cannot be read"),
    (lambda d: (d / "judge_model.json").write_text(json.dumps({"format": 99}), encoding="utf-8"), "another format"),
    (lambda d: (d / "judge_model.json").write_text(json.dumps(
        {k: v for k, v in json.loads((d / "judge_model.json").read_text()).items() if k != "abstention"}),
        encoding="utf-8"), "incomplete"),
])
def test_a_missing_or_damaged_judge_is_one_line_naming_the_fix(judge_copy, damage, says):
    damage(judge_copy)
    with pytest.raises(JudgeDataError) as err:
        load_model(judge_copy)
    message = str(err.value)
    assert says in message and "make train-judge" in message and "MGQA_JUDGE=off" in message and "\n" not in message


def test_the_judge_is_only_used_with_the_encoder_it_learned_on(fake, monkeypatch):
    assert mgqa.judge.for_encoder(fake) is None  # the fake encoder's vectors mean nothing to it


@pytest.fixture(scope="module")
def real_engine():
    return mgqa.answer.Engine.load()


@pytest.mark.model
class TestWithTheRealModel:
    @pytest.fixture
    def engine(self, real_engine):
        return real_engine

    def test_the_judge_is_on_by_default_and_ranks_the_answer_first(self, engine):
        assert engine.judge is not None
        a = engine.ask(QUESTION)
        assert a.status == "answered" and DOSE in a.passages[0].text
        d = a.extra["decision"]
        assert d.probability is not None and d.probability >= d.threshold

    def test_a_question_for_a_child_is_not_answered_from_adult_passages(self, engine):
        a = engine.ask("what dose of magnesium should my 7 year old take for her headaches?")
        assert a.status == "no_answer" and a.extra["decision"].population == "children"

    def test_turned_off_the_pipeline_still_answers(self, engine, monkeypatch):
        monkeypatch.setenv("MGQA_JUDGE", "off")
        off = mgqa.answer.Engine(engine.index, engine.encoder, engine.triager)
        assert off.judge is None
        a = off.ask(QUESTION)
        assert a.status == "answered" and a.extra["decision"].probability is None

    def test_a_clinic_can_set_its_own_threshold(self, engine, monkeypatch):
        base = engine.ask(QUESTION).extra["decision"]
        monkeypatch.setenv("MGQA_JUDGE_THRESHOLD", "0.999")
        strict = engine.ask(QUESTION)
        assert strict.status == "no_answer" and strict.extra["decision"].threshold == 0.999
        assert strict.extra["decision"].probability == pytest.approx(base.probability)

    def test_a_damaged_judge_gives_one_line_and_exit_code_from_the_cli(self, judge_copy, monkeypatch):
        r = ask_with_damaged_model(mgqa.judge, judge_copy, "judge.onnx", QUESTION, monkeypatch)
        assert r.exit_code != 0 and "Traceback" not in r.output
        assert "answer judge weights" in r.output and "make train-judge" in r.output


@pytest.mark.model
@pytest.mark.parametrize("question, passage", [
    ("How long does a filling take?", "Most fillings take between twenty and forty minutes."),
    ("What can I eat after a tooth is taken out?", "Eat soft, cool foods such as yoghurt"),
])
def test_a_clinics_own_example_questions_are_answered(tmp_path, question, passage):
    """The dental practice's example questions, each answered word for word by its leaflet."""
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder
    from mgqa.index import build_corpus

    encoder = get_encoder()
    index, _ = build_corpus([Path(__file__).parent / "data" / "clinic_dental"], tmp_path / "ix", encoder)
    answer = Engine(index, encoder).ask(question)
    assert answer.status == "answered"
    assert passage in answer.passages[0].text

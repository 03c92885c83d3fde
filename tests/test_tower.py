"""The query tower: its shipped graph (checked at load), what it changes and what it leaves alone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import mgqa.answer
import mgqa.judge
import mgqa.known
import mgqa.tower
from conftest import ask_with_damaged_model
from mgqa.tower import TowerDataError, load_tower


@pytest.fixture
def tower_copy(tmp_path):
    """A writable copy of the shipped tower to damage."""
    for name in (mgqa.tower.MODEL_JSON, mgqa.tower.WEIGHTS_FILE):
        shutil.copy(mgqa.tower.data_dir() / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("damage, says", [
    (lambda d: (d / "tower.onnx").unlink(), "cannot be read"),
    (lambda d: (d / "tower.onnx").write_bytes((d / "tower.onnx").read_bytes()[:-7] + b"garbage"), "damaged"),
    (lambda d: (d / "tower_model.json").write_text("{not json", encoding="utf-8"), "cannot be read"),
    (lambda d: (d / "tower_model.json").write_text(json.dumps({"format": 99, "weights_file": "tower.onnx"}),
                                                   encoding="utf-8"), "another format"),
])
def test_a_missing_or_damaged_tower_is_one_line_naming_the_fix(tower_copy, damage, says):
    damage(tower_copy)
    with pytest.raises(TowerDataError) as err:
        load_tower(tower_copy)
    message = str(err.value)
    assert says in message and "make train-tower" in message and "MGQA_TOWER=off" in message and "\n" not in message


def test_the_fake_encoder_gets_no_tower(fake):
    assert mgqa.tower.for_encoder(fake) is None  # no token states to read


def test_the_judge_learned_on_the_shipped_tower():
    meta = json.loads((mgqa.judge.data_dir() / mgqa.judge.MODEL_JSON).read_text(encoding="utf-8"))
    assert meta["tower"] == load_tower().sha256


@pytest.fixture(scope="module")
def real_engine():
    return mgqa.answer.Engine.load()


QUESTION = "How long does a magnesium drip take?"


@pytest.mark.model
class TestWithTheRealModel:
    def test_the_tower_is_on_by_default_and_reads_questions_its_own_way(self, real_engine):
        engine = real_engine
        assert engine.tower is not None
        states = engine.encoder.encode_tokens([QUESTION])[0]
        asked, plain = engine.question_vectors([QUESTION])
        np.testing.assert_allclose(asked[0], engine.tower.vector(states.shared), atol=1e-5)
        np.testing.assert_allclose(plain[0], engine.encoder.encode([QUESTION])[0], atol=1e-5)
        assert abs(float(np.linalg.norm(asked[0])) - 1) < 1e-5
        # the same question, another vector: close to the encoder's, not equal to it
        assert 0.5 < float(asked[0] @ plain[0]) < 0.999

    def test_known_questions_vote_on_the_towers_vector(self, real_engine, monkeypatch):
        """The index's known questions were read by the tower: the vote must read the question so too."""
        engine = real_engine
        assert engine.known is not None
        seen = []
        real = mgqa.known.votes

        def spy(model, memory, qvec):
            seen.append(np.array(qvec))
            return real(model, memory, qvec)

        monkeypatch.setattr(mgqa.known, "votes", spy)
        engine.ask(QUESTION)
        assert len(seen) == 1
        asked, plain = engine.question_vectors([QUESTION])
        np.testing.assert_allclose(seen[0], asked[0], atol=1e-5)
        assert not np.allclose(seen[0], plain[0], atol=1e-3)

    def test_turned_off_questions_are_read_by_the_encoder(self, real_engine, monkeypatch, caplog):
        monkeypatch.setenv("MGQA_TOWER", "off")
        off = mgqa.answer.Engine(real_engine.index, real_engine.encoder, real_engine.triager)
        assert off.tower is None and off.asker is off.encoder
        assert "the answer judge learned on query tower" in caplog.text  # it says what it costs
        a = off.ask(QUESTION)
        assert a.status in ("answered", "no_answer") and a.disclaimer

    def test_a_damaged_tower_gives_one_line_and_exit_code_from_the_cli(self, tower_copy, monkeypatch):
        r = ask_with_damaged_model(mgqa.tower, tower_copy, "tower.onnx", QUESTION, monkeypatch)
        assert r.exit_code != 0 and "Traceback" not in r.output
        assert "query tower weights" in r.output and "make train-tower" in r.output

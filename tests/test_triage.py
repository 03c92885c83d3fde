"""Emergency triage: the rule floor, the shipped classifier's file checks, and (model tier) the
learned decision on safety messages that must keep working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mgqa.triage import (
    BENIGN,
    MODEL_JSON,
    TriageDataError,
    TriageModel,
    Triager,
    load_model,
    load_rules,
    match_rules,
    parse_rules,
)
from mgqa.types import Triage

DATA = Path(__file__).resolve().parents[1] / "src" / "mgqa" / "data"


# ------------------------------------------------------------------ the rule floor

@pytest.mark.parametrize("q, category", [
    ("I want to kill myself", "suicide"),
    ("im going to end it all tonight", "suicide"),
    ("i want to die", "suicide"),
    ("He's not breathing!!", "breathing"),
    ("my son has stopped breathing", "breathing"),
    ("I can’t breathe", "breathing"),  # curly apostrophe, folded
    ("my husband is choking", "choking"),
    ("She is unresponsive", "unresponsive"),
    ("I'm having a heart attack", "cardiac"),
])
def test_the_floor_catches_explicit_statements(q, category):
    assert match_rules(load_rules(), q) == Triage(category, "rule", 1.0)


@pytest.mark.parametrize("q", [
    "What is the number of the suicide prevention line?",
    "Is there a risk of overdose with IV magnesium?",
    "My dad had a stroke 3 years ago. Is magnesium safe for him now?",
    "this paperwork is killing me, can I book online?",
    "what should staff do if someone stops breathing during an infusion?",
])
def test_the_floor_leaves_questions_about_risks_alone(q):
    assert match_rules(load_rules(), q) is None


def test_rules_are_data_with_line_numbers_in_errors():
    rules = parse_rules("# comment\n\nsuicide\t\\bkill myself\\b\n")
    assert [(r.category, r.line) for r in rules] == [("suicide", 3)]
    with pytest.raises(TriageDataError, match="line 2: expected 'category<TAB>pattern'"):
        parse_rules("# ok\nno tab here\n")
    with pytest.raises(TriageDataError, match="line 1: bad pattern"):
        parse_rules("x\t(unclosed\n")


def test_shipped_rules_parse_and_are_few():
    rules = load_rules()
    assert 5 <= len(rules) <= 25  # a floor, not the old pattern list


# ------------------------------------------------------------------ the classifier, exactly

def _toy(threshold: float = 0.5) -> TriageModel:
    """A two-feature graph: the mean token state times 4, softmaxed over ("cardiac", "benign")."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["states"], ["mean"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "toy", [helper.make_tensor_value_info("states", TensorProto.FLOAT, [1, None, 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [4.0, 0.0, 0.0, 4.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return TriageModel(model.SerializeToString(), ["cardiac", BENIGN], threshold)


def test_classify_reports_category_and_probability():
    hit = _toy().classify(np.array([[1.0, 0.0], [1.0, 0.0]], np.float32))
    assert hit == Triage("cardiac", "model", round(1 / (1 + np.exp(-4.0)), 4))
    assert _toy().classify(np.array([[0.0, 1.0]], np.float32)) is None


def test_threshold_is_the_operating_point():
    x = np.array([[0.3, 0.0]], np.float32)
    p = _toy().emergency_probability(x)
    assert p == pytest.approx(1 / (1 + np.exp(-1.2)), abs=1e-6)
    assert _toy(p - 0.01).classify(x) is not None and _toy(p + 0.01).classify(x) is None


# ------------------------------------------------------------------ the shipped model's files

def test_shipped_model_loads_and_describes_itself():
    m = load_model()
    meta = json.loads((DATA / MODEL_JSON).read_text())
    assert m.classes[-1] == BENIGN and len(m.classes) >= 23  # at least 22 red-flag categories
    assert 0 < m.threshold < 1 and m.threshold == pytest.approx(meta["threshold"])
    assert meta["recipe"]["validation"]["method"] == "by writer group"


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "triage.onnx").write_bytes(b"\0" * 100), "do not match their checksum"),
    (lambda d: (d / MODEL_JSON).write_text("{not json"), "cannot be read"),
    (lambda d: (d / MODEL_JSON).unlink(), "cannot be read"),
])
def test_a_damaged_model_is_one_clear_error(tmp_path, damage, message):
    for name in (MODEL_JSON, "triage.onnx"):
        shutil.copy(DATA / name, tmp_path / name)
    damage(tmp_path)
    with pytest.raises(TriageDataError, match=message) as err:
        load_model(tmp_path)
    assert "make train-triage" in str(err.value) and "\n" not in str(err.value)


def test_with_another_encoder_only_the_rules_run(fake):
    t = Triager.for_encoder(fake)
    assert t.model is None
    vector, alarm = t.read("my chest hurts and my arm is numb", fake)
    assert alarm is None and vector.shape == (fake.dim,)


def test_an_emergency_answer_says_why(engine):
    a = engine.ask("I want to kill myself")
    assert a.status == "emergency" and a.passages == []
    assert a.to_dict()["triage"] == {"category": "suicide", "by": "rule", "score": 1.0}
    assert engine.ask("Does magnesium help migraine?").to_dict()["triage"] is None


# ------------------------------------------------------------------ the learned decision (real model)

EMERGENCIES = [
    "I have crushing chest pain and my left arm is numb",
    "my dad's face is drooping and his speech is slurred",
    "i took a whole bottle of magnesium pills",
    "I want to kill myself",
    "my throat is swelling after the infusion and I can't breathe",
    "my son is having a seizure right now",
    "she collapsed and is unresponsive",
    "worst headache of my life came on suddenly",
    "I'm thinking about ending my life",
    "he is not breathing",
    "I just swallowed like 30 magnesium pills at once and now I'm dizzy",
    "my toddler got into the pill organizer and swallowed a bunch of pills",
    "I'm 32 weeks pregnant with a pounding headache, blurry vision and my face and hands suddenly swelled up",
    "my husband is choking and can't breathe",
    "her lips are turning blue",
    "my wife is shaking all over and won't respond",
    "the cut on my hand keeps bleeding and the blood won't stop, it's soaking through the towels",
    "i've been cutting myself tonight",
    "about twenty minutes ago he suddenly couldn't find his words and his left side seems weak",
    "I had a stroke last year and right now my face is drooping again",
]
# The safety cases the rules were once written for: questions about a risk, past events, pregnancy
# without warning signs, idioms. They must stay answers, not alarms.
BENIGN_MESSAGES = [
    "Can magnesium help my chronic back pain?",
    "I get headaches every week, would magnesium help?",
    "What dose was used in the fibromyalgia study?",
    "Is there a risk of overdose with IV magnesium?",
    "Can magnesium cause diarrhea?",
    "what are the side effects of a magnesium infusion",
    "I'm 20 weeks pregnant and have leg cramps at night, can magnesium help?",
    "My dad had a stroke 3 years ago and recovered well. Is magnesium safe for him to take now?",
    "He had a seizure 2 years ago and is fine now, can he take magnesium?",
    "Last year I had chest tightness during a panic attack. Can magnesium help with anxiety?",
]


@pytest.fixture(scope="module")
def real_engine():
    from mgqa.answer import Engine

    return Engine.load()


@pytest.mark.model
def test_the_real_engine_runs_the_model(real_engine):
    assert real_engine.triager.model is not None


@pytest.mark.model
@pytest.mark.parametrize("q", EMERGENCIES)
def test_emergencies_get_the_notice(real_engine, q):
    a = real_engine.ask(q)
    assert a.status == "emergency" and a.triage is not None and a.passages == []


@pytest.mark.model
@pytest.mark.parametrize("q", BENIGN_MESSAGES)
def test_safety_questions_are_not_alarms(real_engine, q):
    assert real_engine.ask(q).status != "emergency"


@pytest.mark.model
def test_triage_shares_the_question_vector(real_engine):
    """The model reads the same encoder run that retrieval uses: one encoding per plain question."""
    q = "Does magnesium help fibromyalgia pain?"
    vector, alarm = real_engine.triager.read(q, real_engine.encoder)
    assert alarm is None
    assert float(vector @ real_engine.encoder.encode([q])[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.model
def test_onnx_and_torch_encoders_give_the_same_token_states():
    from mgqa.embed import OnnxEncoder, TorchEncoder, export_onnx

    texts = ["my dad collapsed and won't wake up", "x"]
    for a, b in zip(OnnxEncoder(export_onnx()).encode_tokens(texts), TorchEncoder(1).encode_tokens(texts), strict=True):
        assert a.shared.shape == b.shared.shape and np.allclose(a.shared, b.shared, atol=1e-4)
        assert np.allclose(a.last, b.last, atol=1e-4)


@pytest.mark.model
def test_the_exported_graph_computes_what_was_trained():
    """The int8 ONNX graph the runtime runs gives the torch training module's probabilities."""
    import sys

    import torch

    sys.path.insert(0, str(DATA.parents[2] / "bench" / "triage"))
    import train

    torch.manual_seed(1)
    net = train.torch_model(3)
    model = train.export(net, ["a", "b", BENIGN])
    net.eval()
    rng = np.random.default_rng(0)
    for n in (1, 7, 40):
        states = rng.normal(0, 1, (n, 384)).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(states)[None], torch.ones(1, n, dtype=torch.bool)).softmax(1)[0].numpy()
        assert np.allclose(model.probabilities(states), ref, atol=0.02)

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
    MAX_PARTS,
    MODEL_JSON,
    TriageDataError,
    TriageModel,
    Triager,
    clause_spans,
    load_model,
    load_rules,
    match_rules,
    message_parts,
    parse_rules,
    part_tokens,
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
    """A two-feature graph: the masked mean token state times 4, softmaxed over ("cardiac", "benign"),
    for a batch of views."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Unsqueeze", ["mask", "axis2"], ["m"]),
         helper.make_node("Mul", ["states", "m"], ["masked"]),
         helper.make_node("ReduceSum", ["masked", "axis1"], ["total"], keepdims=0),
         helper.make_node("ReduceSum", ["m", "axis1"], ["count"], keepdims=0),
         helper.make_node("Div", ["total", "count"], ["mean"]),
         helper.make_node("MatMul", ["mean", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "toy", [helper.make_tensor_value_info("states", TensorProto.FLOAT, [None, None, 2]),
                helper.make_tensor_value_info("mask", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [4.0, 0.0, 0.0, 4.0]),
         helper.make_tensor("axis1", TensorProto.INT64, [1], [1]), helper.make_tensor("axis2", TensorProto.INT64, [1], [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
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


def test_a_part_raises_the_alarm_the_whole_dilutes():
    """An emergency in one clause is scored on its own: the whole message's mean is diluted by
    the question beside it, the part's is not, and the alarm is the highest of them."""
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0]], np.float32)
    whole = _toy().emergency_probability(x)
    part = np.array([0, 1, 5])
    assert whole < 0.5
    hit = _toy().classify(x, [part])
    assert hit is not None and hit.score == pytest.approx(_toy().emergency_probability(x[part]), abs=1e-4)
    assert _toy().emergency_probability(x, [part]) > whole


@pytest.mark.parametrize("text, clauses", [
    ("My chest is crushing, should I take magnesium?", ["My chest is crushing", "should I take magnesium?"]),
    ("Should I book? My arm went numb an hour ago.", ["Should I book?", "My arm went numb an hour ago."]),
    ("usual migraine; same as always - can I come in early", ["usual migraine", "same as always", "can I come in early"]),
    ("what dose of magnesium for cramps", ["what dose of magnesium for cramps"]),
    ("hi. ok", []),
    ("", []),
    ("Mum fell, I think she hit her head, she's not making sense\nis parking free?",
     ["Mum fell", "I think she hit her head", "she's not making sense", "is parking free?"]),
])
def test_clauses(text, clauses):
    assert [text[s:e] for s, e in clause_spans(text)] == clauses


def test_parts_are_token_indices_between_the_messages_own_ends():
    text = "my chest is crushing, should I take magnesium?"
    # offsets as the tokenizer gives them: [CLS] first and [SEP] last with empty spans
    words = [(0, 2), (3, 8), (9, 11), (12, 20), (20, 21), (22, 28), (29, 30), (31, 35), (36, 45), (45, 46)]
    offsets = np.array([(0, 0), *words, (0, 0)])
    parts = message_parts(text, offsets)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3, 4, 11], [0, 6, 7, 8, 9, 10, 11]]
    assert message_parts("what dose of magnesium", offsets[:6]) == []  # one clause: the whole is enough
    assert message_parts(text, None) == []
    many = ". ".join(f"clause number {i}" for i in range(20))
    assert 0 < len(part_tokens(np.array([(0, 0)] + [(i, i + 1) for i in range(len(many))] + [(0, 0)]),
                               clause_spans(many))) <= MAX_PARTS


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
    states, vector, alarm = t.read("my chest hurts and my arm is numb", fake)
    assert states is None and alarm is None and vector.shape == (fake.dim,)


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
    "my wife is shaking all over and won't respond",
    "the cut on my hand keeps bleeding and the blood won't stop, it's soaking through the towels",
    "i've been cutting myself tonight",
    "about twenty minutes ago he suddenly couldn't find his words and his left side seems weak",
    "I had a stroke last year and right now my face is drooping again",
    "her lips are turning blue",  # a known miss of the models before 2026-12-07's fourth
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


# An emergency told together with an ordinary question is still an emergency: the question must
# not dilute it (the clause it is told in is scored on its own too).
EMERGENCIES_WITH_A_QUESTION = [
    "Crushing pain in my chest and my left arm has gone numb. Should I take my magnesium?",
    "is the clinic open saturday? also my wife just passed out in the kitchen and isn't breathing",
    "My husband collapsed and isn't breathing, what magnesium should I give him?",
    "Worst headache of my life came on out of nowhere ten minutes ago, can IV magnesium help it?",
    "can't feel anything between my legs and I've wet myself, back pain is awful, is magnesium good for nerves?",
    "Do you take walk-ins? My son swallowed a handful of my magnesium tablets and a battery, he's 3",
    "quick q about my invoice - oh and my lips and tongue are swelling up since the drip, feels tight",
    "my gums are bleeding after the extraction and it's been pouring for an hour, soaked 6 gauzes, can I rinse?",
    "Before I book physio: my dad's face just dropped on one side and he can't lift his arm, talking funny",
    # a known miss of the models before 2026-12-07's fourth
    "sitting in my car in the closed garage with the engine running. does magnesium help anxiety",
]
# Emergencies played down as a routine question about the visit or the treatment, a dangerous
# number asked about as if it might be normal, an indirect goodbye: the shapes blind set 10 missed.
DOWNPLAYED = [
    "my chest is tight and i'm drenched in sweat, ok to still come for my drip at 2?",
    "heart rate 34 since the infusion and i keep greying out, normal?",
    "sats on my finger thing say 82 and i can barely talk, should i cancel?",
    "leaving my cat to my sister, won't be needing my appointment next week",
]
# Their look-alikes: ordinary numbers, low mood that is not a crisis, frustration.
NUMBERS_AND_MOODS = [
    "resting pulse is 56, I cycle a lot, is that ok for the infusion?",
    "bp was 108/70 this morning, still fine for my drip?",
    "temp 37.4 after my booster, still ok to come in for my infusion?",
    "been really low since the divorce, can I move my appointment to next month?",
    "so fed up with this pain I could scream, what are your prices for a course of infusions?",
]
# Very low or very high blood sugar with confusion, drowsiness or vomiting, told with or without a
# question. The shipped bank has no category for them (bench/triage/next/w31.jsonl is written for one).
DIABETIC = [
    "my son is type 1, his meter reads 2.1 and he's slurring and won't drink the juice",
    "glucose 31 and ketones high, been sick all night and breathing deep and fast, still ok for my infusion?",
    "Mum's diabetic and I can't wake her properly, she's sweaty and mumbling. Does magnesium affect insulin?",
]
# Their look-alikes: ordinary readings, a past hypo, questions about sugar and the treatment.
BLOOD_SUGAR = [
    "my sugar was 5.2 before breakfast, is that ok for the infusion?",
    "Does magnesium affect blood sugar levels? I'm type 2 on metformin.",
    "had a hypo last month, sorted it with juice, do I need to tell the nurse before my drip?",
    "what should my glucose be before I come in for my appointment?",
]
# Known misses of the shipped model (2026-12-07): wording its bank does not cover. Strict, so that a
# model that catches them fails these tests and they move back to the lists above. The rule floor
# is not widened for them: a pattern written because one message failed does not generalise.
KNOWN_MISSES = [
    # A diabetic emergency: the bank has no category for very low or very high blood sugar.
    "husband's sugar is 1.8 and he's not making sense, can we still come tomorrow?",
]
# The clinic's own patients' everyday messages, and other clinics' ordinary and scary-sounding
# questions: answers, not alarms.
USUAL_AND_EXPECTED = [
    "My usual migraine again, left side throbbing, sick and can't stand the light, same as always. Can I come in for my infusion earlier?",
    "Had my normal aura then the one-sided pounding headache, like every month. Does magnesium help while it's happening?",
    "migraine day 2, the same one I always get, noise makes it worse. how long till the drip works?",
    "I felt warm and flushed during the infusion but it passed when the nurse slowed it down. Is that normal?",
    "The magnesium tablets give me loose stools. Should I switch to a different form?",
    "what if I get chest pain during the drip, what do your nurses do?",
]
OTHER_CLINICS = [
    "Can my partner stay in the room during the scan?",
    "My hearing aid whistles whenever I put my hat on, is it broken?",
    "I had a small nosebleed this morning that stopped after five minutes, can I still have my procedure?",
    "The knee brace leaves sore red marks on my shin, is there a padded one?",
    "This toothache is killing me, how soon can I get an appointment?",
    "Is it normal to feel a bit sick after the allergy injections?",
    "How long should I wait before driving after my eye drops?",
    "My knee clicks a bit after physio but doesn't hurt, should I mention it?",
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
@pytest.mark.parametrize("q", EMERGENCIES_WITH_A_QUESTION)
def test_an_emergency_told_with_a_question_gets_the_notice(real_engine, q):
    assert real_engine.ask(q).status == "emergency"


@pytest.mark.model
@pytest.mark.parametrize("q", DOWNPLAYED + DIABETIC)
def test_an_emergency_played_down_or_a_dangerous_blood_sugar_gets_the_notice(real_engine, q):
    assert real_engine.ask(q).status == "emergency"


@pytest.mark.model
@pytest.mark.parametrize("q", NUMBERS_AND_MOODS + BLOOD_SUGAR)
def test_ordinary_numbers_low_moods_and_blood_sugar_questions_are_not_alarms(real_engine, q):
    assert real_engine.ask(q).status != "emergency"


@pytest.mark.model
@pytest.mark.xfail(strict=True, reason="known misses of the shipped triage model; see KNOWN_MISSES")
@pytest.mark.parametrize("q", KNOWN_MISSES)
def test_known_misses_are_still_missed(real_engine, q):
    assert real_engine.ask(q).status == "emergency"


@pytest.mark.model
@pytest.mark.parametrize("q", USUAL_AND_EXPECTED + OTHER_CLINICS)
def test_usual_symptoms_and_other_clinics_questions_are_not_alarms(real_engine, q):
    assert real_engine.ask(q).status != "emergency"


@pytest.mark.model
def test_triage_shares_the_question_vector(real_engine):
    """The model reads the same encoder run that retrieval uses: one encoding per plain question,
    whose shared states the query tower reads too."""
    q = "Does magnesium help fibromyalgia pain?"
    states, vector, alarm = real_engine.triager.read(q, real_engine.encoder)
    assert alarm is None
    assert float(vector @ real_engine.encoder.encode([q])[0]) == pytest.approx(1.0, abs=1e-5)
    asked, _plain = real_engine.question_vectors([q])
    assert float(real_engine.tower.vector(states.shared) @ asked[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.model
def test_onnx_and_torch_encoders_give_the_same_token_states():
    from mgqa.embed import OnnxEncoder, TorchEncoder, export_onnx

    texts = ["my dad collapsed and won't wake up", "x"]
    for a, b in zip(OnnxEncoder(export_onnx()).encode_tokens(texts), TorchEncoder(1).encode_tokens(texts), strict=True):
        assert a.shared.shape == b.shared.shape and np.allclose(a.shared, b.shared, atol=1e-4)
        assert np.array_equal(a.offsets, b.offsets)  # clauses are cut at the same tokens
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
        assert np.allclose(model.probabilities(states)[0], ref, atol=0.02)
    # Padding in a batch of views changes next to nothing: each view attends to its own tokens only
    # (int8 dynamic quantization scales activations over the whole batch, hence the tolerance).
    states = rng.normal(0, 1, (12, 384)).astype(np.float32)
    batch = model.probabilities(states, [np.array([0, 3, 4, 11]), np.arange(12)])
    assert np.allclose(batch[0], batch[2], atol=2e-3)
    assert np.allclose(batch[1], model.probabilities(states[[0, 3, 4, 11]])[0], atol=2e-3)


@pytest.mark.model
def test_a_pruned_top_keeps_the_units_that_matter_and_exports_what_it_computes():
    """``--ffn`` keeps each trained layer's most active feed-forward units: the pruned layers stay
    close to the full ones on the messages they were chosen on, and the int8 graph still computes
    the torch module's probabilities."""
    import sys

    import torch

    sys.path.insert(0, str(DATA.parents[2] / "bench" / "triage"))
    import train

    torch.manual_seed(1)
    rng = np.random.default_rng(0)
    states = [rng.normal(0, 1, (n, 384)).astype(np.float32) for n in (5, 9, 14, 20)]
    full, pruned, random_half = train.torch_model(3), train.torch_model(3), train.torch_model(3)
    for net in (full, pruned, random_half):
        net.load_state_dict(full.state_dict())
        net.eval()
    train.prune_ffn(pruned, states, 768)
    assert all(layer.f1.out_features == 768 and layer.f2.in_features == 768 for layer in pruned.layers)
    for layer in random_half.layers:  # as many units chosen at random, for comparison
        train.keep_units(layer, torch.randperm(1536)[:768].sort().values)

    def top(net, x):
        mask = torch.ones(x.shape[:2], dtype=torch.bool)
        for layer in net.layers:
            x = layer(x, mask)
        return x

    with torch.no_grad():
        gap = {name: sum(float((top(net, torch.from_numpy(s)[None]) - top(full, torch.from_numpy(s)[None])).norm())
                         for s in states) for name, net in (("chosen", pruned), ("random", random_half))}
        assert gap["chosen"] < gap["random"]
        model = train.export(pruned, ["a", "b", BENIGN])
        ref = pruned(torch.from_numpy(states[2])[None], torch.ones(1, 14, dtype=torch.bool)).softmax(1)[0].numpy()
    assert np.allclose(model.probabilities(states[2])[0], ref, atol=0.02)

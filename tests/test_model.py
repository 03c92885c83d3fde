"""The real bundled model, end to end (``-m model``; `make test` and CI run it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgqa.chunking import chunk_documents
from mgqa.clinic import packaged
from mgqa.ingest import default_documents

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording
DISCLAIMER = WORDS.disclaimer

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[1]
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"


def run_cli(*args, stdin=None):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "mgqa", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)


def test_weights_are_the_published_all_minilm_l6_v2():
    from mgqa.embed import WEIGHTS_SHA256, weights_sha256

    assert weights_sha256() == WEIGHTS_SHA256


def test_fast_encoder_gives_the_sentence_transformers_vectors():
    from mgqa.embed import get_encoder

    texts = [c.text for c in chunk_documents(default_documents())]
    texts += [QUESTION, "iv drip?", "x", "😀", "What is the capital of France?", "magnesium " * 400]
    onnx = get_encoder("onnx").encode(texts)
    torch = get_encoder("torch").encode(texts)
    cos = (onnx * torch).sum(axis=1)
    assert cos.min() >= 0.999, cos.min()


def test_committed_index_vectors_match_the_model():
    from mgqa.embed import get_encoder
    from mgqa.index import embedding_texts, open_index

    enc = get_encoder("onnx")
    index = open_index(REPO / "index", enc)
    titles = {d["id"]: d["title"] for d in index.manifest["documents"]}
    fresh = enc.encode(embedding_texts(index.chunks, titles))
    assert (fresh * index.vectors).sum(axis=1).min() >= 0.999


def test_acceptance_question_from_the_command_line():
    r = run_cli("ask", QUESTION)
    assert r.returncode == 0, r.stderr
    first = r.stdout.split("\n[2] ")[0]
    assert first.startswith("[1] ")
    assert "100 milligrams of a slow-release magnesium supplement" in first
    assert "Magnesium for Fibromyalgia, Headaches and Chronic Pain" in first and "The Epoch Times" in first
    assert r.stdout.rstrip().endswith("Disclaimer: " + DISCLAIMER)


def test_acceptance_question_as_json():
    r = run_cli("ask", "--json", QUESTION)
    obj = json.loads(r.stdout)
    top = obj["passages"][0]
    assert "100 milligrams of a slow-release magnesium supplement" in top["text"]
    assert top["citation"]["doc_id"] == "epoch-times-magnesium-fibromyalgia"
    assert obj["disclaimer"] == DISCLAIMER


def test_batch_of_50_questions_from_stdin():
    questions = [QUESTION, "Can an IV drip help my migraine?", "what foods have magnesium",
                 "does magnesium interact with blood pressure pills", "What is the capital of France?"] * 10
    r = run_cli("ask", "--json", stdin="\n".join(questions) + "\n")
    assert r.returncode == 0, r.stderr
    answers = [json.loads(line) for line in r.stdout.strip().split("\n")]
    assert [a["question"] for a in answers] == questions
    assert all(a["disclaimer"] == DISCLAIMER for a in answers)
    assert "100 milligrams" in answers[0]["passages"][0]["text"]


@pytest.mark.xfail(strict=True, reason="the judge learned across clinics declines this FAQ's own question "
                   "(its answer probability is below the threshold): issue 21's abstention, see docs/QUALITY.md")
def test_build_from_files_with_the_real_model(tmp_path):
    r = run_cli("index", "build", str(REPO / "tests/data/docs"), "--out", str(tmp_path / "ix"))
    assert r.returncode == 0, r.stderr
    r = run_cli("ask", "--index", str(tmp_path / "ix"), "--json", "How long does a magnesium infusion take?")
    top = json.loads(r.stdout)["passages"][0]
    assert "about 30 minutes" in top["text"] and top["citation"]["section"] == "How long does an infusion take?"


def test_the_default_clinics_example_questions_are_answered():
    """The chat offers them as buttons: each must get an answer, not "not in our documents"."""
    from mgqa.answer import get_engine

    engine = get_engine(REPO / "index")
    assert len(engine.index.clinic.examples) == 4
    assert {q: engine.ask(q).status for q in engine.index.clinic.examples} == dict.fromkeys(engine.index.clinic.examples,
                                                                                               "answered")


# Found in the eleventh session's review, typed by hand: the shortest, most generic questions about
# the default clinic's main topic can be declined although its migraine page answers them. Their
# nearest known questions are more specific ones the documents do not answer ("... vestibular
# migraine?", "is magnesium citrate any good for migraines?"), whose vote for "not in our
# documents" outweighs the rest. Reading the known questions with the query tower (twelfth
# session: better held out) answered the eleventh session's two and declined two others; the
# cause is unchanged. Issue 21's abstention; kept strict so that a fix shows.
@pytest.mark.xfail(strict=True, reason="short generic questions the default documents answer can be declined: "
                   "issue 21's abstention, see docs/QUALITY.md")
@pytest.mark.parametrize("q", ["Is magnesium good for migraine headaches?", "Does IV magnesium help migraines?"])
def test_short_generic_questions_about_the_clinics_main_topic_are_answered(q):
    from mgqa.answer import get_engine

    assert get_engine(REPO / "index").ask(q).status == "answered"


@pytest.mark.parametrize("q", ["Does magnesium help migraine?", "Can magnesium help headaches?"])
def test_the_eleventh_sessions_short_generic_questions_are_answered(q):
    from mgqa.answer import get_engine

    a = get_engine(REPO / "index").ask(q)
    assert a.status == "answered" and any(w in a.passages[0].text.lower() for w in ("migraine", "headache"))


def test_the_build_warns_of_an_example_question_the_documents_do_not_answer(tmp_path):
    dental = REPO / "tests/data/clinic_dental"
    words = tmp_path / "clinic.toml"
    words.write_text((dental / "clinic.toml").read_text().replace('"How long does a filling take?"',
                                                                   '"What is the capital of France?"'))
    r = run_cli("index", "build", str(dental), "--clinic", str(words), "--out", str(tmp_path / "ix"))
    assert r.returncode == 0, r.stderr
    assert ('warning: example 1 of clinic.toml, "What is the capital of France?", gets no_answer from these '
            "documents: patients who click it will not get an answer.") in r.stderr


@pytest.mark.parametrize("question", ["I took a whole bottle of magnesium pills", "What is the capital of France?"])
def test_emergency_and_no_answer_exit_cleanly(question):
    """Neither path may crash at exit (an emergency answer never encodes the question)."""
    r = run_cli("ask", "--json", question)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert json.loads(r.stdout)["disclaimer"] == DISCLAIMER

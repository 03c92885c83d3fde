"""The clinic's words (clinic.toml): checked with the line of any problem named, copied into the
index, and shown by every interface. A dental practice (tests/data/clinic_dental) built and served
shows its own title, examples, disclaimer and emergency notice in the API, the CLI and the chat."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import mgqa.clinic
from mgqa.answer import Engine
from mgqa.cli import main
from mgqa.clinic import KEYS, Clinic, generic, packaged, parse, read
from mgqa.errors import ClinicError, StaleIndex
from mgqa.index import build_corpus, check_sources, load, open_index
from mgqa.live import LiveEngine
from mgqa.serve.app import Asker, create_app
from mgqa.serve.chat import escape, make_respond

DATA = Path(__file__).parent / "data"
DENTAL = DATA / "clinic_dental"
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
FILLING = "How long does a filling take?"
EMERGENCY = "I can't breathe and my lips are going blue"
ELSEWHERE = "xylophone zeppelin quasar?"  # no word of it is in the leaflets


@pytest.fixture
def dental(tmp_path, fake):
    index, skipped = build_corpus([DENTAL], tmp_path / "ix", fake)
    assert skipped == []  # clinic.toml is not a document
    return index


@pytest.fixture
def cli_fake(fake, monkeypatch):
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: fake)
    return CliRunner()


# ---------------------------------------------------------------- the file


def test_the_generic_wording_names_no_clinic_and_no_topic():
    words = generic()
    assert "magnesium" not in json.dumps(words.to_dict()).lower()
    assert words.origin is None and words.record() is None and words.examples == () and words.topic == ""


def test_the_default_corpus_keeps_todays_words():
    golden = json.loads((DATA / "golden_emergency.json").read_text(encoding="utf-8"))
    words = packaged()
    assert (words.disclaimer, words.emergency_notice) == (golden["disclaimer"], golden["notice"])
    assert (words.title, words.topic, len(words.examples)) == ("Magnesium questions", "magnesium", 4)


def test_every_key_is_a_field_and_is_documented():
    assert {k.field for k in KEYS} <= {f.name for f in fields(Clinic)}
    for key in KEYS:
        assert f"`{key.name}`" in README, f"README does not describe clinic.toml's {key.name}"


def test_a_file_sets_what_it_names_and_keeps_the_generic_rest():
    words = parse('title = "Harbour"\ndisclaimer = """Not advice:\n   ask your dentist."""\n', "c.toml", base=generic())
    assert words.title == "Harbour" and words.disclaimer == "Not advice: ask your dentist."  # one paragraph
    assert words.no_answer == generic().no_answer and words.origin == "c.toml"


@pytest.mark.parametrize("text", [
    '[emergency]\nnumber = "000"\nnotice = "Call {number} now."\n',
    'emergency.number = "000"\nemergency.notice = "Call {number} now."\n',
    'emergency = { number = "000", notice = "Call {number} now." }\n',
    '[emergency]\nnumber = "000"\nnotice = "Call 000 now."\n',
])
def test_the_number_takes_its_place_in_the_notice(text):
    words = parse(text, "c.toml", base=generic())
    assert (words.emergency_number, words.emergency_notice) == ("000", "Call 000 now.")


BAD = [
    ('titel = "Harbour"\n', 1, "unknown key 'titel' (did you mean 'title'?)"),
    ('title = "Harbour"\n\n[emergency]\nnumbr = "999"\n', 4, "unknown key 'emergency.numbr'"),
    ("title = 3\n", 1, "title must be text in quotes, not a number"),
    ('[emergency]\nnotice = "Call {number}."\nnumber = 999\n', 3, 'not a number (write "000" in quotes'),
    ('examples = "How long?"\n', 1, "examples must be a list of texts in quotes, not"),
    ('examples = [\n  "How long?",\n  "",\n]\n', 1, "examples item 2 is empty"),
    ('disclaimer = " "\n', 1, "disclaimer is empty"),
    ('title = "a"\ntitle = "b"\n', 2, "not valid TOML"),
    ('title = "Harbour\n', 1, "not valid TOML"),
    ('[emergency]\nnumber = "999"\nnotice = "Call your doctor."\n', 3, 'must say the emergency number "999"'),
    ('[emergency]\nnotice = "Call {number} now."\n', 2, "emergency.number is not set"),
    ('[emergency]\nnumber = "ring us"\n', 2, "emergency.number must be a phone number"),
    (f'title = "{"x" * 81}"\n', 1, "title is 81 characters long; the limit is 80"),
    ('emergency = "999"\n', 1, "emergency must be a table"),
    (f"examples = {json.dumps(['q'] * 9)}\n", 1, "examples has 9 items; the most is 8"),
]


@pytest.mark.parametrize("text, line, why", BAD, ids=[b[2][:30] for b in BAD])
def test_a_bad_file_is_one_line_naming_the_file_and_line(tmp_path, text, line, why):
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClinicError) as caught:
        read(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line {line}: ") and why in message and "\n" not in message


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path):
    (tmp_path / "clinic.toml").write_bytes(b'title = "Harbour"\ntopic = "caf\xe9"\n')
    with pytest.raises(ClinicError, match=r"clinic.toml line 2: not UTF-8 text"):
        read(tmp_path / "clinic.toml")


# ---------------------------------------------------------------- the index


def test_the_build_records_the_file_and_carries_a_copy(dental, tmp_path, fake):
    assert {d["id"] for d in dental.manifest["documents"]} == {"fillings", "after-extraction"}
    record = dental.manifest["clinic"]
    assert record["origin"] == str(DENTAL / "clinic.toml") and record["title"] == "Harbour Dental questions"
    assert (record["examples"], record["emergency_number"]) == (2, "999")
    copy = tmp_path / "ix" / dental.manifest["data"] / "clinic.toml"
    assert copy.read_bytes() == (DENTAL / "clinic.toml").read_bytes() and "clinic.toml" in dental.manifest["files"]
    assert load(tmp_path / "ix", fake).clinic.to_dict() == read(DENTAL / "clinic.toml").to_dict()


def test_a_corpus_without_a_file_speaks_generically(tmp_path, fake):
    index = build_corpus([DATA / "docs"], tmp_path / "ix", fake)[0]
    assert index.manifest["clinic"] is None and load(tmp_path / "ix", fake).clinic == generic()


def test_the_clinic_option_overrides_the_folders_file(tmp_path, fake):
    (tmp_path / "other.toml").write_text('title = "Other"\n', encoding="utf-8")
    index = build_corpus([DENTAL], tmp_path / "ix", fake, clinic=tmp_path / "other.toml")[0]
    assert index.clinic.title == "Other" and index.manifest["clinic"]["origin"] == str(tmp_path / "other.toml")


def test_editing_the_file_makes_the_index_stale(tmp_path, fake):
    folder = shutil.copytree(DENTAL, tmp_path / "docs")
    index = build_corpus([folder], tmp_path / "ix", fake)[0]
    check_sources(index)
    (folder / "clinic.toml").write_text('title = "Harbour Dental"\n', encoding="utf-8")
    with pytest.raises(StaleIndex, match="clinic.toml changed"):
        check_sources(index)


def test_the_default_index_is_stale_when_the_packaged_file_changes(default_index, fake, monkeypatch):
    assert default_index.manifest["clinic"]["origin"] == "mgqa/corpus/clinic.toml (packaged)"
    open_index(default_index.path, fake)
    monkeypatch.setattr(mgqa.clinic, "packaged", lambda: replace(packaged(), sha256="0" * 64))
    with pytest.raises(StaleIndex, match="other clinic words"):
        open_index(default_index.path, fake)


# ---------------------------------------------------------------- every interface


def test_answers_carry_the_clinics_disclaimer_and_notices(dental, fake):
    engine, words = Engine(dental, fake), dental.clinic
    answered, emergency, refused = (engine.ask(q) for q in (FILLING, EMERGENCY, ELSEWHERE))
    assert answered.status == "answered" and "twenty and forty minutes" in answered.passages[0].text
    assert emergency.status == "emergency" and emergency.notice.startswith("This may be an emergency. Call 999 now")
    assert (refused.status, refused.notice) == ("no_answer", words.no_answer)
    assert {a.disclaimer for a in (answered, emergency, refused)} == {words.disclaimer}


def test_the_api_serves_the_clinics_words_and_answers(dental, fake):
    client = TestClient(create_app(Engine(dental, fake)))
    r = client.get("/api")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json()["clinic"] == dental.clinic.to_dict()
    assert r.json()["clinic"]["emergency"] == {"number": "999", "notice": dental.clinic.emergency_notice}
    answer = client.post("/api/ask", json={"question": EMERGENCY}).json()
    assert (answer["notice"], answer["disclaimer"]) == (dental.clinic.emergency_notice, dental.clinic.disclaimer)
    assert "/api" in client.get("/openapi.json").json()["paths"]


def test_a_live_server_speaks_for_the_build_in_its_directory(dental, tmp_path, fake):
    client = TestClient(create_app(LiveEngine(tmp_path / "ix", fake)))
    assert client.get("/api").json()["clinic"]["title"] == "Harbour Dental questions"
    assert "Harbour Dental questions" in client.get("/config").text  # the chat, read before any load


def test_the_chat_is_in_the_clinics_words(dental, fake):
    words = dental.clinic
    page = TestClient(create_app(Engine(dental, fake))).get("/config").text  # what Gradio's page is built from
    assert json.dumps(words.title) in page and all(json.dumps(q) in page for q in words.examples)
    assert escape(words.introduction) in page and escape(words.disclaimer) in page
    assert "Type your question about your teeth and our treatments" in page and "magnesium" not in page.lower()
    for shown in (make_respond(Asker(Engine(dental, fake)), words)(q, []) for q in (FILLING, EMERGENCY, "  ")):
        assert escape(words.disclaimer) in shown
    assert escape(words.emergency_notice) in make_respond(Asker(Engine(dental, fake)), words)(EMERGENCY, [])


def test_the_cli_prints_the_clinics_disclaimer_and_emergency_notice(dental, tmp_path, cli_fake):
    r = cli_fake.invoke(main, ["ask", "--index", str(tmp_path / "ix"), FILLING])
    assert r.exit_code == 0, r.output
    assert "twenty and forty minutes" in r.output and r.output.rstrip().endswith(dental.clinic.disclaimer)
    r = cli_fake.invoke(main, ["ask", "--index", str(tmp_path / "ix"), "--json", EMERGENCY])
    assert json.loads(r.output)["notice"] == dental.clinic.emergency_notice
    r = cli_fake.invoke(main, ["ask", "--index", str(tmp_path / "ix"), EMERGENCY])
    assert r.output.startswith("EMERGENCY: This may be an emergency. Call 999 now")


def test_index_build_and_info_show_the_clinic(tmp_path, cli_fake):
    r = cli_fake.invoke(main, ["index", "build", str(DENTAL), "--out", str(tmp_path / "ix")])
    assert r.exit_code == 0, r.output
    line = f'{DENTAL / "clinic.toml"}: "Harbour Dental questions", 2 examples, emergency number 999 (sha256 '
    assert f"clinic: {line}" in r.output
    assert f"clinic    {line}" in cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "ix")]).output
    info = json.loads(cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "ix"), "--json"]).output)
    assert info["clinic"]["title"] == "Harbour Dental questions"


def test_a_bad_file_fails_the_build_in_one_line_and_the_old_index_survives(tmp_path, cli_fake, fake):
    folder = shutil.copytree(DENTAL, tmp_path / "docs")
    out = tmp_path / "ix"
    assert cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)]).exit_code == 0
    before = {f.relative_to(out): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    (folder / "clinic.toml").write_text('title = "Harbour"\n\n[emergency]\nnumber = 999\n', encoding="utf-8")
    r = cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.strip() == (f"Error: {folder / 'clinic.toml'} line 4: emergency.number must be text in quotes, "
                                'not a number (write "000" in quotes: as a number it would lose its leading zeros)')
    assert {f.relative_to(out): f.read_bytes() for f in out.rglob("*") if f.is_file()} == before
    assert load(out, fake).clinic.title == "Harbour Dental questions"


def test_a_missing_clinic_file_is_one_line(tmp_path, cli_fake):
    r = cli_fake.invoke(main, ["index", "build", str(DENTAL), "--out", str(tmp_path / "ix"),
                               "--clinic", str(tmp_path / "nope.toml")])
    assert r.exit_code == 2 and "cannot read the clinic file" in r.output and r.output.strip().count("\n") == 0
    assert not (tmp_path / "ix").exists()

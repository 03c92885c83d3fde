"""A corpus's own vocabulary: the synonyms file's format, expansion, and how it travels with an index."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from mgqa.cli import main
from mgqa.errors import StaleIndex, SynonymsError
from mgqa.index import build_corpus, check_sources, corpus_synonyms, load
from mgqa.synonyms import MAX_LINE_CHARS, parse, read

SLEEP = "Adults need seven to nine hours of sleep a night; a dark, quiet bedroom helps."
BACK = "Back pain usually improves with gentle movement; bed rest for days makes it worse."


# ---------------------------------------------------------------- the format


def test_equivalent_terms_mapping_phrases_and_comments():
    syn = parse("# a comment\n\nshut-eye, sleep, slumber\n  # indented comment\n"
                "time of the month, Periods => menstrual, cycle  # trailing comment\n", "s.txt")
    (eq, mapping) = syn.entries
    assert (eq.matches, eq.adds, eq.line) == (("shut-eye", "sleep", "slumber"), (), 3)
    assert (mapping.matches, mapping.adds, mapping.line) == (("time of the month", "periods"), ("menstrual", "cycle"), 5)
    assert syn.record() == {"origin": "s.txt", "sha256": syn.sha256, "entries": 2}


@pytest.mark.parametrize("bad, why", [
    ("=> x", "both sides"), ("a =>", "both sides"), ("a => b => c", "more than one '=>'"),
    ("a,, b", "empty term"), ("a, b,", "empty term"), (", a, b", "empty term"), ("a, - => b", "no letters"),
    ("lonely", "only one term"), ("a, " + "b" * MAX_LINE_CHARS, f"over {MAX_LINE_CHARS} characters"),
])
def test_a_malformed_line_is_named_by_file_and_number(bad, why):
    with pytest.raises(SynonymsError) as info:
        parse(f"# vocabulary\n\n{bad}\nfine, good\n", "clinic/synonyms.txt")
    message = str(info.value)
    assert message.startswith("clinic/synonyms.txt line 3: ") and why in message and "\n" not in message


def test_undecodable_bytes_are_named_by_line(tmp_path):
    f = tmp_path / "synonyms.txt"
    f.write_bytes(b"a, b\nc, \xff\xfe d\n")
    with pytest.raises(SynonymsError, match=r"synonyms.txt line 2: not UTF-8"):
        read(f)


def test_an_empty_file_is_an_empty_vocabulary(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    syn = read(tmp_path / "empty.txt")
    assert syn.entries == () and syn.record()["entries"] == 0
    assert syn.expand("IV drip?") == "iv drip?"


# ---------------------------------------------------------------- expansion


def test_equivalents_gain_the_others_and_keep_their_own_words():
    syn = parse("shut-eye, sleep, slumber\n", "s")
    assert syn.expand("Need more Shut-Eye?") == "need more shut-eye? sleep slumber"
    assert syn.expand("sleep and slumber") == "sleep and slumber shut-eye"
    assert syn.expand("eyes shut") == "eyes shut"


def test_a_mapping_adds_its_right_side_once():
    syn = parse("iv, drip, drips => intravenous infusion\ntime of the month => menstrual\n", "s")
    assert syn.expand("IV drip or drips") == "iv drip or drips intravenous infusion"
    assert syn.expand("my time  of the\tmonth") == "my time  of the\tmonth menstrual"
    assert syn.expand("intravenous infusion") == "intravenous infusion"  # one way only


def test_only_whole_words_and_phrases_match():
    syn = parse("mag => magnesium\ni.v. => intravenous\n", "s")
    assert syn.expand("magnificent magazine") == "magnificent magazine"
    assert syn.expand("mag.") == "mag. magnesium"
    assert syn.expand("an i.v. line") == "an i.v. line intravenous"


def test_the_default_corpus_vocabulary_is_packaged_data():
    syn = corpus_synonyms([])
    assert len(syn.entries) == 30 and syn.origin.startswith("mgqa/corpus/synonyms.txt")
    assert "intravenous infusion" in syn.expand("IV drip for migraine")


# ---------------------------------------------------------------- travelling with the index


def clinic(folder, synonyms: str | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sleep.md").write_text(SLEEP, encoding="utf-8")
    (folder / "back.md").write_text(BACK, encoding="utf-8")
    if synonyms is not None:
        (folder / "synonyms.txt").write_text(synonyms, encoding="utf-8")
    return folder


def test_a_clinics_synonyms_change_bm25_scores(tmp_path, fake):
    plain = build_corpus([clinic(tmp_path / "plain")], tmp_path / "ix1", fake)[0]
    own = build_corpus([clinic(tmp_path / "own", "shut-eye, sleep\n")], tmp_path / "ix2", fake)[0]
    question = "Tips for better shut-eye?"
    sleep_row = next(i for i, c in enumerate(own.chunks) if c.doc_id == "sleep")
    assert plain.lexical.scores(question)[sleep_row] == 0
    assert own.lexical.scores(question).argmax() == sleep_row and own.lexical.scores(question)[sleep_row] > 0


def test_build_records_the_synonyms_and_copies_them(tmp_path, fake):
    text = "# sleep words\nshut-eye, sleep\nnap, naps => sleep\n"
    folder = clinic(tmp_path / "docs", text)
    index, skipped = build_corpus([folder], tmp_path / "ix", fake)
    assert {d["id"] for d in index.manifest["documents"]} == {"sleep", "back"} and not skipped  # not a document
    record = index.manifest["synonyms"]
    assert record == {"origin": str(folder / "synonyms.txt"), "entries": 2,
                      "sha256": hashlib.sha256(text.encode()).hexdigest()}
    copy = tmp_path / "ix" / index.manifest["data"] / "synonyms.txt"
    assert copy.read_text(encoding="utf-8") == text and "synonyms.txt" in index.manifest["files"]
    (folder / "synonyms.txt").unlink()  # the served index does not need the original
    loaded = load(tmp_path / "ix", fake)
    assert loaded.lexical.synonyms.expand("a nap") == "a nap sleep"


def test_the_default_corpus_records_its_packaged_synonyms(default_index):
    assert default_index.manifest["synonyms"]["entries"] == 30
    assert default_index.manifest["synonyms"]["origin"].startswith("mgqa/corpus/synonyms.txt")


def test_a_clinic_without_synonyms_inherits_none(tmp_path, fake):
    index = build_corpus([clinic(tmp_path / "docs")], tmp_path / "ix", fake)[0]
    assert index.manifest["synonyms"] is None
    assert load(tmp_path / "ix", fake).lexical.synonyms.expand("IV drip") == "iv drip"


def test_the_synonyms_option_overrides_the_folders_file(tmp_path, fake):
    folder = clinic(tmp_path / "docs", "shut-eye, sleep\n")
    (tmp_path / "other.txt").write_text("rest => sleep\n", encoding="utf-8")
    index = build_corpus([folder], tmp_path / "ix", fake, synonyms=tmp_path / "other.txt")[0]
    assert index.manifest["synonyms"]["origin"] == str(tmp_path / "other.txt")
    assert index.lexical.synonyms.expand("shut-eye") == "shut-eye"


def test_editing_the_synonyms_makes_the_index_stale(tmp_path, fake):
    folder = clinic(tmp_path / "docs", "shut-eye, sleep\n")
    index = build_corpus([folder], tmp_path / "ix", fake)[0]
    check_sources(index)
    (folder / "synonyms.txt").write_text("shut-eye, sleep, kip\n", encoding="utf-8")
    with pytest.raises(StaleIndex, match="synonyms.txt changed"):
        check_sources(index)


def test_an_index_without_synonyms_in_its_manifest_still_loads_and_answers(tmp_path, fake):
    from mgqa.answer import Engine

    build_corpus([clinic(tmp_path / "docs")], tmp_path / "ix", fake)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    del manifest["synonyms"]  # as written before synonyms were recorded
    (tmp_path / "ix" / "manifest.json").write_text(json.dumps(manifest))
    index = load(tmp_path / "ix", fake)
    assert index.lexical.synonyms.record() is None
    answer = Engine(index, fake).ask("How many hours of sleep do adults need?")
    assert answer.status == "answered" and "seven to nine hours" in answer.passages[0].text


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli_fake(fake, monkeypatch):
    monkeypatch.setattr("mgqa.embed.get_encoder", lambda *a, **k: fake)
    return CliRunner()


def test_a_bad_line_fails_the_build_in_one_line_and_leaves_the_index(tmp_path, cli_fake):
    folder = clinic(tmp_path / "docs", "shut-eye, sleep\n")
    out = tmp_path / "ix"
    assert cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)]).exit_code == 0
    before = {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    (folder / "synonyms.txt").write_text("shut-eye, sleep\nnap =>\n", encoding="utf-8")
    r = cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.strip() == f"Error: {folder / 'synonyms.txt'} line 2: '=>' needs terms on both sides " \
                               "('drip, iv => intravenous infusion')"
    assert "Traceback" not in r.output
    assert {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()} == before


def test_a_missing_synonyms_file_is_one_line(tmp_path, cli_fake):
    r = cli_fake.invoke(main, ["index", "build", str(clinic(tmp_path / "docs")), "--out", str(tmp_path / "ix"),
                               "--synonyms", str(tmp_path / "nope.txt")])
    assert r.exit_code == 2 and "cannot read the synonyms file" in r.output and r.output.strip().count("\n") == 0
    assert not (tmp_path / "ix").exists()


def test_index_info_shows_the_synonyms(tmp_path, cli_fake, fake):
    folder = clinic(tmp_path / "docs")
    (tmp_path / "vocab.txt").write_text("shut-eye, sleep\n", encoding="utf-8")
    r = cli_fake.invoke(main, ["index", "build", str(folder), "--out", str(tmp_path / "ix"),
                               "--synonyms", str(tmp_path / "vocab.txt")])
    assert r.exit_code == 0, r.output
    digest = hashlib.sha256(b"shut-eye, sleep\n").hexdigest()
    r = cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "ix")])
    assert f"synonyms  {tmp_path / 'vocab.txt'}, 1 entries (sha256 {digest[:12]})" in r.output
    r = cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "ix"), "--json"])
    assert json.loads(r.output)["synonyms"] == {"origin": str(tmp_path / "vocab.txt"), "sha256": digest, "entries": 1}
    build_corpus([clinic(tmp_path / "bare")], tmp_path / "bare-ix", fake)
    r = cli_fake.invoke(main, ["index", "info", "--index", str(tmp_path / "bare-ix")])
    assert "synonyms  none" in r.output

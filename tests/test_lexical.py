"""The numpy BM25 reader against bm25s itself (which builds the index): same terms, same floats."""

import bm25s
import numpy as np
import pytest

from mgqa.chunking import chunk_documents
from mgqa.evaluate import load_gold
from mgqa.index import corpus_synonyms
from mgqa.ingest import default_documents
from mgqa.lexical import STOPWORDS, TOKEN_PATTERN, Lexical
from mgqa.normalize import fold

QUESTIONS = [g["question"] for g in load_gold()] + [
    "", "the and of", "L-threonate 5.7% 948 participants", "Magnesium’s—IV drip", "😀 émigré naïve", "x y z 1 2",
]


@pytest.fixture(scope="module")
def texts():
    return [c.text for c in chunk_documents(default_documents())]


@pytest.fixture(scope="module")
def saved(texts, tmp_path_factory):
    path = tmp_path_factory.mktemp("lexical")
    Lexical.build(texts, synonyms=corpus_synonyms([])).save(path)  # the default corpus's vocabulary
    return path


def test_stopwords_are_bm25s_english():
    assert STOPWORDS == set(bm25s.stopwords.STOPWORDS_EN)


def test_terms_match_bm25s_tokenize(saved, texts):
    lex = Lexical.load(saved)
    stem = lex._stem
    for text in QUESTIONS + texts:
        want = bm25s.tokenize([fold(text)], token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=stem,
                              return_ids=False, show_progress=False)[0]
        assert lex.terms(text) == want, text


def test_scores_are_bm25s_scores_bit_for_bit(saved):
    lex = Lexical.load(saved)
    ref = bm25s.BM25.load(str(saved), allow_pickle=False, show_progress=False)  # reads our files
    for q in QUESTIONS:
        tokens = bm25s.tokenize([lex.synonyms.expand(q)], token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=lex._stem,
                                return_ids=False, show_progress=False)[0]
        known = [t for t in tokens if t in ref.vocab_dict]
        want = ref.get_scores(known) if known else np.zeros(ref.scores["num_docs"], np.float32)
        got = lex.scores(q)
        assert got.dtype == np.float32 and np.array_equal(got, want), q


def test_idf_and_vocabulary(saved):
    lex = Lexical.load(saved)
    ref = bm25s.BM25.load(str(saved), allow_pickle=False, show_progress=False)
    n = ref.scores["num_docs"]
    for term in ["magnesium", "migrain", "threonat", "nosuchterm"]:
        assert lex.knows(term) == (term in ref.vocab_dict)
        tid = ref.vocab_dict.get(term)
        df = 0 if tid is None else int(ref.scores["indptr"][tid + 1] - ref.scores["indptr"][tid])
        assert lex.idf(term) == float(np.log(1 + (n - df + 0.5) / (df + 0.5)))


def test_round_trip_keeps_the_files_plain(saved, tmp_path):
    again = tmp_path / "again"
    again.mkdir()
    Lexical.load(saved).save(again)
    for f in sorted(saved.iterdir()):
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name


def test_build_scores_as_bm25s_tokenize_and_index(texts, saved):
    """Our tokenisation feeds bm25s the same tokens as bm25s.tokenize: every score is identical."""
    corpus = texts + QUESTIONS  # awkward ones too: empty, stop words only, emoji
    ref = bm25s.BM25(k1=1.2, b=0.75)
    stem = Lexical.load(saved)._stem
    ref.index(bm25s.tokenize([fold(t) for t in corpus], token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=stem,
                             show_progress=False), show_progress=False)
    ours = Lexical.build(corpus, synonyms=corpus_synonyms([]))
    assert ours._vocab.keys() == ref.vocab_dict.keys() and ours._n == ref.scores["num_docs"]
    for term, tid in ref.vocab_dict.items():  # every column of the score matrix, bit for bit
        if term:
            a, b = ours._indptr[ours._vocab[term]:ours._vocab[term] + 2], ref.scores["indptr"][tid:tid + 2]
            assert np.array_equal(ours._indices[a[0]:a[1]], ref.scores["indices"][b[0]:b[1]]), term
            assert np.array_equal(ours._data[a[0]:a[1]], ref.scores["data"][b[0]:b[1]]), term
    assert ours._data.dtype == ref.scores["data"].dtype and ours._indices.dtype == ref.scores["indices"].dtype
    for q in QUESTIONS:
        tokens = [t for t in ours._tokens(ours.synonyms.expand(q)) if t in ref.vocab_dict]
        want = ref.get_scores(tokens) if tokens else np.zeros(len(corpus), np.float32)
        assert np.array_equal(ours.scores(q), want), q


def columns(lex: Lexical) -> dict[str, tuple[list[int], list[float], list[int]]]:
    """term -> (passages, scores, counts) of its column, whatever its id."""
    out = {}
    for term, tid in lex._vocab.items():
        if term:
            a, b = lex._indptr[tid], lex._indptr[tid + 1]
            out[term] = (lex._indices[a:b].tolist(), lex._data[a:b].tolist(), lex._counts[a:b].tolist())
    return out


def test_rebuild_reusing_term_counts_equals_a_fresh_build(texts):
    old = texts[:20] + ["An old passage about zinc and copper."]
    new = ["A new passage: calcium 5.7 mg, magnesium 300 mg."] + texts[5:20] + texts[:5][::-1] + [""]
    old_rows = np.array([-1, *range(5, 20), 4, 3, 2, 1, 0, -1])
    fresh = Lexical.build(new)
    reused = Lexical.build(new, Lexical.build(old), old_rows)
    assert reused._vocab.keys() == fresh._vocab.keys() and "zinc" not in reused._vocab
    assert columns(reused) == columns(fresh)  # every score bit for bit (floats compared exactly)
    for q in QUESTIONS:
        assert np.array_equal(reused.scores(q), fresh.scores(q)), q


def test_index_rebuild_tokenises_only_the_changed_document(tmp_path, fake, monkeypatch):
    from mgqa import lexical
    from mgqa.index import build_corpus

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(5):
        (src / f"d{i}.txt").write_text(f"Document {i} says magnesium number {i} is useful for topic {i}.")
    build_corpus([src], tmp_path / "ix", fake)
    (src / "d3.txt").write_text("Document 3 now says something entirely different about sleep.")
    tokenised = []
    real = lexical._token_ids
    monkeypatch.setattr(lexical, "_token_ids", lambda texts, vocab: tokenised.extend(texts) or real(texts, vocab))
    rebuilt = build_corpus([src], tmp_path / "ix", fake)[0]
    assert len(tokenised) == 1 and "entirely different" in tokenised[0]
    fresh = build_corpus([src], tmp_path / "fresh", fake)[0]
    assert columns(rebuilt.lexical) == columns(fresh.lexical)

"""Lexical retrieval (BM25) for what dense vectors miss: exact terms and numbers
("L-threonate", "eclampsia", "948 participants").

BM25 as bm25s computes it (tokens, "lucene" scores, file layout), in numpy: importing bm25s pulls
in scipy.sparse (~0.3 s of every `mgqa ask`), and its pure-Python indexing is the slow part of a
build. The files are bm25s's own (``data/indices/indptr.csc.index.npy``, ``vocab.index.json``,
``params.index.json``), so ``bm25s.BM25.load`` reads them; tests/test_lexical.py checks that
tokens, scores and IDFs equal bm25s's, bit for bit.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from mgqa.normalize import fold
from mgqa.synonyms import FILE_NAME, NONE, Synonyms, read

# Numbers and single letters matter here ("5.7", "1 gram", "l-threonate"), so unlike bm25s's
# default pattern this keeps one-character tokens and splits nothing inside decimals.
TOKEN_PATTERN = r"(?u)\b\d+(?:\.\d+)?%?|\b\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)
# bm25s.stopwords.STOPWORDS_EN (what `stopwords="en"` means there); a test keeps them equal.
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
))
ARRAYS = ("data", "indices", "indptr")  # the BM25 score matrix, CSC: one column per term
COUNTS = "tf.csc.index.npy"  # mgqa's own addition: the term frequency behind each score
K1, B = 1.2, 0.75
BM25S_FORMAT = "0.3.16"  # the bm25s release whose file layout and scores these are


def bm25_matrix(keys: np.ndarray, tf: np.ndarray, n_docs: int, n_terms: int, k1: float, b: float
                ) -> dict[str, np.ndarray]:
    """BM25 ("lucene" variant) score of every (term, passage) pair, as a CSC matrix.

    ``keys`` are ``term * n_docs + passage``, sorted and distinct, ``tf`` how often each term
    occurs in that passage. bm25s computes the scores passage by passage in Python; here they are
    vectorised with bm25s's own floating-point operations, in its order and types, so every score
    is bit-identical (a test compares them). Example: passages [[t0, t1, t0], [t1]] -> keys
    [0, 2, 3], tf [2, 1, 1]: column 0 holds passage 0, column 1 both.
    """
    col, row = np.divmod(keys, max(n_docs, 1))
    lengths = np.bincount(row, weights=tf, minlength=n_docs).astype(np.int64)  # tokens per passage
    df = np.bincount(col, minlength=n_terms)
    idf = np.array([math.log(1 + (n_docs - int(d) + 0.5) / (int(d) + 0.5)) for d in df], np.float32)
    length = np.float64(lengths.mean()) if n_docs else np.float64(1.0)
    # bm25s adds a numpy float64 scalar to a float32 array: float64 under numpy 2, float32 under 1.x.
    wide = (np.float64(1.0) + np.zeros(1, np.float32)).dtype
    tf32 = tf.astype(np.float32)
    tfc = tf32 / ((k1 * ((1 - b) + b * lengths[row].astype(np.float64) / length)).astype(wide) + tf32)
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": (idf[col] * tfc).astype(np.float32), "indices": row.astype(np.int32), "indptr": indptr}


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _token_ids(texts: list[str], vocab: dict[str, int]) -> list[list[int]]:
    """Each text's tokens as term ids (adding new stems to ``vocab``): bm25s.tokenize's tokens,
    with each distinct token stemmed once."""
    stem = _stemmer()
    term_of = dict.fromkeys(STOPWORDS, -1)  # token -> term id
    ids = []
    for text in texts:
        tokens = _TOKEN.findall(fold(text).lower())
        new = list({t for t in tokens if t not in term_of})
        for token, s in zip(new, stem.stemWords(new), strict=True):
            term_of[token] = vocab.setdefault(s, len(vocab))
        ids.append([i for i in map(term_of.__getitem__, tokens) if i >= 0])
    return ids


class Lexical:
    """Precomputed BM25 scores (term x passage, sparse) and the term vocabulary.

    ``counts`` (optional) holds the term frequency behind each score, so that a rebuild can
    reuse the passages it already tokenised (``build(..., previous=...)``). ``synonyms`` are the
    corpus's own vocabulary, which questions are expanded with.
    """

    def __init__(self, arrays: dict[str, np.ndarray], vocab: dict[str, int], params: dict,
                 counts: np.ndarray | None = None, synonyms: Synonyms = NONE):
        self._data, self._indices, self._indptr = (arrays[a] for a in ARRAYS)
        self._vocab = vocab
        self._params = params
        self._n = int(params["num_docs"])
        self._counts = counts
        self._stem = _stemmer()
        self.synonyms = synonyms

    @classmethod
    def build(cls, texts: list[str], previous: Lexical | None = None, old_rows: np.ndarray | None = None,
              synonyms: Synonyms = NONE) -> Lexical:
        """Index ``texts`` with the same tokens as bm25s.tokenize and the same scores as bm25s.BM25.

        Where ``old_rows[i] >= 0``, ``texts[i]`` is that row of ``previous`` unchanged: its term
        counts are taken from there instead of tokenising it again (the scores still change, as
        BM25 depends on the whole corpus).
        """
        n = len(texts)
        if previous is None or previous._counts is None or old_rows is None:
            previous, old_rows = None, np.full(n, -1, np.int64)
        fresh = np.flatnonzero(old_rows < 0)
        vocab: dict[str, int] = {}  # stem -> term id
        ids = _token_ids([texts[i] for i in fresh], vocab)
        docs = np.repeat(fresh.astype(np.int64), [len(t) for t in ids])
        terms = np.fromiter((t for d in ids for t in d), np.int64, count=len(docs))
        keys, tf = np.unique(terms * max(n, 1) + docs, return_counts=True)
        if previous is not None:
            old_docs, old_terms, old_tf = previous._reused_counts(old_rows, vocab)
            keys, tf = np.concatenate([keys, old_terms * max(n, 1) + old_docs]), np.concatenate([tf, old_tf])
            order = np.argsort(keys)
            keys, tf = keys[order], tf[order]
        arrays = bm25_matrix(keys, tf, n, len(vocab), K1, B)
        vocab[""] = len(vocab)  # bm25s's "empty token", kept so that bm25s reads the files alike
        params = {"k1": K1, "b": B, "delta": 0.5, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
                  "int_dtype": "int32", "num_docs": n, "version": BM25S_FORMAT, "backend": "numpy"}
        return cls(arrays, vocab, params, tf.astype(np.int32), synonyms)

    def _reused_counts(self, old_rows: np.ndarray, vocab: dict[str, int]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(new row, term id in ``vocab``, count) for every term of the rows ``old_rows`` reuses."""
        assert self._counts is not None
        new_row = np.full(self._n, -1, np.int64)
        kept = np.flatnonzero(old_rows >= 0)
        new_row[old_rows[kept]] = kept
        cols = np.repeat(np.arange(len(self._indptr) - 1), np.diff(self._indptr))
        rows = new_row[self._indices]
        mask = rows >= 0
        name = {i: t for t, i in self._vocab.items()}
        term = np.full(len(self._indptr) - 1, -1, np.int64)
        for old in np.unique(cols[mask]):
            term[old] = vocab.setdefault(name[int(old)], len(vocab))
        return rows[mask], term[cols[mask]], self._counts[mask].astype(np.int64)

    def _tokens(self, text: str) -> list[str]:
        """bm25s.tokenize for one text: lower-case, split, drop stop words, stem."""
        return self._stem.stemWords([t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS])

    def terms(self, text: str) -> list[str]:
        """Stemmed, stop-word-free tokens, exactly as the index sees them."""
        return self._tokens(fold(text))

    def knows(self, term: str) -> bool:
        return term in self._vocab

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency; unknown terms count as rare."""
        tid = self._vocab.get(term)
        df = 0 if tid is None else int(self._indptr[tid + 1] - self._indptr[tid])
        return float(np.log(1 + (self._n - df + 0.5) / (df + 0.5)))

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk for the question expanded with the corpus's synonyms (zeros if
        no term matches).

        Summed term by term in question order, as bm25s does, so the floats are identical.
        """
        scores = np.zeros(self._n, np.float32)
        for token in self._tokens(self.synonyms.expand(question)):
            tid = self._vocab.get(token)
            if tid is None:
                continue
            start, end = self._indptr[tid], self._indptr[tid + 1]
            # A term's column lists each passage once, so plain fancy-index += equals np.add.at.
            scores[self._indices[start:end]] += self._data[start:end]
        return scores

    def save(self, directory: Path) -> None:
        for name, array in zip(ARRAYS, (self._data, self._indices, self._indptr), strict=True):
            np.save(directory / f"{name}.csc.index.npy", array, allow_pickle=False)
        (directory / "vocab.index.json").write_text(json.dumps(self._vocab, ensure_ascii=False), encoding="utf-8")
        (directory / "params.index.json").write_text(json.dumps(self._params, indent=4), encoding="utf-8")
        if self._counts is not None:
            np.save(directory / COUNTS, self._counts, allow_pickle=False)
        if self.synonyms.origin is not None:  # the corpus's vocabulary travels with its index
            (directory / FILE_NAME).write_bytes(self.synonyms.text.encode("utf-8"))

    @classmethod
    def load(cls, directory: Path) -> Lexical:
        """Read the files ``save`` wrote (an index from before term counts, or synonyms, were kept
        has none).

        The arrays are memory-mapped: an index's files never change once written (see index.py).
        """
        arrays = {a: np.load(directory / f"{a}.csc.index.npy", mmap_mode="r", allow_pickle=False) for a in ARRAYS}
        vocab = json.loads((directory / "vocab.index.json").read_text(encoding="utf-8"))
        params = json.loads((directory / "params.index.json").read_text(encoding="utf-8"))
        if params.get("method", "lucene") not in ("lucene", "robertson", "atire"):
            raise ValueError(f"BM25 variant {params['method']!r} needs scores this reader does not add")
        tf = np.load(directory / COUNTS, mmap_mode="r", allow_pickle=False) if (directory / COUNTS).exists() else None
        synonyms = read(directory / FILE_NAME) if (directory / FILE_NAME).exists() else NONE
        return cls(arrays, vocab, params, tf, synonyms)

"""Lexical retrieval (BM25 via bm25s) for what dense vectors miss: exact terms and numbers
("L-threonate", "eclampsia", "948 participants")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgqa.normalize import expand, fold

# Numbers and single letters matter here ("5.7", "1 gram", "l-threonate"), so unlike bm25s's
# default pattern this keeps one-character tokens and splits nothing inside decimals.
TOKEN_PATTERN = r"(?u)\b\d+(?:\.\d+)?%?|\b\w+\b"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


class Lexical:
    def __init__(self, model):
        self._model = model
        self._stem = _stemmer()

    @classmethod
    def build(cls, texts: list[str]) -> Lexical:
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        tokens = bm25s.tokenize([fold(t) for t in texts], token_pattern=TOKEN_PATTERN, stopwords="en",
                                stemmer=_stemmer(), show_progress=False)
        model.index(tokens, show_progress=False)
        return cls(model)

    def terms(self, text: str) -> list[str]:
        """Stemmed, stop-word-free tokens, exactly as the index sees them."""
        import bm25s

        return bm25s.tokenize([fold(text)], token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=self._stem,
                              return_ids=False, show_progress=False)[0]

    def knows(self, term: str) -> bool:
        return term in self._model.vocab_dict

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency; unknown terms count as rare."""
        n = self._model.scores["num_docs"]
        tid = self._model.vocab_dict.get(term)
        df = 0 if tid is None else int(self._model.scores["indptr"][tid + 1] - self._model.scores["indptr"][tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk for the expanded question (zeros if no term matches)."""
        import bm25s

        tokens = bm25s.tokenize([expand(question)], token_pattern=TOKEN_PATTERN, stopwords="en",
                                stemmer=self._stem, return_ids=False, show_progress=False)[0]
        vocab = self._model.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(self._model.scores["num_docs"], np.float32)
        return np.asarray(self._model.get_scores(known), np.float32)

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> Lexical:
        import bm25s

        return cls(bm25s.BM25.load(str(directory), allow_pickle=False, show_progress=False))

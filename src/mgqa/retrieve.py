"""Question -> ranked hits: dense (FAISS) and lexical (BM25) candidates, fused by score.

Dense similarity is the absolute signal (abstention relies on it); BM25, scaled by its best
score for this question, adds the exact-term evidence dense vectors blur. Passages that overlap
one another are returned once.
"""

from __future__ import annotations

import numpy as np

from mgqa.normalize import asked_types, gives_asked_type
from mgqa.types import Hit

CANDIDATES = 50  # from each retriever, before fusion
LEXICAL_WEIGHT = 0.2  # fused = cosine + LEXICAL_WEIGHT * bm25 / max(bm25) (+ TYPE_WEIGHT)
TITLE_WEIGHT = 0.2  # x share of the document title's terms the question names (MedQuAD: +0.02 nDCG@10)
TYPE_WEIGHT = 0.05  # a passage holding the kind of answer asked for ("how much" -> "100 mg")


def search(index, qvec: np.ndarray, lexical_query: str, k: int, mode: str = "hybrid") -> list[Hit]:
    """Top ``k`` non-overlapping hits. ``mode`` is hybrid, dense or lexical (for evaluation)."""
    n = len(index.chunks)
    if n == 0:
        return []
    want = min(n, max(CANDIDATES, 4 * k))
    cand: set[int] = set()
    if mode in ("hybrid", "dense"):
        _, ids = index.dense.search(qvec.reshape(1, -1).astype(np.float32), want)
        cand.update(int(i) for i in ids[0] if i >= 0)
    bm25 = index.lexical.scores(lexical_query) if mode in ("hybrid", "lexical") else None
    if bm25 is not None:
        cand.update(int(i) for i in np.argsort(-bm25)[:want] if bm25[i] > 0)
    rows = np.fromiter(cand, dtype=np.int64)
    if rows.size == 0:
        return []
    cos = index.vectors[rows] @ qvec  # exact, whatever the ANN structure approximated
    lex = _scaled(bm25[rows]) if bm25 is not None else np.zeros(len(rows), np.float32)
    fused = {"hybrid": cos + LEXICAL_WEIGHT * lex + TITLE_WEIGHT * _title_match(index, rows, lexical_query),
             "dense": cos, "lexical": lex}[mode]
    asked = asked_types(lexical_query)
    if mode == "hybrid" and asked:
        fused = fused + TYPE_WEIGHT * np.array([gives_asked_type(asked, index.chunks[r].text) for r in rows])
    order = np.argsort(-fused, kind="stable")
    hits = [Hit(int(rows[i]), float(fused[i]), float(cos[i]), float(lex[i])) for i in order]
    return _without_overlaps(index.chunks, hits, k)


def _title_match(index, rows: np.ndarray, query: str) -> np.ndarray:
    """Per row, the share of its document title's terms that the question names: a question
    naming "Treacher Collins syndrome" is about that document, whichever passage matched."""
    terms = set(index.lexical.terms(query))
    if not terms:
        return np.zeros(len(rows), np.float32)
    titles = title_terms(index)
    out = np.zeros(len(rows), np.float32)
    for i, r in enumerate(rows):
        t = titles.get(index.chunks[r].doc_id)
        if t:
            out[i] = len(t & terms) / len(t)
    return out


def title_terms(index) -> dict[str, frozenset[str]]:
    """Document id -> its title's stemmed terms, computed once per loaded index."""
    if getattr(index, "_title_terms", None) is None:
        index._title_terms = {doc_id: frozenset(index.lexical.terms(d.get("title") or ""))
                              for doc_id, d in index.docs.items()}
    return index._title_terms


def _scaled(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return (scores / top).astype(np.float32) if top > 0 else np.zeros_like(scores, dtype=np.float32)


def _without_overlaps(chunks, hits: list[Hit], k: int) -> list[Hit]:
    kept: list[Hit] = []
    for h in hits:
        c = chunks[h.chunk_id]
        if any(chunks[o.chunk_id].doc_id == c.doc_id and chunks[o.chunk_id].start < c.end
               and c.start < chunks[o.chunk_id].end for o in kept):
            continue
        kept.append(h)
        if len(kept) == k:
            break
    return kept

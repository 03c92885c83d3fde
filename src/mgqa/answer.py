"""The one library call every interface uses: a question (and the conversation so far) -> Answer."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from mgqa import settings
from mgqa.errors import InvalidQuestion, QuestionTooLong
from mgqa.highlight import highlights
from mgqa.normalize import clean_controls, expand
from mgqa.retrieve import search
from mgqa.texts import DISCLAIMER, EMERGENCY_NOTICE, NO_ANSWER_NOTICE
from mgqa.triage import emergency_reason
from mgqa.types import Answer, Citation, Hit, Passage

# Abstain unless the best passage is this similar (cosine) to the question. Chosen on the gold
# set; see README "Answer quality" for the trade-off table that `mgqa eval` prints.
MIN_COSINE = 0.35
HISTORY_TURNS = 6


def validate(question: object) -> str:
    """The cleaned question, or ``InvalidQuestion`` / ``QuestionTooLong`` with one clear line."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = " ".join(clean_controls(question).split())
    if not q:
        raise InvalidQuestion("the question is empty: type a question about magnesium")
    limit = settings.get("max_question_chars")
    if len(q) > limit:
        raise QuestionTooLong(f"the question is {len(q):,} characters long; the limit is {limit:,}")
    return q


class Engine:
    """An index and an encoder, loaded once; ``ask`` is safe to call from many threads."""

    def __init__(self, index, encoder):
        self.index = index
        self.encoder = encoder

    @classmethod
    def load(cls, index_dir: str | Path | None = None, encoder=None) -> Engine:
        from mgqa.embed import get_encoder
        from mgqa.index import open_index

        encoder = encoder or get_encoder()
        return cls(open_index(index_dir, encoder), encoder)

    def ask(self, question: str, history: list[str] | None = None, k: int | None = None,
            mode: str = "hybrid") -> Answer:
        q = validate(question)
        k = k or settings.get("top_k")
        if emergency_reason(q):
            return Answer(q, "emergency", [], DISCLAIMER, EMERGENCY_NOTICE)
        query = contextual_query(q, _clean_history(history))
        hits = search(self.index, self.encoder.encode([query])[0], query, k, mode)
        if not answerable(hits):
            return Answer(q, "no_answer", [], DISCLAIMER, NO_ANSWER_NOTICE)
        return Answer(q, "answered", [self._passage(r, h, q) for r, h in enumerate(hits, 1)], DISCLAIMER)

    def _passage(self, rank: int, hit: Hit, question: str) -> Passage:
        chunk = self.index.chunks[hit.chunk_id]
        doc = self.index.docs.get(chunk.doc_id, {})
        citation = Citation(rank, chunk.doc_id, doc.get("title") or chunk.doc_id, chunk.section,
                            doc.get("source"), chunk.start, chunk.end)
        return Passage(rank, chunk.text, round(hit.score, 4), highlights(question, chunk.text), citation)


def answerable(hits: list[Hit]) -> bool:
    return bool(hits) and hits[0].dense >= MIN_COSINE


_FOLLOW_UP = re.compile(r"^(and|what about|how about|what if|also|or|but|same|then|so|is it|does it|"
                        r"can it|will it|and for|for|what for)\b|\b(it|that|this|those|they|them)\b")


def contextual_query(question: str, history: list[str]) -> str:
    """A follow-up ("what about for migraines?") is read together with the previous question."""
    if not history:
        return question
    content = [w for w in expand(question).split() if len(w) > 3]
    if _FOLLOW_UP.search(question.lower()) or len(content) <= 3:
        return f"{history[-1]} {question}"
    return question


def _clean_history(history: list[str] | None) -> list[str]:
    if not history:
        return []
    out = []
    for turn in history[-HISTORY_TURNS:]:
        if isinstance(turn, str) and turn.strip():
            out.append(" ".join(clean_controls(turn).split())[: settings.get("max_question_chars")])
    return out


_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def get_engine(index_dir: str | Path | None = None) -> Engine:
    """One engine per index directory per process."""
    key = str(index_dir or settings.get("index_dir"))
    with _LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine.load(key)
        return _ENGINES[key]


def ask(question: str, history: list[str] | None = None, k: int | None = None,
        index_dir: str | Path | None = None) -> Answer:
    """Answer ``question`` from the index at ``index_dir`` (default: the `index_dir` setting)."""
    return get_engine(index_dir).ask(question, history, k)

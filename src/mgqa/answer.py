"""The one library call every interface uses: a question (and the conversation so far) -> Answer."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

from mgqa import settings
from mgqa.errors import InvalidQuestion, QuestionTooLong
from mgqa.highlight import highlights, question_weights
from mgqa.links import passage_link
from mgqa.normalize import clean_controls
from mgqa.retrieve import search
from mgqa.scope import Decision, for_population
from mgqa.texts import DISCLAIMER, EMERGENCY_NOTICE, NO_ANSWER_NOTICE
from mgqa.types import Answer, Citation, Hit, Passage

HISTORY_TURNS = 6
FOLLOW_UP_WEIGHT = 0.7  # share of the previous question in a follow-up's vector


def validate(question: object) -> str:
    """The cleaned question, or ``InvalidQuestion`` / ``QuestionTooLong`` with one clear line."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = " ".join(clean_controls(question).split())
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text any encoder or client can carry
        raise InvalidQuestion("the question contains characters that are not valid Unicode text") from None
    if not q:
        raise InvalidQuestion("the question is empty: type a question about magnesium")
    limit = settings.get("max_question_chars")
    if len(q) > limit:
        raise QuestionTooLong(f"the question is {len(q):,} characters long; the limit is {limit:,}")
    return q


class Engine:
    """An index and an encoder, loaded once; ``ask`` is safe to call from many threads."""

    def __init__(self, index, encoder, triager=None, judge="auto"):
        from mgqa.judge import for_encoder
        from mgqa.triage import Triager

        self.index = index
        self.encoder = encoder
        self.triager = triager or Triager.for_encoder(encoder)
        # "auto": the shipped judge, unless MGQA_JUDGE=off or the encoder is not the one it learned on
        self.judge = for_encoder(encoder) if judge == "auto" else judge

    def without_judge(self) -> Engine:
        """The same index, encoder and triage, ranked and abstaining without the judge (for
        comparisons: `mgqa eval --compare`, the bench's judge cost)."""
        return Engine(self.index, self.encoder, self.triager, judge=None)

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
        alarm = self.triager.by_rules(q)  # the floor needs no encoding
        if alarm is None:
            vector, alarm = self.triager.read(q, self.encoder)
        if alarm is not None:
            return Answer(q, "emergency", [], DISCLAIMER, EMERGENCY_NOTICE, triage=alarm)
        turns = _clean_history(history)
        query = contextual_query(q, turns)
        qvec = self.query_vector(vector, q, turns)
        hits, decision = self.rank(qvec, query, k, mode)
        extra = {"decision": decision, "ranked": [h.chunk_id for h in hits]}  # for `mgqa eval --sweep`
        if not decision.answer():
            return Answer(q, "no_answer", [], DISCLAIMER, NO_ANSWER_NOTICE, extra)
        weights = question_weights(self.index.lexical, query)
        passages = [self._passage(r, h, q, weights) for r, h in enumerate(hits, 1)]
        return Answer(q, "answered", passages, DISCLAIMER, None, extra)

    def rank(self, qvec: np.ndarray, query: str, k: int, mode: str = "hybrid") -> tuple[list[Hit], Decision]:
        """The ``k`` best hits for ``query`` and whether to answer with them: fused candidates,
        less those for another population, the first ones reordered by the judge's probability
        of answering (hybrid mode only: the other modes are single retrievers, for evaluation)."""
        from mgqa.judge import CANDIDATES, judge

        judged = self.judge is not None and mode == "hybrid"
        hits = search(self.index, qvec, query, max(k, CANDIDATES) if judged else k, mode)
        hits, population = for_population(query, hits, self.index.chunks)
        if not judged or not hits:
            return hits[:k], Decision(hits[0].dense if hits else None, population=population)
        verdict = judge(self.judge, self.index, qvec, query, hits[:CANDIDATES])
        hits = verdict.hits + hits[CANDIDATES:]
        threshold = settings.get("judge_threshold") or self.judge.threshold
        return hits[:k], Decision(hits[0].dense, verdict.best, threshold, population)

    def query_vector(self, now: np.ndarray, question: str, history: list[str]) -> np.ndarray:
        """A follow-up's vector leans towards the previous question; the new one (``now``, its
        vector, shared with triage) still leads."""
        if not is_follow_up(question, history):
            return now
        before = self.encoder.encode([history[-1]])[0]
        v = now + FOLLOW_UP_WEIGHT * before
        return (v / np.linalg.norm(v)).astype(np.float32)

    def prepare_query(self, question: str, history: list[str] | None = None) -> str:
        """The text retrieval uses: the question, read with the previous one if it is a follow-up."""
        return contextual_query(validate(question), _clean_history(history))

    def _passage(self, rank: int, hit: Hit, question: str, weights: dict[str, float]) -> Passage:
        chunk = self.index.chunks[hit.chunk_id]
        doc = self.index.docs.get(chunk.doc_id, {})
        source = doc.get("source")
        citation = Citation(rank, chunk.doc_id, doc.get("title") or chunk.doc_id, chunk.section,
                            source, chunk.start, chunk.end, passage_link(source, chunk.text))
        marks = highlights(question, weights, chunk.text, self.index.lexical)
        return Passage(rank, chunk.text, round(hit.score, 4), marks, citation)


_FOLLOW_UP = re.compile(r"^(and|what about|how about|what if|also|or|but|same|then|so|is it|does it|"
                        r"can it|will it|would it|do they|are they|and for|for|what else)\b"
                        r"|\b(it|that|this|those|these|they|them|there|too|also|instead|else)\b")


def is_follow_up(question: str, history: list[str]) -> bool:
    """A question that points back ("what about for migraines?", "does it help sleep too?")."""
    return bool(history) and bool(_FOLLOW_UP.search(question.lower()))


def contextual_query(question: str, history: list[str]) -> str:
    """A follow-up is read together with the previous question; anything else stands alone."""
    return f"{history[-1]} {question}" if is_follow_up(question, history) else question


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

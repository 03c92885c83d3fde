"""The one library call every interface uses: a question (and the conversation so far) -> Answer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mgqa import settings
from mgqa.conversation import contextual_query, query_vector
from mgqa.errors import InvalidQuestion, QuestionTooLong
from mgqa.highlight import highlights, question_weights
from mgqa.links import passage_link
from mgqa.normalize import clean_controls
from mgqa.retrieve import search
from mgqa.scope import Decision, for_population
from mgqa.types import Answer, Citation, Hit, Passage

if TYPE_CHECKING:
    from mgqa.judge import Judgement

HISTORY_TURNS = 6


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
        raise InvalidQuestion("the question is empty: type a question")
    limit = settings.get("max_question_chars")
    if len(q) > limit:
        raise QuestionTooLong(f"the question is {len(q):,} characters long; the limit is {limit:,}")
    return q


class Engine:
    """An index and an encoder, loaded once; ``ask`` is safe to call from many threads."""

    def __init__(self, index, encoder, triager=None, judge="auto", known="auto", tower="auto"):
        from mgqa import tower as towers
        from mgqa.judge import for_encoder
        from mgqa.triage import Triager

        self.index = index
        self.encoder = encoder
        self.triager = triager or Triager.for_encoder(encoder)
        # "auto": the shipped judge, unless MGQA_JUDGE=off or the encoder is not the one it learned on
        self.judge = for_encoder(encoder) if judge == "auto" else judge
        # "auto": the shipped query tower, unless MGQA_TOWER=off (or the encoder is a fake one).
        # ``asker`` encodes questions for retrieval, the judge and the known questions; ``encoder``
        # everything else.
        self.tower = towers.for_encoder(encoder) if tower == "auto" else tower
        self.asker = towers.asker(encoder, self.tower)
        # "auto": the shipped weighing of known questions, when the index has some read as this
        # engine reads questions and the judge is on
        self.known = _known_model(index, self.judge, self.asker) if known == "auto" else known
        learned = getattr(self.judge, "tower", None)
        if self.judge is not None and tower == "auto" and learned != getattr(self.tower, "sha256", None):
            towers.log.warning("the answer judge learned on %s, and questions are read by %s: its figures "
                               "(docs/QUALITY.md) do not hold", f"query tower {learned[:12]}" if learned else "the encoder",
                               f"query tower {self.tower.sha256[:12]}" if self.tower else "the encoder")

    def without_judge(self) -> Engine:
        """The same index, encoder and triage, ranked and abstaining without the judge (nor the
        known questions, which weigh its verdict): for `mgqa eval --compare` and the bench."""
        return Engine(self.index, self.encoder, self.triager, judge=None, known=None, tower=None)

    def without_known(self) -> Engine:
        """The same engine with the judge alone, not the index's known questions (comparisons)."""
        return Engine(self.index, self.encoder, self.triager, judge=self.judge, known=None, tower=self.tower)

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
            states, plain, alarm = self.triager.read(q, self.encoder)
        words = self.index.clinic  # the disclaimer and notices are the clinic's (clinic.toml)
        if alarm is not None:
            return Answer(q, "emergency", [], words.disclaimer, words.emergency_notice, triage=alarm)
        turns = _clean_history(history)
        query = contextual_query(q, turns)
        asked = plain if self.tower is None or states is None else self.tower.vector(states.shared)
        qvec = query_vector(asked, q, turns, self.asker)  # a follow-up leans on the previous question
        hits, decision = self.rank(qvec, query, k, mode)
        extra = {"decision": decision, "ranked": [h.chunk_id for h in hits]}  # for `mgqa eval --sweep`
        if not decision.answer():
            return Answer(q, "no_answer", [], words.disclaimer, words.no_answer, extra)
        weights = question_weights(self.index.lexical, query)
        passages = [self._passage(r, h, q, weights) for r, h in enumerate(hits, 1)]
        return Answer(q, "answered", passages, words.disclaimer, None, extra)

    def rank(self, qvec: np.ndarray, query: str, k: int, mode: str = "hybrid") -> tuple[list[Hit], Decision]:
        """The ``k`` best hits for ``query`` and whether to answer with them: fused candidates,
        less those for another population, the first ones reordered by the judge's probability
        of answering (hybrid mode only: the other modes are single retrievers, for evaluation).
        ``qvec`` is the asker's vector (the known questions were read the same way)."""
        from mgqa.judge import CANDIDATES

        hits, population, verdict = self.judged(qvec, query, k, mode)
        if verdict is None:
            return hits[:k], Decision(hits[0].dense if hits else None, population=population)
        hits, probability, threshold = verdict.hits + hits[CANDIDATES:], verdict.best, self.judge.threshold
        if self.known is not None:
            hits, probability = self._consult_known(qvec, query, verdict)
            threshold = self.known.threshold
        threshold = settings.get("judge_threshold") or threshold
        return hits[:k], Decision(hits[0].dense, probability, threshold, population)

    def judged(self, qvec: np.ndarray, query: str, k: int, mode: str = "hybrid") -> tuple[list[Hit], str | None, Judgement | None]:
        """The fused candidates (enough for the judge), less those for another population; the
        population that ruled them all out, if one did; and the judge's ``Judgement`` of the first
        ones (None without the judge, outside hybrid mode or without candidates)."""
        from mgqa.judge import CANDIDATES, judge

        use = self.judge is not None and mode == "hybrid"
        hits = search(self.index, qvec, query, max(k, CANDIDATES) if use else k, mode)
        hits, population = for_population(query, hits, self.index.chunks)
        verdict = judge(self.judge, self.index, qvec, query, hits[:CANDIDATES]) if use and hits else None
        return hits, population, verdict

    def _consult_known(self, qvec: np.ndarray, query: str, verdict) -> tuple[list[Hit], float]:
        """The judged candidates and the passages the nearest known questions vote for (those
        that may be quoted to this population), reordered, and the probability of answering."""
        from mgqa.known import candidates, decide, votes

        vote = votes(self.known, self.index.known, qvec)
        hits = candidates(self.index, vote, verdict.hits, query, qvec)
        return decide(self.known, vote, hits, verdict.logits, verdict.best, verdict.evidence)

    def question_vectors(self, questions: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(the asker's vectors, the encoder's own) of many questions, from one encoder run."""
        if self.asker is self.encoder:
            plain = self.encoder.encode(questions)
            return plain, plain
        return self.asker.encode_both(questions)

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


def _known_model(index, judge, asker):
    """The shipped model weighing known questions: when the judge is on, the index holds enough
    known questions (known.MIN_PER_PASSAGE), read into vectors as ``asker`` reads a new question,
    and MGQA_KNOWN_QUESTIONS is not off."""
    from mgqa.index import rebuild_hint
    from mgqa.known import dense_enough, load_model, reader_id
    from mgqa.tower import log

    if judge is None or not getattr(index, "known", None) or not settings.get("known_questions"):
        return None
    if not dense_enough(index.known, len(index.chunks)):
        return None
    # An index built before known questions were read by the tower (or with MGQA_TOWER set
    # otherwise than now) holds vectors of another space: its votes would be noise.
    read_by = (index.manifest.get("known_questions") or {}).get("read_by", "encoder")
    if read_by != reader_id(asker):
        log.warning("the index's known questions were read by %s and questions now by %s: answering without "
                    "them; %s", _reader_name(read_by), _reader_name(reader_id(asker)), rebuild_hint(index.path, index.manifest))
        return None
    return load_model()


def _reader_name(read_by: str) -> str:
    return "the encoder" if read_by == "encoder" else f"query tower {read_by[:12]}"


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

"""Known questions: what patients asked before, and which passage answered them (or that none did).

A clinic learns its patients' wording one question at a time. ``known_questions.jsonl`` beside
the documents keeps that knowledge as data: each line a question (with the conversation before
it, for a follow-up) and either the verbatim sentence of a document that answers it or the
verdict that the documents do not. It is the gold-set format, so the same file can be scored
with ``mgqa eval --gold``::

    {"kind": "answerable", "question": "how much mag did they give in the fibro trial?",
     "doc_id": "epoch-times-magnesium-fibromyalgia", "answer": "Participants were randomly assigned ..."}
    {"kind": "unanswerable", "question": "how much does an infusion cost at your clinic?"}

The index build checks every answer against the documents (a bad line is named by its number),
resolves it to the passages that hold it and stores each question's vector. At question time
the nearest known questions vote for their passages (or for "not in our documents"), and a small
learned model (``data/known_model.json``, trained by ``bench/known/train.py``) weighs those votes
against the answer judge's own ranking and probability. With no known questions the judge
decides alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from mgqa import datafile
from mgqa.conversation import query_vector
from mgqa.datafile import decode, read_bytes
from mgqa.errors import KnownQuestionsError, MgqaError
from mgqa.judge import LIST_FEATURES
from mgqa.normalize import clean_controls
from mgqa.types import Chunk, Document, Hit

FILE_NAME = "known_questions.jsonl"  # found beside the documents; its compiled form travels with the index
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_QUESTION_CHARS = 2000
MODEL_JSON = "known_model.json"
FORMAT_VERSION = 1
# What the ranker reads (the coefficients' order), and what the abstention model may read: its
# own list in known_model.json names which of these, in its coefficients' order.
RANK_FEATURES = ("logit", "judged", "vote", "nearest")
VOTE_FEATURES = ("judge_log_odds", "none_vote", "top_vote", "nearest_answered", "nearest_unanswered",
                 "answered_margin", "score", "score_margin")
ABSTAIN_FEATURES = VOTE_FEATURES + tuple(f"judge_{n}" for n in LIST_FEATURES)  # + what the judge's own read


class KnownModelError(MgqaError):
    """The shipped known-questions model is missing or unreadable."""

    http_status = 503


@dataclass(frozen=True)
class KnownQuestion:
    """One line: a question and the verbatim answer (None: the documents do not answer it)."""

    question: str
    history: tuple[str, ...]
    doc_id: str | None
    answer: str | None
    line: int


@dataclass(frozen=True)
class KnownQuestions:
    """A parsed file: its questions, where it came from and the sha256 of its bytes."""

    entries: tuple[KnownQuestion, ...] = ()
    origin: str | None = None  # None: no file at all
    sha256: str = ""

    def record(self, read_by: str = "encoder") -> dict | None:
        """What the index manifest says about them (None when there are none); ``read_by``: who
        read them into vectors (``reader_id``)."""
        if self.origin is None:
            return None
        answered = sum(e.answer is not None for e in self.entries)
        return {"origin": self.origin, "sha256": self.sha256, "entries": len(self.entries),
                "answerable": answered, "unanswerable": len(self.entries) - answered, "read_by": read_by}


NONE = KnownQuestions()

# ------------------------------------------------------------------ the file


def parse_line(line: str, n: int, origin: str) -> KnownQuestion | None:
    """One JSON line as a ``KnownQuestion`` (None for a blank line); a bad one raises
    ``KnownQuestionsError`` naming its number."""
    where = f"{origin} line {n}"
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise KnownQuestionsError(f"{where}: not a JSON object ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not isinstance(item, dict):
        raise KnownQuestionsError(f"{where}: not a JSON object")
    kind, question, history = item.get("kind"), item.get("question"), item.get("history", [])
    if kind not in ("answerable", "unanswerable"):
        raise KnownQuestionsError(f"{where}: \"kind\" must be \"answerable\" or \"unanswerable\"")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_QUESTION_CHARS:
        raise KnownQuestionsError(f"{where}: \"question\" must be text of 1 to {MAX_QUESTION_CHARS} characters")
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise KnownQuestionsError(f"{where}: \"history\" must be a list of the patient's earlier messages")
    doc_id, answer = item.get("doc_id"), item.get("answer")
    if kind == "answerable":
        if not (isinstance(doc_id, str) and isinstance(answer, str) and answer.strip()):
            raise KnownQuestionsError(f"{where}: an answerable question needs \"doc_id\" and the verbatim \"answer\"")
        return KnownQuestion(question, tuple(history), doc_id, answer, n)
    return KnownQuestion(question, tuple(history), None, None, n)


def parse(text: str, origin: str, sha256: str | None = None) -> KnownQuestions:
    entries = tuple(e for n, line in enumerate(text.splitlines(), 1) if (e := parse_line(line, n, origin)))
    return KnownQuestions(entries, origin, sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest())


def read(path: Path, origin: str | None = None) -> KnownQuestions:
    """Parse the known-questions file at ``path``; ``origin`` names it in the manifest [default: the path]."""
    origin = origin or str(path)
    raw = read_bytes(path, MAX_FILE_BYTES, KnownQuestionsError, "known questions file")
    return parse(decode(raw, origin, KnownQuestionsError), origin, hashlib.sha256(raw).hexdigest())


def packaged() -> KnownQuestions:
    """The default corpus's known questions (``mgqa/corpus/known_questions.jsonl``)."""
    raw = (resources.files("mgqa") / "corpus" / FILE_NAME).read_bytes()
    origin = f"mgqa/corpus/{FILE_NAME} (packaged)"
    return parse(decode(raw, origin, KnownQuestionsError), origin, hashlib.sha256(raw).hexdigest())


def packaged_sha256() -> str:
    """The packaged file's sha256, without parsing it (the default index's freshness check)."""
    return hashlib.sha256((resources.files("mgqa") / "corpus" / FILE_NAME).read_bytes()).hexdigest()


def beside(paths: list[Path]) -> Path | None:
    """The ``known_questions.jsonl`` in the documents' folder, if there is one."""
    return datafile.beside(paths, FILE_NAME)


# ------------------------------------------------------------------ in the index


@dataclass(frozen=True)
class Memory:
    """The known questions as an index holds them: each one's vector and the passages (rows)
    that hold its answer (empty: the documents do not answer it)."""

    vectors: np.ndarray  # (n, dim) float32, unit length
    rows: tuple[tuple[int, ...], ...]
    lines: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def answered(self) -> np.ndarray:
        """Which known questions the documents answer (a boolean mask)."""
        return np.array([bool(r) for r in self.rows], bool)


# Known questions vote only where there are this many answerable ones per passage. The model that
# weighs their votes was trained and validated with ~150 per passage (the default corpus); on four
# clinics the judge never saw, half of each clinic's own questions as known ones (0.5 per passage)
# dropped Hit@1 from 0.43-0.58 to 0.02-0.10 (bench/clinics/known_worth.py, docs/QUALITY.md):
# a sparse vote outweighs the judge. Below the floor the judge answers alone.
MIN_PER_PASSAGE = 100


def enough(answerable: int, n_chunks: int) -> bool:
    """Whether ``answerable`` known questions are the MIN_PER_PASSAGE per passage their model needs."""
    return n_chunks > 0 and answerable >= MIN_PER_PASSAGE * n_chunks


def dense_enough(memory: Memory | None, n_chunks: int) -> bool:
    return memory is not None and enough(int(memory.answered.sum()), n_chunks)


def holds(doc_id: str, start: int, end: int, answer_doc: str, answer_start: int, answer_end: int) -> bool:
    """Whether the passage ``doc_id[start:end]`` holds at least half of the answer
    ``answer_doc[answer_start:answer_end]``: the one rule for where an answer is, here and in `mgqa eval`."""
    return (doc_id == answer_doc
            and min(end, answer_end) - max(start, answer_start) >= (answer_end - answer_start) / 2)


def reader_id(reader) -> str:
    """Who read the known questions into vectors: the query tower (its sha256) or "encoder"
    (the encoder's own vectors). A new question is compared with them only when read the same way."""
    tower = getattr(reader, "tower", None)
    return tower.sha256 if tower is not None else "encoder"


def compile_memory(known: KnownQuestions, docs: list[Document], chunks: list[Chunk], encoder) -> Memory | None:
    """Check every answer against the documents, find the passages holding it and encode each
    question as a new one like it would be (``encoder``: what reads new questions, the query
    tower's ``AskingEncoder`` when one ships; follow-ups lean on their history). None: no file."""
    if known.origin is None:
        return None
    by_id = {d.id: d for d in docs}
    own: dict[str, list[int]] = defaultdict(list)  # document -> its passages' rows, in order
    for i, c in enumerate(chunks):
        own[c.doc_id].append(i)
    rows: list[tuple[int, ...]] = []
    for e in known.entries:
        if e.answer is None:
            rows.append(())
            continue
        doc = by_id.get(e.doc_id or "")
        if doc is None:
            raise KnownQuestionsError(f"{known.origin} line {e.line}: no document {e.doc_id!r} in this corpus")
        start = doc.text.find(e.answer)
        if start < 0:
            raise KnownQuestionsError(f"{known.origin} line {e.line}: the answer is not verbatim in {e.doc_id!r}")
        mine = own[doc.id]
        held = tuple(i for i in mine if holds(doc.id, chunks[i].start, chunks[i].end, doc.id, start,
                                              start + len(e.answer)))
        if not held and mine:  # a heading or a line no passage keeps: the document's passage nearest to it
            held = (min(mine, key=lambda i: max(chunks[i].start - start, start - chunks[i].end, 0)),)
        rows.append(held)
    vectors = np.zeros((len(known.entries), encoder.dim), np.float32)
    if known.entries:
        texts = [_clean(e.question) for e in known.entries]  # as answering cleans a question
        now = encoder.encode(texts)
        for i, (e, text) in enumerate(zip(known.entries, texts, strict=True)):
            vectors[i] = query_vector(now[i], text, [_clean(h) for h in e.history if h.strip()], encoder)
    return Memory(vectors, tuple(rows), tuple(e.line for e in known.entries))


def _clean(text: str) -> str:
    return " ".join(clean_controls(text).split())


def save(memory: Memory, directory: Path) -> None:
    np.save(directory / "known.npy", memory.vectors, allow_pickle=False)
    with open(directory / "known.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"line": n, "rows": list(r)}) + "\n" for n, r in zip(memory.lines, memory.rows, strict=True))


def load(directory: Path, n_chunks: int) -> Memory | None:
    """The memory saved in an index's data directory, or None when it has none."""
    if not (directory / "known.npy").exists():
        return None
    vectors = np.load(directory / "known.npy", allow_pickle=False)
    items = [json.loads(line) for line in (directory / "known.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = tuple(tuple(int(r) for r in item["rows"]) for item in items)
    if len(rows) != len(vectors) or any(not 0 <= r < n_chunks for rs in rows for r in rs):
        raise ValueError("known questions and their vectors disagree")
    return Memory(np.asarray(vectors, np.float32), rows, tuple(int(item["line"]) for item in items))


# ------------------------------------------------------------------ at question time


@dataclass(frozen=True)
class KnownModel:
    """How the votes of the nearest known questions are weighed (``data/known_model.json``)."""

    neighbours: int  # known questions that vote
    power: float  # a vote weighs similarity ** power: a near copy counts far more than a cousin
    pool: int  # known questions searched for each passage's nearest one
    rank_coef: np.ndarray
    rank_intercept: float
    abstain_features: tuple[str, ...]  # a subset of ABSTAIN_FEATURES
    abstain_mean: np.ndarray  # the features are standardised before the coefficients apply
    abstain_scale: np.ndarray
    abstain_coef: np.ndarray
    abstain_intercept: float
    threshold: float


@dataclass(frozen=True)
class Votes:
    """What the known questions nearest a new one say about it."""

    share: dict[int, float]  # passage row -> share of the vote
    none: float  # share of the vote for "the documents do not answer"
    nearest: dict[int, float]  # passage row -> similarity of its nearest known question
    nearest_answered: float
    nearest_unanswered: float


def votes(model: KnownModel, memory: Memory, qvec: np.ndarray) -> Votes:
    """Example: the 8 nearest known questions at similarities 0.9 (passage 4), 0.8 (none), ...
    vote with weights 0.9**4, 0.8**4, ...; passage 4 gets its share, "none" its own."""
    sims = memory.vectors @ np.asarray(qvec, np.float32)
    order = np.argsort(-sims, kind="stable")
    share: dict[int, float] = defaultdict(float)
    none = total = 0.0
    for j in order[:model.neighbours]:
        w = max(float(sims[j]), 0.0) ** model.power
        total += w
        rows = memory.rows[j]
        if not rows:
            none += w
        for r in rows:
            share[r] += w / len(rows)
    nearest: dict[int, float] = {}
    for j in order[:model.pool]:
        for r in memory.rows[j]:
            nearest.setdefault(r, float(sims[j]))
    answered, unanswered = sims[memory.answered], sims[~memory.answered]
    total = total or 1.0
    return Votes({r: v / total for r, v in share.items()}, none / total, nearest,
                 float(answered.max()) if answered.size else 0.0, float(unanswered.max()) if unanswered.size else 0.0)


def candidates(index, vote: Votes, judged: list[Hit], query: str, qvec: np.ndarray) -> list[Hit]:
    """The judged hits, then the passages only the votes name (those that may be quoted to the
    population ``query`` asks about: ``scope.for_population``)."""
    from mgqa.scope import for_population

    seen = {h.chunk_id for h in judged}
    extra = [Hit(r, 0.0, float(index.vectors[r] @ qvec)) for r in sorted(vote.share) if r not in seen]
    return judged + for_population(query, extra, index.chunks)[0]


def decide(model: KnownModel, vote: Votes, hits: list[Hit], logits: np.ndarray, judge_probability: float,
           evidence: np.ndarray) -> tuple[list[Hit], float]:
    """Reorder ``hits`` (the judged ones first, with their ``logits``, then passages only the
    known questions named) and give the probability that the first three hold an answer.
    ``evidence``: what the judge's abstention model read (``judge.LIST_FEATURES``)."""
    if not hits:
        return hits, 0.0
    scores = rank_scores(model, vote, hits, logits)
    order = np.argsort(-scores, kind="stable")
    x = abstain_features(model, vote, scores, judge_probability, evidence)
    z = float(((x - model.abstain_mean) / model.abstain_scale) @ model.abstain_coef + model.abstain_intercept)
    return [hits[i] for i in order], 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def rank_scores(model: KnownModel, vote: Votes, hits: list[Hit], logits: np.ndarray) -> np.ndarray:
    """The ranker's score of each hit (RANK_FEATURES x its coefficients)."""
    return rank_rows(vote, hits, logits) @ model.rank_coef + model.rank_intercept


def rank_rows(vote: Votes, hits: list[Hit], logits: np.ndarray) -> np.ndarray:
    """RANK_FEATURES of each hit; the first ``len(logits)`` hits are the judged ones."""
    judged = {h.chunk_id: float(x) for h, x in zip(hits, logits, strict=False)}
    floor = min(judged.values(), default=0.0) - 1.0  # a passage the judge did not see ranks below all it did
    return np.array([[judged.get(h.chunk_id, floor), float(h.chunk_id in judged), vote.share.get(h.chunk_id, 0.0),
                      vote.nearest.get(h.chunk_id, 0.0)] for h in hits], np.float64).reshape(len(hits), 4)


def abstain_features(model: KnownModel, vote: Votes, scores: np.ndarray, judge_probability: float,
                     evidence: np.ndarray) -> np.ndarray:
    """The abstention model's inputs, by name (``model.abstain_features``), unstandardised."""
    order = np.argsort(-scores, kind="stable")
    top = float(scores[order[0]])
    runner_up = float(scores[order[1]]) if len(order) > 1 else top - 5.0
    p = min(max(judge_probability, 1e-4), 1 - 1e-4)
    named = {"judge_log_odds": math.log(p / (1 - p)), "none_vote": vote.none,
             "top_vote": max(vote.share.values(), default=0.0), "nearest_answered": vote.nearest_answered,
             "nearest_unanswered": vote.nearest_unanswered,
             "answered_margin": vote.nearest_answered - vote.nearest_unanswered, "score": top,
             "score_margin": top - runner_up,
             **{f"judge_{n}": float(v) for n, v in zip(LIST_FEATURES, evidence, strict=True)}}
    return np.array([named[n] for n in model.abstain_features], np.float64)


FIX = "reinstall mgqa or run `make train-known`, or set MGQA_KNOWN_QUESTIONS=off to answer without them"


@lru_cache(maxsize=1)
def load_model() -> KnownModel:
    """The shipped model (read once per process)."""
    return read_model(Path(str(resources.files("mgqa") / "data" / MODEL_JSON)))


def read_model(path: Path) -> KnownModel:
    """The model in ``path``; ``KnownModelError`` (one line) when it is missing or malformed."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        _require(meta["format"] == FORMAT_VERSION, "format")
        _require(meta["rank"]["features"] == list(RANK_FEATURES), "ranker features")
        names = tuple(meta["abstain"]["features"])
        _require(bool(names) and set(names) <= set(ABSTAIN_FEATURES), "abstention features")
        rank_coef = np.asarray(meta["rank"]["coef"], np.float64)
        mean, scale, coef = (np.asarray(meta["abstain"][k], np.float64) for k in ("mean", "scale", "coef"))
        _require(rank_coef.shape == (len(RANK_FEATURES),) and mean.shape == scale.shape == coef.shape == (len(names),),
                 "coefficient shapes")
        _require(all(np.all(np.isfinite(a)) for a in (rank_coef, mean, scale, coef)) and bool(np.all(scale > 0)),
                 "coefficient values")
        return KnownModel(int(meta["neighbours"]), float(meta["power"]), int(meta["pool"]), rank_coef,
                          float(meta["rank"]["intercept"]), names, mean, scale, coef,
                          float(meta["abstain"]["intercept"]), float(meta["threshold"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise KnownModelError(f"the known-questions model {path} is unusable ({type(exc).__name__}); {FIX}") from None


def _require(ok: bool, what: str) -> None:
    """A check that holds under ``python -O`` too (``assert`` would be stripped)."""
    if not ok:
        raise ValueError(f"bad {what}")

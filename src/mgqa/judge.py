"""Does this passage *answer* the question, or is it only about the same thing?

The judge has two learned parts. A ranker scores each fused candidate (question, passage) pair and
reorders the candidates; an abstention model reads the ranked list and gives the probability that
the passages an answer would quote include one that answers ("not in our documents" below the
threshold).

The ranker's input is one row per pair: scalar features that any corpus has (cosine, BM25, how
much of the question's rare vocabulary the passage, its best sentence and its document contain,
whether the passage holds the kind of answer asked for, topic words the corpus never mentions,
the question's cosine with the passage's best sentence and with the heading it sits under, often
a FAQ's own question: ``detail.py``) and the element-wise product of the question and passage
vectors, which lets it learn that a "what are the symptoms" question is not answered by a "how
is it treated" passage on the same topic. Both are trained by ``bench/judge/train.py`` (``make
train-judge``) on the clinic bank (44 clinics' pages and patients' questions, validated with a
quarter of the specialties held out at a time), MedQuAD, MEDIQA's graded answers and the
project's magnesium question sets; the ranker ships as
``data/judge.onnx``, and ``data/judge_model.json`` holds the abstention model's coefficients, the
threshold, the feature lists and the ranker's sha256 (checked at load).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mgqa.embed import cpu_session
from mgqa.errors import MgqaError
from mgqa.normalize import asked_types, fold, gives_asked_type
from mgqa.retrieve import title_terms
from mgqa.sentences import sentence_spans
from mgqa.types import Hit

FORMAT_VERSION = 2  # 2: the sentence and heading features (detail.py)
MODEL_JSON = "judge_model.json"
WEIGHTS_FILE = "judge.onnx"
JUDGED_MODEL, JUDGED_DIM = "sentence-transformers/all-MiniLM-L6-v2", 384  # whose vectors it learned on
CANDIDATES = 10  # fused candidates the judge scores per question
FIX = "reinstall mgqa or run `make train-judge`, or set MGQA_JUDGE=off to answer without it"

SCALARS = ("cosine", "cosine_gap", "bm25", "fused_gap", "rank", "title", "asks_type", "gives_type",
           "coverage", "missing_idf", "sentence_coverage", "document_coverage", "unknown_share", "terms",
           "uncovered_rare", "uncovered_medical", "uncovered_count", "centrality", "lead",
           "sentence_cosine", "first_sentence_cosine", "sentence_gap", "section_cosine", "has_section",
           "section_coverage", "faq")
# What the abstention model reads about the judged list (its best candidate): see list_features.
LIST_FEATURES = ("logit", "logit_margin", "softmax", "cosine", "max_cosine", "bm25", "coverage", "missing_idf",
                 "sentence_coverage", "document_coverage", "unknown_share", "asks_type", "gives_type",
                 "type_missing", "terms", "uncovered_rare", "uncovered_medical", "uncovered_count", "centrality",
                 "lead", "sentence_cosine", "sentence_gap", "max_sentence_cosine", "section_cosine", "has_section",
                 "section_coverage", "faq")
EVERYDAY_WORDS = 10000  # this many most frequent English words (data/common_words.txt) are not topics
GENERIC_WORDS = 1000  # ... and these are not even when a medical title uses them
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]")


class JudgeDataError(MgqaError):
    """The shipped judge model is missing, altered or unreadable."""

    http_status = 503


# ------------------------------------------------------------------ features


def features(index, qvec: np.ndarray, question: str, hits: list[Hit]) -> np.ndarray:
    """One row per hit: the SCALARS, then question vector * passage vector (float32)."""
    lexical = index.lexical
    q_terms = set(lexical.terms(question))
    idf = {t: lexical.idf(t) for t in q_terms}
    top_idf = _max_idf(lexical)
    total = sum(idf.values()) or 1.0
    unknown = sum(w for t, w in idf.items() if not lexical.knows(t)) / total
    asked = asked_types(question)
    titles = title_terms(index)
    rare, medical, count = uncovered(index, question)
    centre = _centre(index)
    top_cos = max((h.dense for h in hits), default=0.0)
    top_fused = max((h.score for h in hits), default=0.0)
    detail = _detail_rows(index, qvec, hits)
    top_sentence = max((d[0] for d in detail), default=0.0)
    rows = []
    for rank, (h, (best, first, heading)) in enumerate(zip(hits, detail, strict=True)):
        chunk = index.chunks[h.chunk_id]
        p_terms = chunk_terms(index, h.chunk_id)
        missing = [idf[t] for t in q_terms - p_terms]
        title = titles.get(chunk.doc_id, frozenset())
        rows.append([
            h.dense, h.dense - top_cos, h.lexical, h.score - top_fused, rank / CANDIDATES,
            len(title & q_terms) / len(title) if title else 0.0,
            float(bool(asked)), float(bool(asked) and gives_asked_type(asked, chunk.text)),
            sum(idf[t] for t in q_terms & p_terms) / total,
            max(missing, default=0.0) / top_idf,
            _best_sentence_coverage(sentence_terms(index, h.chunk_id), idf, total),
            sum(idf[t] for t in q_terms & document_terms(index, chunk.doc_id)) / total,
            unknown, math.log1p(len(q_terms)) / 4, rare, medical, count,
            float(index.vectors[h.chunk_id] @ centre), float(_doc_rows(index)[chunk.doc_id][0] == h.chunk_id),
            best, first, best - top_sentence, heading, float(bool(chunk.section)),
            sum(idf[t] for t in q_terms & section_terms(index, h.chunk_id)) / total,
            float(bool(chunk.section) and chunk.section.rstrip().endswith("?")),
        ])
    scalars = np.asarray(rows, np.float32).reshape(len(hits), len(SCALARS))
    product = index.vectors[[h.chunk_id for h in hits]] * qvec.astype(np.float32)
    return np.hstack([scalars, product.astype(np.float32)])


def _detail_rows(index, qvec: np.ndarray, hits: list[Hit]) -> list[tuple[float, float, float]]:
    """Per hit: the question's cosine with the passage's best sentence, with its first sentence,
    and with its heading (detail.py; zeros for an index without them)."""
    detail = getattr(index, "detail", None)
    if detail is None:
        return [(0.0, 0.0, 0.0)] * len(hits)
    out = []
    for h in hits:
        cos = detail.sentence_cosines(h.chunk_id, qvec)
        out.append((float(cos.max()), float(cos[0]), detail.section_cosine(h.chunk_id, qvec)))
    return out


def section_terms(index, row: int) -> frozenset[str]:
    """A passage's heading's stemmed terms (a FAQ's question names what its answer answers)."""
    cache = index.__dict__.setdefault("_section_terms", {})
    if row not in cache:
        section = index.chunks[row].section
        cache[row] = frozenset(index.lexical.terms(section)) if section else frozenset()
    return cache[row]


@lru_cache(maxsize=1)
def _word_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Generic data, not about any corpus: English's most frequent words (the first GENERIC_WORDS
    are never topics, even where a medical title uses them: "what", "about", "down"; the first
    EVERYDAY_WORDS are topics only if medical), and the words of MedQuAD's topic titles
    (conditions, organs, drugs)."""
    data = resources.files("mgqa") / "data"
    common = data.joinpath("common_words.txt").read_text(encoding="utf-8").split()
    medical = frozenset(data.joinpath("medical_words.txt").read_text(encoding="utf-8").split())
    return frozenset(common[:GENERIC_WORDS]), frozenset(common[:EVERYDAY_WORDS]), medical


def _centre(index) -> np.ndarray:
    """The corpus's mean passage vector, normalised. A passage close to it is a hub (an
    introduction, a summary) that resembles every question a little and answers few."""
    if "_judge_centre" not in index.__dict__:
        mean = np.asarray(index.vectors, np.float32).mean(axis=0) if len(index.chunks) else np.zeros(1, np.float32)
        index._judge_centre = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)
    return index._judge_centre


def uncovered(index, question: str) -> tuple[float, float, float]:
    """How much of the question's subject the corpus never mentions: the share of its topic
    words (medical words, and words rarer than everyday English) that no passage holds and the
    corpus's synonyms file does not name, and (scaled) how many of those are medical words.
    "can kids take magnesium for kidney stones?" against two magnesium documents: "kidney",
    "stones" are unknown there. Everyday words ("tonight", "husband") never count."""
    generic, everyday, medical = _word_lists()
    tokens = [w for w in _WORD.findall(fold(question)) if w not in generic]
    is_medical = [w in medical or w.rstrip("s") in medical for w in tokens]
    words = [(w, m) for w, m in zip(tokens, is_medical, strict=True) if m or w not in everyday]
    if not words:
        return 0.0, 0.0, 0.0
    named = _synonym_words(index)
    missing = [m for w, m in words
               if w not in named and not all(index.lexical.knows(t) for t in index.lexical.terms(w))]
    return len(missing) / len(words), min(sum(missing), 3) / 3, min(len(missing), 3) / 3


def _synonym_words(index) -> frozenset[str]:
    """Single words the corpus's synonyms file names ("fibro", "mag"): known, though no passage uses them."""
    if "_synonym_words" not in index.__dict__:
        entries = getattr(getattr(index.lexical, "synonyms", None), "entries", ())
        index._synonym_words = frozenset(t for e in entries for t in (*e.matches, *e.adds) if " " not in t)
    return index._synonym_words


def _best_sentence_coverage(sentences: list[frozenset[str]], idf: dict[str, float], total: float) -> float:
    """The share of the question's IDF mass that the passage's best single sentence holds: a
    passage whose one sentence names the detail asked beats a lead that touches every word once."""
    return max((sum(w for t, w in idf.items() if t in terms) / total for terms in sentences), default=0.0)


def chunk_terms(index, row: int) -> frozenset[str]:
    """A passage's stemmed terms, computed once per loaded index (on first need)."""
    cache = index.__dict__.setdefault("_chunk_terms", {})
    if row not in cache:
        cache[row] = frozenset(index.lexical.terms(index.chunks[row].text))
    return cache[row]


def sentence_terms(index, row: int) -> list[frozenset[str]]:
    """Each sentence's stemmed terms in a passage, computed once per loaded index (on first need):
    splitting and stemming is the judge's dearest step, and a passage recurs across questions."""
    cache = index.__dict__.setdefault("_sentence_terms", {})
    if row not in cache:
        text = index.chunks[row].text
        cache[row] = [frozenset(index.lexical.terms(text[s:e])) for s, e in sentence_spans(text)]
    return cache[row]


def document_terms(index, doc_id: str) -> frozenset[str]:
    cache = index.__dict__.setdefault("_doc_terms", {})
    if doc_id not in cache:
        rows = _doc_rows(index).get(doc_id, [])
        cache[doc_id] = frozenset().union(*(chunk_terms(index, r) for r in rows))
    return cache[doc_id]


def _doc_rows(index) -> dict[str, list[int]]:
    if "_doc_rows" not in index.__dict__:
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(index.chunks):
            rows.setdefault(c.doc_id, []).append(i)
        index._doc_rows = rows
    return index._doc_rows


def _max_idf(lexical) -> float:
    """The IDF of a term no passage holds: scales 'rarest missing word' to 0..1 in any corpus."""
    return lexical.idf("\x00never a term\x00") or 1.0


def list_features(rows: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """What the abstention model reads (LIST_FEATURES): the ranker's verdict on its best candidate
    (its logit, its margin over the runner-up, its share of the list's softmax), the list's best
    cosine, and that candidate's own features. Example: logits [2.0, 0.5] -> logit 2.0, margin 1.5,
    softmax 0.82."""
    order = np.argsort(-logits, kind="stable")
    top = dict(zip(SCALARS, rows[order[0]], strict=False))
    soft = np.exp(logits - logits.max())
    runner_up = logits[order[1]] if len(order) > 1 else logits[order[0]] - 5.0
    derived = {"logit": logits[order[0]], "logit_margin": logits[order[0]] - runner_up,
               "softmax": soft[order[0]] / soft.sum(), "max_cosine": rows[:, SCALARS.index("cosine")].max(),
               "max_sentence_cosine": rows[:, SCALARS.index("sentence_cosine")].max(),
               "type_missing": top["asks_type"] * (1 - top["gives_type"])}
    return np.array([derived[n] if n in derived else top[n] for n in LIST_FEATURES], np.float32)


def abstention_probability(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                           intercept: float) -> np.ndarray:
    """The abstention model: a logistic regression over standardised LIST_FEATURES rows."""
    z = np.asarray(((features - mean) / scale) @ coef + intercept, np.float64)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class JudgeModel:
    """The ranker (ONNX: pair features -> logit) and the abstention model (logistic regression
    over LIST_FEATURES, standardised; its coefficients are in judge_model.json for anyone to read)."""

    threshold: float
    session: Any  # onnxruntime.InferenceSession
    input_name: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    tower: str | None = None  # the sha256 of the query tower whose question vectors it learned on

    def logits(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0, np.float32)
        out = self.session.run(None, {self.input_name: rows.astype(np.float32)})[0]
        return np.asarray(out, np.float32).reshape(-1)

    def answers(self, rows: np.ndarray, logits: np.ndarray) -> float:
        """Calibrated probability that the ranker's best candidate answers the question."""
        return float(abstention_probability(list_features(rows, logits), self.mean, self.scale, self.coef,
                                            self.intercept))


def data_dir() -> Path:
    """Where the shipped judge lives (the package's data directory)."""
    return Path(str(resources.files("mgqa") / "data"))


def load_model(directory: Path | None = None) -> JudgeModel:
    """The shipped judge, its sha256 checked; ``JudgeDataError`` (one line) when unusable."""
    base = Path(directory) if directory else data_dir()
    try:
        meta = json.loads((base / MODEL_JSON).read_text(encoding="utf-8"))
        blob = (base / WEIGHTS_FILE).read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JudgeDataError(f"the answer judge model cannot be read ({exc.__class__.__name__}: {exc}); {FIX}") from None
    if (not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION or meta.get("scalars") != list(SCALARS)
            or meta.get("inputs") != len(SCALARS) + JUDGED_DIM or not isinstance(meta.get("threshold"), float)):
        raise JudgeDataError(f"the answer judge model in {base} is of another format or feature set; {FIX}")
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise JudgeDataError(f"the answer judge weights {base / WEIGHTS_FILE} are damaged (sha256 differs); {FIX}")
    try:
        cal = meta["abstention"]
        assert cal["features"] == list(LIST_FEATURES)
        mean, scale, coef = (np.asarray(cal[k], np.float32) for k in ("mean", "scale", "coef"))
        assert mean.shape == scale.shape == coef.shape == (len(LIST_FEATURES),) and np.all(scale > 0)
        intercept = float(cal["intercept"])
    except (KeyError, TypeError, ValueError, AssertionError):
        raise JudgeDataError(f"the answer judge's abstention model in {base / MODEL_JSON} is incomplete; {FIX}") from None
    try:
        session = cpu_session(blob)  # one thread: a few thousand multiply-adds a candidate
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad graph
        raise JudgeDataError(f"the answer judge weights cannot be loaded ({exc.__class__.__name__}); {FIX}") from None
    return JudgeModel(float(meta["threshold"]), session, session.get_inputs()[0].name, mean, scale, coef, intercept,
                      meta.get("tower"))


@dataclass(frozen=True)
class Judgement:
    """The candidates in the ranker's order, the calibrated probability that the first answers,
    the ranker's logits in that order and what the abstention model read (LIST_FEATURES): the
    known questions weigh them (``known``)."""

    hits: list[Hit]
    best: float
    logits: np.ndarray
    evidence: np.ndarray


def judge(model: JudgeModel, index, qvec: np.ndarray, question: str, hits: list[Hit]) -> Judgement:
    """Reorder ``hits`` by the ranker and say how likely the first one answers ``question``."""
    hits = hits[:CANDIDATES]
    rows = features(index, qvec, question, hits)
    logits = model.logits(rows)
    order = np.argsort(-logits, kind="stable")
    evidence = list_features(rows, logits)
    best = float(abstention_probability(evidence, model.mean, model.scale, model.coef, model.intercept))
    return Judgement([hits[i] for i in order], best, logits[order], evidence)


_LOADED: list[JudgeModel] = []


def for_encoder(encoder) -> JudgeModel | None:
    """The shipped judge for an engine using ``encoder``: None when MGQA_JUDGE is off or the
    encoder is not the model the judge learned its vector features on (e.g. the tests' fake one).
    Loaded once per process."""
    from mgqa import settings

    if not settings.get("judge") or (getattr(encoder, "model_id", None), getattr(encoder, "dim", None)) != (
            JUDGED_MODEL, JUDGED_DIM):
        return None
    if not _LOADED:
        _LOADED.append(load_model())
    return _LOADED[0]

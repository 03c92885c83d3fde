"""Within a passage, the sentence(s) that best answer the question, as offsets into the passage.

Sentences are scored by the question's terms they contain, each weighted by how rare it is in
the corpus (BM25's IDF), so "100 milligrams" outweighs "magnesium", which every passage has.
"""

from __future__ import annotations

from mgqa.chunking import question_end
from mgqa.normalize import asked_types, gives_asked_type
from mgqa.sentences import sentence_spans

KEEP_RATIO = 0.7  # other sentences scoring at least this share of the best are highlighted too
EXPANSION_WEIGHT = 0.5  # terms the corpus's synonyms add for a patient's words count half


def answer_type_bonus(question: str, sentence: str, weights: dict[str, float]) -> float:
    """A sentence of the kind the question asks for ("how much" -> "100 milligrams") gains the
    weight of the question's strongest term, so it beats one that merely repeats the topic."""
    if gives_asked_type(asked_types(question), sentence):
        return max(weights.values(), default=0.0)
    return 0.0


def question_weights(lexical, question: str) -> dict[str, float]:
    """Stemmed question term -> weight. Words the patient typed count fully."""
    own = set(lexical.terms(question))
    weights = {t: lexical.idf(t) for t in own}
    for t in set(lexical.terms(lexical.synonyms.expand(question))) - own:
        weights[t] = EXPANSION_WEIGHT * lexical.idf(t)
    return weights


def highlights(question: str, weights: dict[str, float], passage: str, lexical) -> list[tuple[int, int]]:
    """Offsets of the best-matching sentences. Example: ("dose?", {"dose": 2.0}, "Intro. A 100 mg dose.") -> [(7, 21)].
    The question that opens a FAQ passage shares the most words with the patient's, but is never the answer."""
    answer_from = question_end(passage)
    spans = [(s, e) for s, e in sentence_spans(passage) if s >= answer_from]
    if not weights or not spans:
        return []
    scored = [(sum(weights.get(t, 0.0) for t in set(lexical.terms(passage[s:e])))
               + answer_type_bonus(question, passage[s:e], weights), (s, e)) for s, e in spans]
    best = max(score for score, _ in scored)
    if best <= 0:
        return []
    return [span for score, span in scored if score >= KEEP_RATIO * best]

"""Within a passage, the sentence(s) that best answer the question, as offsets into the passage."""

from __future__ import annotations

import re

from mgqa.normalize import expand, fold
from mgqa.sentences import sentence_spans

_WORD = re.compile(r"\d+(?:\.\d+)?%?|\w+")
_STOP = frozenset("""a an and are as at be by can could did do does for from had has have how i if in
into is it its me my of on or our so than that the their them then there these they this to up us
was we were what when where which who why will with would you your about after also any been being
more most much some such should may might just very not no yes""".split())
KEEP_RATIO = 0.6  # other sentences scoring at least this share of the best are highlighted too


def _terms(text: str) -> set[str]:
    return {_stem(t) for t in _WORD.findall(fold(text)) if t not in _STOP}


def _stem(token: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "es", "s", "ed", "ly"):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def highlights(question: str, passage: str) -> list[tuple[int, int]]:
    """Offsets of the best-matching sentences. Example: ("dose?", "Intro. Take 100 mg dose.") -> [(7, 24)]."""
    q = _terms(expand(question))
    spans = sentence_spans(passage)
    if not q or not spans:
        return []
    scored = [(len(q & _terms(passage[s:e])) / (1 + 0.002 * (e - s)), (s, e)) for s, e in spans]
    best = max(score for score, _ in scored)
    if best <= 0:
        return []
    return [span for score, span in scored if score >= KEEP_RATIO * best]

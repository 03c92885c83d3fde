"""A question read with the conversation before it: follow-ups lean on the previous question.

Shared by answering (``answer.Engine``) and by the index's known questions (``known``), which
must place a remembered follow-up where a new one like it would land.
"""

from __future__ import annotations

import re

import numpy as np

FOLLOW_UP_WEIGHT = 0.7  # share of the previous question in a follow-up's vector

_FOLLOW_UP = re.compile(r"^(and|what about|how about|what if|also|or|but|same|then|so|is it|does it|"
                        r"can it|will it|would it|do they|are they|and for|for|what else)\b"
                        r"|\b(it|that|this|those|these|they|them|there|too|also|instead|else)\b")


def is_follow_up(question: str, history: list[str]) -> bool:
    """A question that points back ("what about for migraines?", "does it help sleep too?")."""
    return bool(history) and bool(_FOLLOW_UP.search(question.lower()))


def contextual_query(question: str, history: list[str]) -> str:
    """A follow-up is read together with the previous question; anything else stands alone."""
    return f"{history[-1]} {question}" if is_follow_up(question, history) else question


def query_vector(now: np.ndarray, question: str, history: list[str], encoder) -> np.ndarray:
    """A follow-up's vector leans towards the previous question; the new one (``now``, its
    vector) still leads."""
    if not is_follow_up(question, history):
        return now
    return lean(now, encoder.encode([history[-1]])[0])


def lean(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """A follow-up's vector from its own (``now``) and the previous question's (``before``)."""
    v = now + FOLLOW_UP_WEIGHT * before
    return (v / np.linalg.norm(v)).astype(np.float32)

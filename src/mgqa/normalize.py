"""Text normalisation shared by lexical retrieval, highlighting and triage.

Patients type plain quotes and dashes; the documents use typographic punctuation. Both sides
are folded the same way. (Which everyday words stand for which of the documents' terms is each
corpus's own vocabulary: see synonyms.py.)
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = str.maketrans({"’": "'", "‘": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"',
                        "—": " - ", "–": "-", "‑": "-", "‐": "-", "−": "-", "…": "..."})


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_controls(text: str) -> str:
    """Drop control, zero-width and bidi-override characters: invisible to readers, unsafe in HTML."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def fold(text: str) -> str:
    """Compatibility-normalise, lower-case and plain-punctuate. "Magnesium’s—IV" -> "magnesium's - iv"."""
    return unicodedata.normalize("NFKC", text).translate(_PUNCT).lower()


# What kind of answer a question asks for, and what a passage or sentence that gives it contains.
ANSWER_TYPES: list[tuple[re.Pattern, re.Pattern]] = [
    (re.compile(r"\b(dose|dosage|how much|how many (mg|milligrams|grams)|amount|milligrams|mg)\b"),
     re.compile(r"\b\d+(\.\d+)? ?(milligrams?|mg|grams?|g)\b")),
    (re.compile(r"\b(how long|how soon|how quickly|how fast|when will|faster|quicker|how many (days|weeks|minutes))\b"),
     re.compile(r"\b(\d+|one|two|three|four|a)[- ]?(to [\w-]+ )?(minutes?|hours?|days?|weeks?|months?|years?)\b"
                r"|\bquickly\b")),
    (re.compile(r"\b(percent|percentage|how many (people|patients)|how effective|success rate|how well|how likely)\b"),
     re.compile(r"\d+ ?(%|percent)|\d+-\d+%")),
]


def asked_types(question: str) -> list[re.Pattern]:
    """Patterns of the answer kinds ``question`` asks for. "how much?" -> [amount pattern]."""
    q = fold(question)
    return [gives for ask, gives in ANSWER_TYPES if ask.search(q)]


def gives_asked_type(asked: list[re.Pattern], text: str) -> bool:
    folded = fold(text)
    return any(p.search(folded) for p in asked)

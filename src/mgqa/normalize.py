"""Text normalisation shared by lexical retrieval, highlighting and triage.

Patients type plain quotes and dashes and everyday words; the documents use typographic
punctuation and clinical terms. Both sides are folded the same way, and a question gains the
documents' terms for the patient's words ("IV drip" -> "intravenous infusion").
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


# patient word (regex on folded text) -> the documents' terms it stands for
PATIENT_TERMS: list[tuple[str, str]] = [
    (r"\b(iv|i\.v\.|drips?|infusions?|intravenously|injections?|shots?)\b", "intravenous infusion"),
    (r"\bperiods?\b|\bmenstruation\b|\btime of the month\b", "menstrual"),
    (r"\bblood (tests?|work|levels?)\b|\blab tests?\b", "serum blood test levels"),
    (r"\b(pills?|tablets?|capsules?|powders?|by mouth)\b", "oral supplements"),
    (r"\b(tummy|stomach|bowels?|loose stools?|the runs|gut)\b", "digestive diarrhea"),
    (r"\b(dose|dosage|how much|how many (mg|milligrams))\b", "milligrams dose"),
    (r"\bmg\b", "milligrams"),
    (r"\bmag\b", "magnesium"),
    (r"\b(heart rhythm|palpitations?|irregular heart ?beat)\b", "arrhythmias"),
    (r"\b(epsom|bath salts?|baths?|bathing|soak|soaking)\b", "epsom salts topical magnesium chloride"),
    (r"\b(foods?|eat|eating|diet|meals?|snacks?)\b", "foods dietary magnesium-rich"),
    (r"\b(meds|medications?|medicines?|drugs?|prescriptions?)\b", "medications"),
    (r"\b(bp|blood pressure|hypertension)\b", "blood pressure medications"),
    (r"\b(water pills?)\b", "diuretics"),
    (r"\b(sleep|insomnia|sleeping)\b", "sleep quality"),
    (r"\b(anxious|anxiety|nervous|worry)\b", "anxiety calming"),
    (r"\b(tired|tiredness|exhausted|exhaustion|energy)\b", "fatigue energy"),
    (r"\b(light sensitivity|sensitive to light)\b", "photophobia"),
    (r"\b(sound sensitivity|sensitive to (sound|noise))\b", "phonophobia"),
    (r"\b(throwing up|vomit|vomiting|sick to my stomach|nauseous|nausea)\b", "nausea vomiting"),
    (r"\b(sore|aching|achy) muscles?\b|\bmuscle (pain|aches?|soreness)\b", "sore muscles muscle tension"),
    (r"\b(how long|how soon|when will|how quickly)\b", "weeks minutes quickly"),
    (r"\b(safe|risks?|dangers?|dangerous)\b", "risk overdose supervision"),
    (r"\bfibro\b", "fibromyalgia"),
    (r"\bdiarrhoea\b", "diarrhea"),
    (r"\b(doctors?|gp|physicians?|nurses?|medical staff)\b", "medical supervision health care provider"),
    (r"\b(at home|home)\b", "routine use supervision"),
    (r"\b(migraines?)\b", "migraine headaches"),
    (r"\b(inflamed|inflammatory|anti-?inflammatory)\b", "inflammation"),
    (r"\bstudy\b|\bresearch\b|\btrial\b", "study clinical trial research"),
    (r"\bhow does\b.*\bwork\b|\bwhy does\b.*\bhelp\b", "mechanisms works"),
]
_COMPILED = [(re.compile(p), terms) for p, terms in PATIENT_TERMS]


def expand(question: str) -> str:
    """The folded question plus the documents' terms for its everyday words."""
    q = fold(question)
    extra = [terms for pattern, terms in _COMPILED if pattern.search(q)]
    return " ".join([q, *extra])


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

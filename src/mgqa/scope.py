"""Abstention: answer only when a passage answers the question.

With the answer judge (the default), the best candidate's calibrated probability of answering
must clear the judge's threshold (``judge.py``; the sweep that chose it is in docs/QUALITY.md).
Without it (``MGQA_JUDGE=off``, or an encoder the judge was not trained for), the best passage's
cosine must clear ``MIN_COSINE``.

Either way, one kind of rule stays explicit: a question about a population (a child, a pregnancy)
is only answered from a passage that speaks of that population. Those rules are data,
``data/populations.tsv``, which a clinic can read and edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from mgqa.errors import MgqaError
from mgqa.normalize import fold

MIN_COSINE = 0.30  # without the judge: below this the best passage is about something else
POPULATIONS_FILE = "populations.tsv"


class ScopeDataError(MgqaError):
    """The population rules file is unreadable or has a bad line."""


@dataclass(frozen=True)
class Population:
    name: str
    asked: re.Pattern  # the question is about this population
    named: re.Pattern  # the passage speaks of it
    line: int


def parse_populations(text: str, origin: str = POPULATIONS_FILE) -> list[Population]:
    """``name<TAB>question regex<TAB>passage regex`` lines; blank lines and ``#`` comments skipped."""
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise ScopeDataError(f"{origin} line {n}: needs three TAB-separated fields: population, "
                                 "question regex, passage regex")
        try:
            rules.append(Population(fields[0].strip(), re.compile(fields[1]), re.compile(fields[2]), n))
        except re.error as exc:
            raise ScopeDataError(f"{origin} line {n}: not a valid regular expression ({exc})") from None
    return rules


@lru_cache(maxsize=1)
def populations() -> list[Population]:
    path = resources.files("mgqa") / "data" / POPULATIONS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScopeDataError(f"{POPULATIONS_FILE} cannot be read ({exc}); reinstall mgqa") from None
    return parse_populations(text)


def asked_populations(question: str) -> list[Population]:
    """The populations ``question`` is about. "dose for my 6 year old?" -> [children]."""
    q = fold(question)
    return [p for p in populations() if p.asked.search(q)]


def for_population(question: str, hits: list, chunks) -> tuple[list, str | None]:
    """The hits that may be quoted to ``question``: those naming every population it asks about.
    Returns them and, when none is left, the population that ruled them out."""
    asked = asked_populations(question)
    if not asked:
        return hits, None
    kept = [h for h in hits if all(p.named.search(fold(chunks[h.chunk_id].text)) for p in asked)]
    return kept, (None if kept else asked[0].name)


@dataclass(frozen=True)
class Decision:
    """Why a question is answered or not; `mgqa eval --sweep` replays it at other thresholds."""

    top_cosine: float | None
    probability: float | None = None  # the judge's, for the best candidate; None without the judge
    threshold: float = MIN_COSINE  # the judge's threshold, or MIN_COSINE without it
    population: str | None = None  # a population asked about that no candidate speaks of

    @property
    def score(self) -> float | None:
        """What the threshold applies to: the judge's probability, else the cosine."""
        return self.probability if self.probability is not None else self.top_cosine

    def answer(self, threshold: float | None = None) -> bool:
        if self.population or self.score is None:
            return False
        return self.score >= (self.threshold if threshold is None else threshold)

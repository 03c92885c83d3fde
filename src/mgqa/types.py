"""The records that flow through mgqa: documents -> chunks -> hits -> answer.

Dicts and JSON appear only at the edges (``Answer.to_dict``), never inside the pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["answered", "no_answer", "emergency"]


@dataclass(frozen=True)
class Document:
    """One vetted source text; chunk offsets point into ``text``."""

    id: str
    title: str
    text: str
    source: str | None = None  # URL where known, else publisher / author / file name
    date: str | None = None
    origin: str | None = None  # the file (and line) it was read from, for messages


@dataclass(frozen=True)
class PageMeta:
    """What a page says about itself (YAML front matter, ``<title>``, ``<link rel="canonical">``):
    read into its ``Document``, never quoted."""

    title: str | None = None
    url: str | None = None
    date: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A passage: ``text == document.text[start:end]`` exactly."""

    doc_id: str
    start: int
    end: int
    text: str
    section: str | None


@dataclass(frozen=True)
class Hit:
    """A chunk retrieved for a question, with its fused score (higher is better)."""

    chunk_id: int
    score: float
    dense: float = 0.0  # cosine similarity with the question
    lexical: float = 0.0  # normalised BM25 score


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    section: str | None
    source: str | None
    start: int
    end: int
    link: str | None = None  # the source URL opened at the passage (``links.passage_link``)


@dataclass(frozen=True)
class Passage:
    rank: int
    text: str
    score: float
    highlights: list[tuple[int, int]]
    citation: Citation

    def segments(self) -> list[tuple[str, bool]]:
        """The text cut at its highlights, for renderers. Example: text "Ab. Cd.", highlights
        [(4, 7)] -> [("Ab. ", False), ("Cd.", True)]. Overlapping highlights are skipped."""
        out, pos = [], 0
        for s, e in sorted(self.highlights):
            if s < pos:
                continue
            out += [(self.text[pos:s], False), (self.text[s:e], True)]
            pos = e
        out.append((self.text[pos:], False))
        return [(t, h) for t, h in out if t]


@dataclass(frozen=True)
class Triage:
    """Why a message got the emergency notice: the red-flag category, what raised it (a "rule" of
    the floor or the "model"), and the model's probability (1.0 for a rule)."""

    category: str
    by: Literal["rule", "model"]
    score: float


@dataclass(frozen=True)
class Answer:
    question: str
    status: Status
    passages: list[Passage]
    disclaimer: str
    notice: str | None = None
    extra: dict = field(default_factory=dict, compare=False)
    triage: Triage | None = None  # set on emergency answers only

    def to_dict(self) -> dict:
        """The public answer contract (docs/CONTRACT.md); ``extra`` is not part of it."""
        d = asdict(self)
        d.pop("extra")
        for p in d["passages"]:
            p["highlights"] = [list(h) for h in p["highlights"]]
        return d

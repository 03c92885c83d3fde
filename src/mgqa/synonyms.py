"""A clinic's vocabulary: Solr/Elasticsearch-style synonym lines, used to expand questions.

Patients say "IV drip" where the documents say "intravenous infusion". Which words are which is
the clinic's knowledge, so it lives in a ``synonyms.txt`` beside the documents and travels with
the index built from them; this module only knows the format::

    # a comment; blank lines are ignored
    shut-eye, sleep, slumber        # equivalent: a question using any of them gains the others
    iv, drip, drips => intravenous infusion   # mapping: a question using iv or drip(s) gains "intravenous infusion"

Terms may be phrases ("time of the month"). Matching is on folded text (``normalize.fold``),
case-insensitive, whole words or phrases only. Unlike Solr at query time, nothing is replaced:
the words the patient typed stay and the other terms are added (query expansion), so a word the
documents do use still counts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from mgqa import datafile
from mgqa.errors import SynonymsError
from mgqa.normalize import fold

FILE_NAME = "synonyms.txt"  # found beside the documents; copied into the index under this name
MAX_LINE_CHARS = 2000  # a vocabulary line is a few dozen words; longer is a pasted document
MAX_FILE_BYTES = 1024 * 1024
_ARROW = "=>"


@dataclass(frozen=True)
class Synonym:
    """One line. Equivalent terms: ``adds`` is empty and each matched term gains the rest of
    ``matches``. Mapping: a question using any of ``matches`` gains ``adds``."""

    matches: tuple[str, ...]  # folded, single-spaced
    adds: tuple[str, ...]
    line: int
    _patterns: tuple[re.Pattern, ...] = field(default=(), compare=False, repr=False)

    def expansion(self, question: str) -> list[str]:
        """The terms ``question`` (folded) gains. "drip?" with iv, drip => intravenous -> ["intravenous"]."""
        found = [p.search(question) is not None for p in self._patterns]
        if not any(found):
            return []
        if self.adds:
            return list(self.adds)
        return [t for t, hit in zip(self.matches, found, strict=True) if not hit]


@dataclass(frozen=True)
class Synonyms:
    """A parsed synonyms file: its entries, where it came from and the sha256 of its bytes."""

    entries: tuple[Synonym, ...] = ()
    origin: str | None = None  # None: the index has no synonyms at all
    sha256: str = ""
    text: str = ""  # verbatim, so that an index can carry its own copy

    def expand(self, question: str) -> str:
        """The folded question plus the terms its words gain.

        Example: with "mag => magnesium", "Mag for sleep?" -> "mag for sleep? magnesium".
        """
        q = fold(question)
        return " ".join([q, *(t for e in self.entries for t in e.expansion(q))])

    def record(self) -> dict | None:
        """What the index manifest says about them (None when there are none)."""
        if self.origin is None:
            return None
        return {"origin": self.origin, "sha256": self.sha256, "entries": len(self.entries)}


NONE = Synonyms()


def _term_pattern(term: str) -> re.Pattern:
    """Whole words only, any run of spaces between them: "blood test" finds "blood  test", not "bloodtests"."""
    body = r"\s+".join(map(re.escape, term.split()))
    return re.compile(rf"(?<!\w){body}(?!\w)")


def _terms(side: str, where: str) -> tuple[str, ...]:
    terms = tuple(" ".join(fold(t).split()) for t in side.split(","))
    if any(not t for t in terms):
        raise SynonymsError(f"{where}: an empty term (two commas in a row, or a comma at an end)")
    if any(not re.search(r"\w", t) for t in terms):
        raise SynonymsError(f"{where}: a term with no letters or digits")
    return terms


def parse_line(line: str, n: int, origin: str) -> Synonym | None:
    """One line as a ``Synonym``, or None for a blank or comment line."""
    where = f"{origin} line {n}"
    if len(line) > MAX_LINE_CHARS:
        raise SynonymsError(f"{where}: over {MAX_LINE_CHARS} characters; split it into several lines")
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    sides = text.split(_ARROW)
    if len(sides) > 2:
        raise SynonymsError(f"{where}: more than one '=>'; write 'terms => terms'")
    if len(sides) == 2 and not (sides[0].strip() and sides[1].strip()):
        raise SynonymsError(f"{where}: '=>' needs terms on both sides ('drip, iv => intravenous infusion')")
    matches = _terms(sides[0], where)
    adds = _terms(sides[1], where) if len(sides) == 2 else ()
    if not adds and len(matches) < 2:
        raise SynonymsError(f"{where}: only one term; list equivalents with commas or map with '=>'")
    return Synonym(matches, adds, n, tuple(map(_term_pattern, matches)))


def parse(text: str, origin: str, sha256: str | None = None) -> Synonyms:
    """Every line of a synonyms file; the first bad line raises ``SynonymsError`` naming its number."""
    entries = tuple(e for n, line in enumerate(text.splitlines(), 1) if (e := parse_line(line, n, origin)))
    digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Synonyms(entries, origin, digest, text)


def decode(raw: bytes, origin: str) -> str:
    """UTF-8 text of ``raw``; undecodable bytes raise ``SynonymsError`` naming their line."""
    return datafile.decode(raw, origin, SynonymsError)


def read(path: Path, origin: str | None = None) -> Synonyms:
    """Parse the synonyms file at ``path``; ``origin`` names it in the manifest [default: the path]."""
    origin = origin or str(path)
    raw = datafile.read_bytes(path, MAX_FILE_BYTES, SynonymsError, "synonyms file")
    return parse(decode(raw, origin), origin, hashlib.sha256(raw).hexdigest())


def beside(paths: list[Path]) -> Path | None:
    """The ``synonyms.txt`` in the documents' folder, if there is one."""
    return datafile.beside(paths, FILE_NAME)

"""Documents -> passages a patient can read whole.

Lines are classified as a reader would (metadata, heading, bullet, call to action, web chrome,
prose); headings become the ``section`` of the passages under them. Web chrome (image captions,
cookie banners, navigation) never becomes a passage. A byline and the page's calls to action
("Book an appointment today", a form's thank-you) are the clinic's words that patients ask about
("who wrote this?", "how do I book?"), so each becomes a passage of its own, never merged into
the prose around it. Each passage is sentence-bounded, fits the model's window, and keeps exact offsets:
``chunk.text == document.text[chunk.start:chunk.end]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Literal

from mgqa.types import Chunk, Document

Kind = Literal["meta", "heading", "bullet", "item", "action", "chrome", "prose", "rule"]


@dataclass(frozen=True)
class ChunkParams:
    max_chars: int = 800  # ~160-200 word pieces: well inside MiniLM's 256-token window
    min_chars: int = 500  # shorter neighbours in one section are read together (best Hit@1 on the gold set)
    version: int = 3  # bump when the rules below change, so saved indexes go stale

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Line:
    start: int  # offsets of the stripped content, into document.text
    end: int
    text: str
    kind: Kind
    blank_before: bool


@dataclass
class Unit:
    start: int
    end: int
    section: str | None
    kind: str  # a line Kind, or "list" / "intro" once grouped
    colon: bool = False  # ends with ":": introduces a list


_META = re.compile(r"^(date\s+\d{4}-\d{2}-\d{2}\b|(authored\s+)?by\s+[A-Z]|published\b|posted\b|updated\b)", re.I)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_BULLET = re.compile(r"^([•·▪◦‣*\-–]|\d{1,2}[.)])\s+\S")
_RULE = re.compile(r"^(=+|-+|\*\*\*+|___+)$")
_ACTION = re.compile(
    r"thanks? (you )?for (your )?(enquiry|inquiry|submission|contacting)"
    r"|something went wrong"
    r"|\bbook (an|your) (appointment|consultation)|\bbook (now|today|online)\b"
    r"|join (the|our) waitlist|express your interest|want to learn more|^download\b"
    r"|\b(call|contact) us (today|now)\b",
    re.I,
)
_CHROME = re.compile(
    r"^(graphic|image|photo|picture|illustration) of\b|^(image|photo) (credit|caption)"
    r"|\.(jpe?g|png|gif|webp|svg)$|subscribe\b|sign up\b|newsletter|thanks? (you )?for (subscribing|signing)"
    r"|cookies?\b.*\b(policy|settings|accept|use)|we use cookies|all rights reserved|^©|^copyright\b"
    r"|click here|^read more$|^learn more$|^share (this|on)\b"
    r"|privacy policy|terms of (use|service)|^(home|menu|search|skip to (main )?content)$",
    re.I,
)
_END_PUNCT = tuple(".!?:;,\"”’)")
HEADING_MAX_WORDS = 10
NOTICES = ("meta", "action")  # a byline, a run of calls to action: each a passage of its own
NOTICE_MAX_CHARS = 200  # a long line is real prose even if it mentions booking


def chunk_document(doc: Document, params: ChunkParams = ChunkParams()) -> list[Chunk]:
    """Cut ``doc`` into passages. Example: "Dose\\n\\nTake 100 mg." -> [Chunk(text="Take 100 mg.", section="Dose")]."""
    units = _group(_units(_classify(doc.text)))
    chunks = []
    for unit in _merge_short(_split_long(units, doc.text, params), params):
        text = doc.text[unit.start:unit.end]
        chunks.append(Chunk(doc.id, unit.start, unit.end, text, unit.section))
    return chunks


def chunk_documents(docs: list[Document], params: ChunkParams = ChunkParams()) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, params)]


def _lines(text: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, blank_before) of each non-blank line's stripped content."""
    pos, blank = 0, True
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            start = pos + (len(raw) - len(raw.lstrip()))
            yield start, start + len(stripped), blank
            blank = False
        else:
            blank = True
        pos += len(raw) + 1


def _classify(text: str) -> list[Line]:
    lines: list[Line] = []
    for start, end, blank in _lines(text):
        content = text[start:end]
        lines.append(Line(start, end, content, _kind(content, lines), blank))
    _mark_headings(lines)
    return lines


def _kind(content: str, before: list[Line]) -> Kind:
    if _is_meta(content, before):
        return "meta"
    if _MD_HEADING.match(content):
        return "heading"
    if _RULE.match(content):
        return "rule"
    if len(content) <= NOTICE_MAX_CHARS and _CHROME.search(content):
        return "chrome"
    if len(content) <= NOTICE_MAX_CHARS and _ACTION.search(content):
        return "action"
    if _BULLET.match(content):
        return "bullet"
    if _is_short_phrase(content) and before and _in_list(before):
        return "item"
    return "prose"


def _is_meta(content: str, before: list[Line]) -> bool:
    """A byline or date line near the top ("date 2025-05-09 Authored by …"), before any prose."""
    return (len(before) < 3 and len(content) <= 160 and bool(_META.match(content))
            and all(line.kind in ("heading", "meta") or _MD_HEADING.match(line.text) or _is_short_phrase(line.text)
                    for line in before))


def _is_short_phrase(content: str) -> bool:
    return (len(content.split()) <= HEADING_MAX_WORDS and len(content) <= 80
            and not content.endswith(_END_PUNCT))


def _in_list(before: list[Line]) -> bool:
    """After "…including:" short unpunctuated lines are list items ("Pumpkin seeds"), not headings."""
    last = before[-1]
    return (last.kind == "prose" and last.text.endswith(":")) or last.kind == "item"


def _mark_headings(lines: list[Line]) -> None:
    """A short unpunctuated prose line standing alone before more text is a heading."""
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if line.kind == "prose" and _is_short_phrase(line.text) and nxt is not None:
            if nxt.blank_before or nxt.kind in ("prose", "bullet"):
                line.kind = "heading"
        if nxt is not None and nxt.kind == "rule" and line.kind == "prose":
            line.kind = "heading"  # setext markdown: "Title\n====="


def _heading_text(line: Line) -> str:
    m = _MD_HEADING.match(line.text)
    text = m.group(1) if m else line.text
    return text.strip("*_ ").strip() or line.text


def _units(lines: list[Line]) -> list[Unit]:
    """Join wrapped prose lines into paragraphs and a page's run of calls to action into one notice;
    attach the current heading as section (none for a byline or a notice: they belong to no section)."""
    units: list[Unit] = []
    section: str | None = None
    run_open = False  # the last unit is a run of calls to action that the next one may extend
    for line in lines:
        if line.kind == "heading":
            section = _heading_text(line)
        if line.kind in ("heading", "chrome", "rule"):
            run_open = False  # a passage is one slice of the text: chrome inside a run would be quoted
            continue
        prev = units[-1] if units else None
        if line.kind in NOTICES:
            if run_open and prev is not None and line.kind == "action":
                prev.end = line.end
            else:
                units.append(Unit(line.start, line.end, None, line.kind))
            run_open = line.kind == "action"
            continue
        run_open = False
        if (prev is not None and line.kind == "prose" and prev.kind == "prose"
                and not line.blank_before and prev.section == section):
            prev.end, prev.colon = line.end, line.text.endswith(":")  # a wrapped paragraph goes on
            continue
        units.append(Unit(line.start, line.end, section, line.kind, line.text.endswith(":")))
    return [u for u in units if u.kind != "prose" or u.end > u.start]


def _group(units: list[Unit]) -> list[Unit]:
    """A list's intro ("…including:") and its bullets or items read as one passage."""
    out: list[Unit] = []
    for unit in units:
        prev = out[-1] if out else None
        listy = unit.kind in ("bullet", "item")
        if prev is not None and listy and prev.section == unit.section and prev.kind in ("list", "bullet", "item"):
            prev.end, prev.kind = unit.end, "list"
        elif listy:
            out.append(Unit(unit.start, unit.end, unit.section, "list"))
        else:
            out.append(unit)
        if len(out) >= 2 and out[-1].kind == "list" and out[-2].kind == "intro" and out[-2].section == out[-1].section:
            out[-2].end, out[-2].kind = out[-1].end, "list"
            out.pop()
        if out[-1].kind == "prose" and out[-1].colon:
            out[-1].kind = "intro"
    return out


def _split_long(units: list[Unit], text: str, params: ChunkParams) -> list[Unit]:
    out = []
    for unit in units:
        if unit.end - unit.start <= params.max_chars:
            out.append(unit)
            continue
        out += _pack(_pieces(text, unit.start, unit.end, params.max_chars), unit, params.max_chars)
    return out


def _pieces(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Sentence spans within [start, end), line- and sentence-bounded; over-long ones cut at spaces."""
    from mgqa.sentences import sentence_spans

    pieces = []
    for s, e in sentence_spans(text, start, end):
        while e - s > limit:
            cut = text.rfind(" ", s, s + limit)
            cut = cut if cut > s else s + limit
            pieces.append((s, cut))
            s = cut + 1 if text[cut:cut + 1] == " " else cut
        if e > s:
            pieces.append((s, e))
    return pieces


def _pack(pieces: list[tuple[int, int]], whole: Unit, limit: int) -> list[Unit]:
    units: list[Unit] = []
    for s, e in pieces:
        if units and e - units[-1].start <= limit:
            units[-1].end = e
        else:
            units.append(Unit(s, e, whole.section, "action" if whole.kind == "action" else "prose"))
    return units


def _merge_short(units: list[Unit], params: ChunkParams) -> list[Unit]:
    out: list[Unit] = []
    for unit in units:
        prev = out[-1] if out else None
        if (prev is not None and prev.section == unit.section and prev.end - prev.start < params.min_chars
                and unit.end - prev.start <= params.max_chars and prev.kind not in NOTICES and unit.kind not in NOTICES):
            prev.end = unit.end
        else:
            out.append(Unit(unit.start, unit.end, unit.section, unit.kind))
    return out

"""Documents -> passages a patient can read whole.

Lines are classified as a reader would (metadata, heading, question, bullet, call to action, web
chrome, prose); headings become the ``section`` of the passages under them. A FAQ item (a question
set as a heading, a bold line or a line asking "…?", and its whole answer) is one passage that
opens with the question and has it as section, so the question is embedded with its answer and an
answer never opens the next item's passage; a long answer splits at sentences and keeps its
question as section. A separator line ("---", "* * *") closes an item: nothing merges across it.
Web chrome (image captions, cookie banners, navigation) never becomes a passage. A byline and the
page's calls to action ("Book an appointment today", a form's thank-you) are the clinic's words
that patients ask about ("who wrote this?", "how do I book?"), so each becomes a passage of its
own, never merged into the prose around it. Each passage is sentence-bounded, fits the model's
window, and keeps exact offsets: ``chunk.text == document.text[chunk.start:chunk.end]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Literal

from mgqa.types import Chunk, Document

Kind = Literal["meta", "heading", "question", "bullet", "item", "action", "chrome", "prose", "rule", "underline"]


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
    guessed: bool = False  # a heading only by its shape (no "#", no underline): it may be a short answer


@dataclass
class Unit:
    start: int
    end: int
    section: str | None
    kind: str  # a line Kind, or "list" / "intro" once grouped
    colon: bool = False  # ends with ":": introduces a list
    item: int | None = None  # the FAQ item or separated block it belongs to: packed alone
    scope: int = 0  # the heading, question or separator it sits under: text never merges across one


_META = re.compile(r"^(date\s+\d{4}-\d{2}-\d{2}\b|(authored\s+)?by\s+[A-Z]|published\b|posted\b|updated\b)", re.I)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_BULLET = re.compile(r"^([•·▪◦‣*\-–]|\d{1,2}[.)])\s+\S")
_RULE = re.compile(r"^(=+|-+|\*\*\*+|___+|([-*_•—–])( ?\2){2,})$")
_UNDERLINE = re.compile(r"^(=+|-+)$")  # setext markdown: "Title\n====="
_SEPARATOR = re.compile(r"^([-*_=•—–])( ?\1){2,}$")  # "---", "* * *" between items (a lone "-" is an empty bullet)
_EMPHASIS = re.compile(r"^(\*\*|__|\*|_)(?=\S)(.*?\S)\1$")
_Q_PREFIX = re.compile(r"^(?:(q(?:uestion)?)\s*\d*\s*[:.)]|\d{1,2}[.)])\s+", re.I)  # "Q: …", "Question 3. …", "2) …"
_ASKING = re.compile(r"^(what|how|when|where|why|who|whom|whose|which|can|could|do|does|did|is|are|was|were|"
                     r"will|would|should|shall|may|might|must|have|has|had|am|any|if)\b", re.I)
_INNER_STOP = re.compile(r"[.!]\s+\S")  # "Yes. Is that right?" is an answer, not a question
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
    r"|privacy policy|terms of (use|service)|^(home|menu|search|skip to (main )?content)$"
    r"|^[^|·•.!?]{1,30}( [|·•] [^|·•.!?]{1,30}){2,}$",  # a menu flattened into a line: "Home | Services | Contact"
    re.I,
)
_END_PUNCT = tuple(".!?:;,\"”’)")
_SENTENCE_END = tuple(".!?)\"”’")
HEADING_MAX_WORDS = 10
QUESTION_MAX_WORDS = 30
NOTICES = ("meta", "action")  # a byline, a run of calls to action: each a passage of its own
NOTICE_MAX_CHARS = 200  # a long line is real prose even if it mentions booking


def chunk_document(doc: Document, params: ChunkParams = ChunkParams()) -> list[Chunk]:
    """Cut ``doc`` into passages. Example: "Dose\\n\\nTake 100 mg." -> [Chunk(text="Take 100 mg.", section="Dose")];
    "Can I drive?\\nNo." -> [Chunk(text="Can I drive?\\nNo.", section="Can I drive?")]."""
    units = _group(_Reader().units(_classify(doc.text)))
    chunks = []
    for unit in _passages(units, doc.text, params):
        text = doc.text[unit.start:unit.end]
        chunks.append(Chunk(doc.id, unit.start, unit.end, text, unit.section))
    return chunks


def chunk_documents(docs: list[Document], params: ChunkParams = ChunkParams()) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, params)]


def question_end(passage: str) -> int:
    """Where the question that opens a FAQ passage ends, or 0: the question is never its own answer.
    A heading's "##" is not quoted, so a short line asking "…?" set apart by a blank line counts
    too ("Ready to book?\\n\\nCall us."). Example: "Can I drive?\\nNo, not for 24 hours." -> 12."""
    first, newline, rest = passage.partition("\n")
    heading = rest.startswith("\n") and len(first.split()) <= HEADING_MAX_WORDS and _question("# " + first)
    return len(first) if newline and rest.strip() and (_question(first) or heading) else 0


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
    _mark_questions(lines)
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


def _plain(content: str) -> str:
    """The line without emphasis around it: "**Before your visit:**" -> "Before your visit:"."""
    m = _EMPHASIS.match(content)
    return m.group(2) if m else content


def _is_short_phrase(content: str) -> bool:
    plain = _plain(content)
    return len(plain.split()) <= HEADING_MAX_WORDS and len(plain) <= 80 and not plain.endswith(_END_PUNCT)


def _colon(content: str) -> bool:
    """Ends with ":", so it introduces what follows ("Before your visit:")."""
    return _plain(content).endswith(":")


def _in_list(before: list[Line]) -> bool:
    """After "…including:" short unpunctuated lines are list items ("Pumpkin seeds"), not headings."""
    last = before[-1]
    return (last.kind == "prose" and _colon(last.text)) or last.kind == "item"


def _mark_headings(lines: list[Line]) -> None:
    """A short unpunctuated prose line standing alone before more text is a heading."""
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if line.kind == "prose" and _is_short_phrase(line.text) and nxt is not None:
            if nxt.blank_before or nxt.kind in ("prose", "bullet"):
                line.kind, line.guessed = "heading", True
        if nxt is not None and nxt.kind == "rule" and line.kind == "prose" and _is_underline(line, nxt):
            line.kind, nxt.kind = "heading", "underline"


def _is_underline(line: Line, rule: Line) -> bool:
    """A setext heading ("Title\\n=====") is underlined directly; a separator after an answer
    ("… at 9am.\\n\\n---") is not, and an underlined sentence is no heading either."""
    return not rule.blank_before and bool(_UNDERLINE.match(rule.text)) and not line.text.endswith((".", "!"))


def _question(content: str) -> str | None:
    """The question a line asks, without its markup, if it is one: set off as a heading, in bold or
    after "Q:", or a single sentence that starts as a question does. Example: "**Can I drive?**" ->
    "Can I drive?"; "Magnesium helps, but how?" -> None (a sentence ending in a question)."""
    m = _MD_HEADING.match(content)
    text = m.group(1) if m else content
    plain = _plain(text)
    prefix = _Q_PREFIX.match(plain)
    marked = bool(m) or plain != text or bool(prefix and prefix.group(1))
    if prefix:
        plain = _plain(plain[prefix.end():].strip())
    if not plain.endswith("?") or len(plain.split()) > QUESTION_MAX_WORDS or _INNER_STOP.search(plain):
        return None
    return plain if marked or _ASKING.match(plain) else None


def _mark_questions(lines: list[Line]) -> None:
    """A question followed by its answer opens a FAQ item; a run of questions (things to ask the
    doctor) or a question inside a list or a wrapped paragraph does not."""
    for i, line in enumerate(lines):
        if line.kind not in ("heading", "prose", "bullet") or _question(line.text) is None:
            continue
        prev = lines[i - 1] if i else None
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if nxt is None or not _is_answer(nxt, lines[i + 2] if i + 2 < len(lines) else None):
            continue
        if line.kind != "heading" and prev is not None and not _may_open_item(prev, line):
            continue
        line.kind = "question"
        if nxt.kind == "heading":
            nxt.kind, nxt.guessed = "prose", False  # a short answer ("Monday to Friday") looked like a heading


def _is_answer(line: Line, after: Line | None) -> bool:
    """Whether ``line`` can begin the answer to the question before it."""
    if _question(line.text) is not None:
        return False
    if line.kind == "action":  # "Book online through the portal." answers "How do I book?"
        return line.text.endswith(_SENTENCE_END)
    if line.kind == "heading":  # a short answer ("No") right under it or before the next question, not a heading
        return line.guessed and (not line.blank_before or after is None or after.kind not in ("prose", "bullet", "item")
                                 or _question(after.text) is not None)
    return line.kind in ("prose", "bullet", "item")


def _may_open_item(prev: Line, line: Line) -> bool:
    if _question(prev.text) is not None:
        return False
    if line.kind == "bullet":
        return prev.kind not in ("bullet", "item") and not _colon(prev.text)
    if prev.kind == "prose" and not line.blank_before and not prev.text.endswith(_SENTENCE_END):
        return False  # the wrapped end of a paragraph
    return not (prev.kind == "prose" and _colon(prev.text))


def _heading_text(line: Line) -> str:
    m = _MD_HEADING.match(line.text)
    text = m.group(1) if m else line.text
    return text.strip("*_ ").strip() or line.text


def _heading_marks(content: str) -> int:
    """Length of a markdown heading's "## ": a passage quotes the question, not its markup."""
    m = re.match(r"#{1,6}\s+", content)
    return m.end() if m else 0


class _Reader:
    """Lines -> units: wrapped prose lines join into paragraphs and a page's run of calls to action
    into one notice; each unit gets the current heading or question as section (none for a byline
    or a notice: they belong to no section) and the FAQ item or separated block it is in."""

    def __init__(self) -> None:
        self.out: list[Unit] = []
        self.section: str | None = None
        self.item: int | None = None
        self.items = 0
        self.scope = 0  # counts headings, questions and separators, so two alike are still apart
        self.faq = False  # the current item is a question's: its section ends with it
        self.run_open = False  # the last unit is a run of calls to action that the next one may extend

    def units(self, lines: list[Line]) -> list[Unit]:
        for line in lines:
            self.read(line)
        return [u for u in self.out if u.kind != "prose" or u.end > u.start]

    def read(self, line: Line) -> None:
        kind = line.kind
        if kind in ("heading", "chrome", "rule", "underline", "question"):
            self.run_open = False  # a passage is one slice of the text: chrome inside a run would be quoted
        if kind == "question":
            self._open_item(_question(line.text), faq=True)
            self.out.append(Unit(line.start + _heading_marks(line.text), line.end, self.section, "question",
                                 item=self.item, scope=self.scope))
            return
        if kind == "heading":
            self.section, self.item, self.faq = _heading_text(line), None, False
            self.scope += 1
        if kind == "rule" and _SEPARATOR.match(line.text):
            self._open_item(None if self.faq else self.section, faq=False)
        if kind in ("heading", "chrome", "rule", "underline"):
            return
        if kind == "action" and self.item is not None and line.text.endswith(_SENTENCE_END):
            kind = "prose"  # a sentence of an answer that mentions booking is part of the answer
        if kind in NOTICES:
            self._notice(line, kind)
            return
        self.run_open = False
        prev = self.out[-1] if self.out else None
        if (prev is not None and kind == "prose" and prev.kind == "prose" and not line.blank_before
                and prev.scope == self.scope):
            prev.end, prev.colon = line.end, _colon(line.text)  # a wrapped paragraph goes on
            return
        self.out.append(Unit(line.start, line.end, self.section, kind, _colon(line.text), self.item, self.scope))

    def _open_item(self, section: str | None, faq: bool) -> None:
        self.items += 1
        self.scope += 1
        self.section, self.item, self.faq = section, self.items, faq

    def _notice(self, line: Line, kind: str) -> None:
        prev = self.out[-1] if self.out else None
        if self.run_open and prev is not None and kind == "action":
            prev.end = line.end
        else:
            self.out.append(Unit(line.start, line.end, None, kind))
        self.run_open = kind == "action"


def _group(units: list[Unit]) -> list[Unit]:
    """A list's intro ("…including:") and its bullets or items read as one passage."""
    out: list[Unit] = []
    for unit in units:
        prev = out[-1] if out else None
        listy = unit.kind in ("bullet", "item")
        if (prev is not None and listy and _together(prev, unit) and prev.kind in ("list", "bullet", "item")):
            prev.end, prev.kind = unit.end, "list"
        elif listy:
            out.append(Unit(unit.start, unit.end, unit.section, "list", item=unit.item, scope=unit.scope))
        else:
            out.append(unit)
        if len(out) >= 2 and out[-1].kind == "list" and out[-2].kind == "intro" and _together(out[-2], out[-1]):
            out[-2].end, out[-2].kind = out[-1].end, "list"
            out.pop()
        if out[-1].kind == "prose" and out[-1].colon:
            out[-1].kind = "intro"
    return out


def _together(a: Unit, b: Unit) -> bool:
    return a.scope == b.scope


def _passages(units: list[Unit], text: str, params: ChunkParams) -> list[Unit]:
    """An item is packed on its own; elsewhere long units split and short neighbours merge."""
    out: list[Unit] = []
    for item, run in groupby(units, key=lambda u: u.item):
        if item is None:
            out += _merge_short(_split_long(list(run), text, params), params.min_chars, params.max_chars)
        else:
            out += _pack_item(list(run), text, params.max_chars)
    return out


def _pack_item(run: list[Unit], text: str, limit: int) -> list[Unit]:
    """The question with as much of its answer as fits, then the rest, cut at sentences where a
    part is too long; a question never stands alone (without an answer it is no passage)."""
    if len(run) == 1 and run[0].kind == "question":
        return []
    parts: list[Unit] = []
    for unit in run:
        after_question = len(parts) == 1 and parts[0].kind == "question"
        start = parts[0].start if after_question else unit.start  # the answer's first part must fit with it
        if unit.end - start <= limit or unit.kind == "question":
            parts.append(unit)
        else:
            room = max(limit - (unit.start - start), limit // 2)
            parts += [Unit(s, e, unit.section, "prose", scope=unit.scope)
                      for s, e in _pieces(text, unit.start, unit.end, room)]
    return _merge_short(parts, limit, limit)


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
            units.append(Unit(s, e, whole.section, "action" if whole.kind == "action" else "prose", scope=whole.scope))
    return units


def _merge_short(units: list[Unit], min_chars: int, max_chars: int) -> list[Unit]:
    out: list[Unit] = []
    for unit in units:
        prev = out[-1] if out else None
        if (prev is not None and _together(prev, unit) and prev.end - prev.start < min_chars
                and unit.end - prev.start <= max_chars and prev.kind not in NOTICES and unit.kind not in NOTICES):
            prev.end = unit.end
        else:
            out.append(Unit(unit.start, unit.end, unit.section, unit.kind, scope=unit.scope))
    return out

"""Sentence spans with exact offsets, from sentencex (rule-based, no model, no download)."""

from __future__ import annotations

from sentencex import segment


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Offsets of each sentence in ``text[start:end]``, stripped, line-bounded.

    Example: sentence_spans("Hi there. Bye.") -> [(0, 9), (10, 14)].
    """
    end = len(text) if end is None else end
    spans = []
    pos = start
    for line in text[start:end].split("\n"):
        line_start = pos
        pos += len(line) + 1
        cursor = line_start
        for sentence in segment("en", line):
            s = sentence.strip()
            if not s:
                continue
            found = text.find(s, cursor, line_start + len(line))
            if found < 0:  # the segmenter changed the text; fall back to the rest of the line
                found = cursor
                s = text[cursor:line_start + len(line)].strip()
            spans.append((found, found + len(s)))
            cursor = found + len(s)
    return [(s, e) for s, e in spans if e > s]

"""Answer -> text for a terminal. The JSON form is ``Answer.to_dict()``."""

from __future__ import annotations

import textwrap

import click

from mgqa.types import Answer, Passage


def answer_text(answer: Answer, width: int = 88) -> str:
    lines: list[str] = []
    if answer.status == "emergency":
        lines += [click.style(f"EMERGENCY: {answer.notice}", fg="red", bold=True), ""]
    elif answer.status == "no_answer":
        lines += [click.style(answer.notice or "", fg="yellow"), ""]
    for p in answer.passages:
        lines += [_passage(p, width), ""]
    lines.append(click.style("Disclaimer: " + answer.disclaimer, dim=True))
    return "\n".join(lines)


def _passage(p: Passage, width: int) -> str:
    c = p.citation
    cite = " › ".join(x for x in (c.title, c.section) if x) + (f" · {c.source}" if c.source else "")
    return f"[{c.n}] {_emphasised(p)}\n    — {cite}"


def _emphasised(p: Passage) -> str:
    """The verbatim passage, highlighted sentences in bold (plain when not a terminal)."""
    out, pos = [], 0
    for s, e in sorted(p.highlights):
        if s < pos:
            continue
        out += [p.text[pos:s], click.style(p.text[s:e], bold=True, underline=True)]
        pos = e
    out.append(p.text[pos:])
    return "".join(out)


def wrap(text: str, width: int = 88) -> str:
    return "\n".join(textwrap.fill(par, width) for par in text.split("\n"))

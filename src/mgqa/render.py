"""Answer -> text for a terminal. The JSON form is ``Answer.to_dict()``."""

from __future__ import annotations

import click

from mgqa.types import Answer, Passage


def answer_text(answer: Answer) -> str:
    lines: list[str] = []
    if answer.status == "emergency":
        lines += [click.style(f"EMERGENCY: {answer.notice}", fg="red", bold=True), ""]
    elif answer.status == "no_answer":
        lines += [click.style(answer.notice or "", fg="yellow"), ""]
    for p in answer.passages:
        lines += [_passage(p), ""]
    lines.append(click.style("Disclaimer: " + answer.disclaimer, dim=True))
    return "\n".join(lines)


def _passage(p: Passage) -> str:
    c = p.citation
    where = c.link or c.source  # the link is the source URL opened at the passage
    cite = " › ".join(x for x in (c.title, c.section) if x) + (f" · {where}" if where else "")
    return f"[{c.n}] {_emphasised(p)}\n    — {cite}"


def _emphasised(p: Passage) -> str:
    """The verbatim passage, highlighted sentences in bold (plain when not a terminal)."""
    return "".join(click.style(t, bold=True, underline=True) if marked else t for t, marked in p.segments())

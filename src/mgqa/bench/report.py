"""The runner: run the selected parts, write the report, and merge a part measured again into it."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from pathlib import Path

from mgqa.bench.build import build
from mgqa.bench.cold import cold
from mgqa.bench.common import PARTS, QUICK, TITLES, Plan, Section, load_average, machine, versions
from mgqa.bench.scale import scale
from mgqa.bench.serving import serve, workers
from mgqa.bench.warm import warm

GAPS = "Targets not met"
COMMAND = "make bench  (= .venv/bin/python -m mgqa bench)"


RUNNERS: dict[str, Callable[[Plan], Section]] = {"cold": cold, "warm": warm, "build": build, "scale": scale,
                                                  "serve": serve, "workers": workers}


def run(quick: bool, out: Path, only: list[str], plan: Plan | None = None) -> list[Section]:
    """Run the selected parts (all by default), print the report and write it to ``out``."""
    import click

    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        raise click.UsageError(f"unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    plan = plan or (QUICK if quick else Plan())
    started, t0, load = datetime.datetime.now(datetime.UTC), time.perf_counter(), load_average()
    sections = []
    for part in [p for p in ("build", "cold", "warm", "scale", "serve", "workers") if not only or p in only]:
        click.echo(f"bench: {part} …", err=True)
        sections.append(RUNNERS[part](plan))
    sections.sort(key=lambda s: PARTS.index(s.part))
    text = report(sections, quick, started, time.perf_counter() - t0, load)
    click.echo(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    if only and out.exists():  # a part measured again goes into the full report, beside the others
        for s in sections:
            s.lines[:0] = [f"Measured {started:%Y-%m-%d %H:%M} UTC on its own (`mgqa bench --only {s.part}`; load "
                           f"average at the start {load}); the other parts are from the run described at the top.", ""]
        text = merge(out.read_text(encoding="utf-8"), report(sections, quick, started, 0.0, load), set(only))
    out.write_text(text, encoding="utf-8")
    return sections


def merge(old: str, new: str, parts: set[str]) -> str:
    """The report ``old`` with the summary rows, gaps and sections of ``parts`` taken from ``new``."""
    old_head, old_blocks = _blocks(old)
    new_head, new_blocks = _blocks(new)
    rows = sorted([r for r in old_head if _part_of(r, "| ") not in (None, *parts)]
                  + [r for r in new_head if _part_of(r, "| ") in parts], key=lambda r: PARTS.index(_part_of(r, "| ")))
    head = [line for line in old_head if _part_of(line, "| ") is None]
    at = max(i for i, line in enumerate(head) if line.startswith("|---")) + 1
    gaps = sorted([g for g in old_blocks.get(GAPS, []) if _part_of(g, "- **") not in (None, *parts)]
                  + [g for g in new_blocks.get(GAPS, []) if _part_of(g, "- **") in parts],
                  key=lambda g: PARTS.index(_part_of(g, "- **")))
    lines = head[:at] + rows + head[at:]
    if gaps:
        lines += ["", f"## {GAPS}", "", *gaps]
    for part in PARTS:
        block = (new_blocks if part in parts else old_blocks).get(TITLES[part])
        if block:
            lines += ["", f"## {TITLES[part]}", *block]
    return "\n".join(lines).rstrip() + "\n"


def _blocks(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """A report's lines before its first section, and each section's lines by title."""
    head, *rest = text.rstrip().split("\n## ")
    blocks = {}
    for block in rest:
        title, _, body = block.partition("\n")
        blocks[title] = body.rstrip().split("\n")
    return head.rstrip().split("\n"), blocks


def _part_of(line: str, prefix: str) -> str | None:
    """The part a summary row (``| warm | …``) or a gap line (``- **warm: …``) belongs to."""
    if not line.startswith(prefix):
        return None
    word = re.split(r"[ :|*]", line[len(prefix):], maxsplit=1)[0]
    return word if word in PARTS else None


def report(sections: list[Section], quick: bool, started: datetime.datetime, took: float, load: str) -> str:
    lines = ["# Performance", "",
             f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}; {versions()}. "
             f"Load average at the start (1/5/15 min): {load}. The whole run took {took / 60:.1f} min.", "",
             f"Regenerate with `{COMMAND}`" + (" — this was a `--quick` run: indicative only." if quick else ".")
             + " Each figure is a median over repetitions; its baseline (or floor) is measured in the same run, "
             "and the ratio is figure ÷ baseline.", "",
             "| part | figure | measured | baseline (same run) | ratio | target | met |",
             "|---|---|---:|---|---:|---|---|"]
    for s in sections:
        for f in s.figures:
            ratio = "-" if f.ratio is None else f"{f.ratio:.2f}×"
            met = {True: "**met**", False: "**not met**", None: "-"}[f.met]
            note = f" ({f.note})" if f.note else ""
            lines.append(f"| {f.part} | {f.name}{note} | {f.value} | {f.baseline} | {ratio} | {f.target} | {met} |")
    gaps = [f for s in sections for f in s.figures if f.met is False]
    if gaps:
        lines += ["", "## Targets not met", ""]
        lines += [f"- **{f.part}: {f.name}** — {f.value} against {f.target}: {f.gap or 'see below'}." for f in gaps]
    for s in sections:
        lines += ["", f"## {s.title}", "", *s.lines]
    return "\n".join(lines).rstrip() + "\n"

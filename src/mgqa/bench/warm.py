"""Part 2, warm latency: `Engine.ask` in process against its floor, and what the answer judge, the
known questions and triage each add to a question."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from mgqa import settings
from mgqa.bench.common import (
    MEDQUAD,
    TITLES,
    Figure,
    Plan,
    Section,
    busy_core,
    gold_queries,
    load_average,
    median,
    medquad_index,
    ms,
    pct,
)


@dataclass
class Latency:
    ask: list[float]
    floor: list[float]
    encode: list[float]

    def ratio(self) -> float:
        return median(self.ask) / median(self.floor)


def measure_warm(engine, queries: list[tuple[str, list[str] | None]], rounds: int) -> Latency:
    """Per question: ``engine.ask`` and the floor (encode the question + one FAISS search), interleaved."""
    from mgqa.retrieve import CANDIDATES

    index, encoder = engine.index, engine.encoder
    want = min(len(index.chunks), max(CANDIDATES, 4 * settings.get("top_k")))  # as retrieve.search asks
    for q, h in queries[:5]:
        engine.ask(q, h)
    out = Latency([], [], [])
    for _ in range(rounds):
        for q, h in queries:
            t = time.perf_counter()
            engine.ask(q, h)
            out.ask.append(time.perf_counter() - t)
            t = time.perf_counter()
            v = encoder.encode([q])
            out.encode.append(time.perf_counter() - t)
            index.dense.search(v, want)
            out.floor.append(time.perf_counter() - t)
    return out


def medquad_queries(n: int) -> list[tuple[str, list[str] | None]]:
    lines = (MEDQUAD / "dev_queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [(json.loads(line)["text"], None) for line in lines[:n] if line.strip()]


def warm(plan: Plan) -> Section:
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder

    encoder = get_encoder()
    sec = Section("warm", TITLES["warm"])
    sec.lines += [f"Query encoder: {encoder.backend}, 1 thread. Floor: `encoder.encode([question])` + one "
                  "`index.dense.search(v, 50)`, timed right after each `ask` on the same question. "
                  "Busy: the same while a `python -c \"while True: pass\"` process spins on one core.", "",
                  "| corpus | passages | questions × rounds | ask p50 | ask p99 | floor p50 | ask p50 ÷ floor p50 "
                  "| encode p50 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    corpora = [("default", Engine.load(None, encoder), gold_queries())]
    if plan.medquad and (MEDQUAD / "corpus.jsonl").exists():
        corpora.append(("MedQuAD", Engine(medquad_index(get_encoder(threads=0)), encoder),
                        medquad_queries(plan.medquad_queries)))
    quiet = {}
    for name, engine, queries in corpora:
        quiet[name] = lat = measure_warm(engine, queries, plan.warm_rounds)
        sec.lines.append(_latency_row(name, engine, queries, plan.warm_rounds, lat))
        limit = ASK_P50_LIMIT.get(name, 0.040)
        sec.figures.append(Figure("warm", f"ask p50, {name} corpus, all scoring included (p99 {ms(pct(lat.ask, 99))})",
                                  ms(median(lat.ask)), f"{ms(median(lat.floor))} floor", lat.ratio(),
                                  f"≤ {ms(limit)}", median(lat.ask) <= limit,
                                  gap=f"{ms(median(lat.ask) - median(lat.floor))} per question is spent beyond "
                                      "encoding and the FAISS search: BM25, fusion, the judge, known questions, "
                                      "highlighting"))
    with busy_core():
        for name, engine, queries in corpora:
            lat = measure_warm(engine, queries, max(1, plan.warm_rounds // 2))
            sec.lines.append(_latency_row(f"{name}, other core busy", engine, queries,
                                          max(1, plan.warm_rounds // 2), lat))
            slow = median(lat.encode) / median(quiet[name].encode)
            sec.figures.append(Figure("warm", f"query encoding p50, other core busy, {name} corpus",
                                      ms(median(lat.encode)), f"{ms(median(quiet[name].encode))} quiet", slow,
                                      "≤ 1.5× quiet", slow <= 1.5,
                                      f"ask p50 {ms(median(lat.ask))} = {lat.ratio():.2f}× busy floor",
                                      gap=f"one spinning process made the 1-thread query encoder {slow:.2f}× slower "
                                          f"(load average {load_average()} as this was measured; a shared 2-vCPU VM "
                                          "also shares caches and memory bandwidth)"))
    sec.lines.append("")
    sec.figures.append(triage_cost(corpora[0][1], corpora[0][2], plan.warm_rounds, sec))
    if corpora[0][1].tower is not None:
        sec.figures.append(tower_cost(corpora[0][1], corpora[0][2], plan.warm_rounds, sec))
    for name, engine, queries in corpora:
        if engine.judge is not None:
            sec.figures.append(judge_cost(name, engine, queries, plan.warm_rounds, sec))
        if engine.known is not None:
            sec.figures.append(known_cost(name, engine, queries, plan.warm_rounds, sec))
    return sec


def judge_cost(name: str, engine, queries, rounds: int, sec: Section) -> Figure:
    """What the answer judge adds to a question: ``Engine.rank`` with the judge alone (features of
    10 candidates, the model, the reordering) against the same engine without it."""
    return added_cost(name, engine.without_known(), engine.without_judge(), queries, rounds, sec,
                      "answer judge", "10 candidates scored")


def known_cost(name: str, engine, queries, rounds: int, sec: Section) -> Figure:
    """What the known questions add on top of the judge: their vote and the second ranking."""
    return added_cost(name, engine, engine.without_known(), queries, rounds, sec, "known questions",
                      f"{len(engine.index.known)} known questions vote")


def added_cost(name: str, engine, baseline, queries, rounds: int, sec: Section, what: str, detail: str) -> Figure:
    """``Engine.rank`` p50 of ``engine`` against ``baseline``, interleaved, on the same query vectors."""
    texts = [engine.prepare_query(q, h) for q, h in queries]
    asked, _ = engine.question_vectors(texts)
    vectors = list(zip(texts, asked, strict=True))
    timed, plain = [], []
    for _ in range(rounds):
        for query, vec in vectors:
            t = time.perf_counter()
            engine.rank(vec, query, 3)
            timed.append(time.perf_counter() - t)
            t = time.perf_counter()
            baseline.rank(vec, query, 3)
            plain.append(time.perf_counter() - t)
    extra = median(timed) - median(plain)
    sec.lines.append(f"{what.capitalize()}, {name} corpus: `Engine.rank` p50 {ms(median(timed))} with, "
                     f"{ms(median(plain))} without, over the same {len(vectors)} × {rounds} questions.")
    return Figure("warm", f"{what} cost per question, {name} corpus ({detail})", ms(extra),
                  f"{ms(median(plain))} ranking without", median(timed) / median(plain), "reported")


ASK_P50_LIMIT = {"default": 0.040, "MedQuAD": 0.060}  # issue 11: all scoring included, 1 thread


TRIAGE_BANK = settings.REPO_ROOT / "bench" / "triage" / "bank.jsonl"


def clause_messages(n: int = 60) -> list[str]:
    """Messages of two or more clauses from the triage bank (a clone has it), where triage scores
    the parts as well as the whole: its cost where it is highest."""
    from mgqa.triage import clause_spans

    if not TRIAGE_BANK.exists():
        return []
    rows = [json.loads(line)["q"] for line in TRIAGE_BANK.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in rows if len(clause_spans(q)) >= 2][:n]


def triage_cost(engine, queries, rounds: int, sec: Section) -> Figure:
    """What the learned triage adds to a question: ``Triager.read`` (one encoder run giving the
    token states and offsets, the retrieval vector pooled from them, the classifier over the whole
    message and each clause, each alone) against plain ``encoder.encode`` of the same text,
    interleaved; over the gold questions and over messages of several clauses, the worse counts."""
    triager, encoder = engine.triager, engine.encoder
    extras = []
    for label, texts in (("gold questions", [q for q, _h in queries]), ("messages of 2+ clauses", clause_messages())):
        if not texts:
            continue
        read, plain = [], []
        for _ in range(rounds):
            for q in texts:
                t = time.perf_counter()
                triager.read(q, encoder)
                read.append(time.perf_counter() - t)
                t = time.perf_counter()
                encoder.encode([q])
                plain.append(time.perf_counter() - t)
        extras.append((median(read) - median(plain), median(read), median(plain)))
        sec.lines.append(f"Triage, {label}: `Triager.read` p50 {ms(median(read))} against `encoder.encode` p50 "
                         f"{ms(median(plain))} over the same {len(texts)} × {rounds} "
                         f"({'the learned model and the rules' if triager.model else 'rules only'}).")
    extra, read_p50, plain_p50 = max(extras)
    return Figure("warm", "triage cost per question (learned classifier over the whole and its clauses, shared encoder run)",
                  ms(extra), f"{ms(plain_p50)} encode", read_p50 / plain_p50, "≤ 3 ms added", extra <= 0.003)


def tower_cost(engine, queries, rounds: int, sec: Section) -> Figure:
    """What the query tower adds to a question: its two layers over the shared token states the
    encoder run already gave (``QueryTower.vector``), against that encoder run, interleaved."""
    tower, encoder = engine.tower, engine.encoder
    texts = [q for q, _h in queries]
    spent, plain = [], []
    for _ in range(rounds):
        for q in texts:
            t = time.perf_counter()
            states = encoder.encode_tokens([q])[0]
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            tower.vector(states.shared)
            spent.append(time.perf_counter() - t)
    sec.lines.append(f"Query tower: `QueryTower.vector` p50 {ms(median(spent))} against the encoder run p50 "
                     f"{ms(median(plain))} over the same {len(texts)} gold questions × {rounds}.")
    return Figure("warm", "query tower cost per question (layers 5-6 again over the shared states, int8)",
                  ms(median(spent)), f"{ms(median(plain))} encode", median(spent) / median(plain),
                  "≤ 2 ms added", median(spent) <= 0.002)


def _latency_row(name: str, engine, queries, rounds: int, lat: Latency) -> str:
    return (f"| {name} | {len(engine.index.chunks):,} | {len(queries)} × {rounds} | {ms(median(lat.ask))} "
            f"| {ms(pct(lat.ask, 99))} | {ms(median(lat.floor))} | {lat.ratio():.2f} | {ms(median(lat.encode))} |")

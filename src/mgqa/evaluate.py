"""`mgqa eval`: answer quality on the project's gold set, and retrieval quality on any BEIR-style
corpus (document level: nDCG@10, Recall@10, MRR@10) for the full pipeline, lexical-only and
dense-only in the same run."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from mgqa.types import Answer

MODES = ("hybrid", "lexical", "dense")
NO_JUDGE = "hybrid, no judge"  # the full pipeline without the answer judge (--compare)


# ---------------------------------------------------------------- the gold set


KINDS = ("answerable", "unanswerable", "emergency", "benign")


def load_gold(path: Path | None = None) -> list[dict]:
    """The packaged gold set, or the one in ``path`` (same JSONL format: id, kind, question, and
    for questions the documents answer doc_id and the verbatim answer; optional history)."""
    from mgqa.errors import EvalInputError

    items = []
    for n, line in enumerate(_lines(Path(path) if path else resources.files("mgqa") / "data" / "gold.jsonl"), 1):
        if line.strip():
            items.append(_gold_item(line, f"{path or 'gold.jsonl'}:{n}"))
    if not items:
        raise EvalInputError(f"the gold set {path} holds no questions")
    return items


def _gold_item(line: str, where: str) -> dict:
    from mgqa.errors import EvalInputError

    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EvalInputError(f"{where}: not a JSON line ({exc})") from None
    ok = (isinstance(item, dict) and isinstance(item.get("id"), str) and item.get("kind") in KINDS
          and isinstance(item.get("question"), str)
          and (item["kind"] != "answerable" or (isinstance(item.get("doc_id"), str) and isinstance(item.get("answer"), str)))
          and isinstance(item.get("history", []), list))
    if not ok:
        raise EvalInputError(f"{where}: needs id, kind ({', '.join(KINDS)}), question, and for an answerable "
                           "question doc_id and the verbatim answer")
    return item


def answer_span(item: dict, docs: dict) -> tuple[int, int]:
    """Where the gold answer is in its document: verbatim, or as a reader sees it (a writer who
    copies "takes **8-12 weeks**" from a Markdown page copies "takes 8-12 weeks")."""
    from mgqa.errors import EvalInputError

    doc = docs.get(item["doc_id"])
    start = doc.text.find(item["answer"]) if doc else -1
    if start >= 0:
        return start, start + len(item["answer"])
    found = _find_as_read(doc.text, item["answer"]) if doc else None
    if found is None:
        raise EvalInputError(f"gold item {item['id']}: the answer is not verbatim in a document {item['doc_id']!r} "
                             "of this index")
    return found


def _as_read(text: str) -> tuple[str, list[int]]:
    """``text`` without Markdown's emphasis and code marks, runs of white space as one space,
    and each kept character's offset in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch in "*`":
            continue
        if ch.isspace():
            if chars and chars[-1] == " ":
                continue
            ch = " "
        chars.append(ch)
        where.append(i)
    return "".join(chars), where


def _find_as_read(text: str, answer: str) -> tuple[int, int] | None:
    """The span of ``text`` that reads as ``answer`` (see _as_read), or None."""
    shown, where = _as_read(text)
    wanted = _as_read(answer)[0].strip()
    at = shown.find(wanted) if wanted else -1
    if at < 0:
        return None
    return where[at], where[at + len(wanted) - 1] + 1


def holds_answer(doc_id: str, start: int, end: int, item: dict, span: tuple[int, int]) -> bool:
    """Whether the passage ``doc_id[start:end]`` holds at least half of the gold answer span."""
    from mgqa.known import holds

    return holds(doc_id, start, end, item["doc_id"], *span)


def hit_rank(answer: Answer, item: dict, span: tuple[int, int]) -> int | None:
    """Rank of the first passage that holds at least half of the gold answer span."""
    if answer.status != "answered":
        return None
    return first_holding(((p.rank, p.citation.doc_id, p.citation.start, p.citation.end) for p in answer.passages),
                         item, span)


def first_holding(passages, item: dict, span: tuple[int, int]) -> int | None:
    """The rank of the first of ``passages`` ((rank, doc_id, start, end), best first) that holds
    the gold answer (see holds_answer), or None."""
    return next((rank for rank, doc_id, start, end in passages if holds_answer(doc_id, start, end, item, span)), None)


@dataclass
class GoldReport:
    rows: list[dict] = field(default_factory=list)  # per question: id, kind, status, rank, top cosine

    def metrics(self) -> dict[str, float]:
        ans = [r for r in self.rows if r["kind"] == "answerable" or (r["kind"] == "benign" and r["span"])]
        un = [r for r in self.rows if r["kind"] == "unanswerable"]
        em = [r for r in self.rows if r["kind"] == "emergency"]
        non_em = [r for r in self.rows if r["kind"] != "emergency"]
        abstained = [r for r in self.rows if r["status"] == "no_answer"]
        return {
            "Hit@1": _mean(r["rank"] == 1 for r in ans),
            "Hit@3": _mean(r["rank"] is not None and r["rank"] <= 3 for r in ans),
            "MRR": _mean(1 / r["rank"] if r["rank"] else 0 for r in ans),
            "answered (answerable)": _mean(r["status"] == "answered" for r in ans),
            "abstention recall": _mean(r["status"] == "no_answer" for r in un),
            # a benign question without a gold span is one the documents do not answer either
            "abstention precision": _mean(not r["span"] for r in abstained) if abstained else 1.0,
            "emergency recall": _mean(r["status"] == "emergency" for r in em),
            "false emergency rate": _mean(r["status"] == "emergency" for r in non_em),
        }

    def failures(self) -> list[dict]:
        out = []
        for r in self.rows:
            bad = {"answerable": r["rank"] != 1, "unanswerable": r["status"] != "no_answer",
                   "emergency": r["status"] != "emergency", "benign": r["status"] == "emergency"}[r["kind"]]
            if bad:
                out.append(r)
        return out


def _mean(values) -> float:
    values = list(values)
    return sum(map(float, values)) / len(values) if values else float("nan")


def _index_documents(index) -> list:
    """The documents ``index`` was built from (the packaged ones, or its recorded source files)."""
    from mgqa.index import DEFAULT_CORPUS
    from mgqa.ingest import default_documents, read_paths

    if index.manifest.get("corpus") == DEFAULT_CORPUS:
        return default_documents()
    return read_paths([Path(s["path"]) for s in index.manifest.get("sources", [])]).documents


def run_gold(engine, gold: list[dict] | None = None) -> GoldReport:
    docs = {d.id: d for d in _index_documents(engine.index)}
    report = GoldReport()
    for item in gold or load_gold():
        answer = engine.ask(item["question"], item.get("history"), k=3)
        span = answer_span(item, docs) if item.get("answer") else None
        rank = hit_rank(answer, item, span) if span else None
        decision = answer.extra.get("decision")  # None for emergencies
        top_rank = _rank_of(engine.index, answer.extra.get("ranked", []), item, span) if span else None
        report.rows.append({"id": item["id"], "kind": item["kind"], "question": item["question"],
                            "status": answer.status, "rank": rank, "span": span, "decision": decision,
                            "top_rank": top_rank,
                            "top_cosine": decision.top_cosine if decision else None, "json": answer.to_dict()})
    return report


def run_docs(docs_dir: Path, gold: list[dict], encoder, compare: bool = False) -> tuple[dict[str, GoldReport], list[str]]:
    """A clinic's folder measured as its patients would meet it: a temporary index of
    ``docs_dir`` (its synonyms, known questions and clinic.toml with it, as `mgqa index build`
    makes), served by the app `mgqa serve` runs, and every gold question asked with its history
    through ``POST /api/ask``. With ``compare``, the pipeline's own ranking (whether or not it
    answered) and plain fusion's (no judge, no known questions) of the same index, each by its
    ranking alone. Returns the reports and the skipped files."""
    import tempfile

    from fastapi.testclient import TestClient

    from mgqa.answer import Engine
    from mgqa.index import build_corpus
    from mgqa.serve.app import create_app

    with tempfile.TemporaryDirectory(prefix="mgqa-eval-") as tmp:
        out = Path(tmp) / "index"
        _, skipped = build_corpus([Path(docs_dir)], out, encoder)
        engine = Engine.load(out, encoder)
        docs = {d.id: d for d in _index_documents(engine.index)}
        spans = {item["id"]: answer_span(item, docs) if item.get("answer") else None for item in gold}  # checked first
        reports = {"served": GoldReport()}
        with TestClient(create_app(engine)) as client:
            for item in gold:
                response = client.post("/api/ask", json={"question": item["question"], "history": item.get("history", [])})
                body = response.json()
                if response.status_code != 200:
                    body = {"status": f"HTTP {response.status_code}", "passages": [], "error": body.get("error")}
                reports["served"].rows.append(_served_row(item, body, spans[item["id"]]))
        if compare:
            reports["ranking"] = run_gold(engine, gold)  # the same engine, read for its order
            reports["plain fusion"] = run_gold(engine.without_judge(), gold)
    return reports, skipped


def _served_row(item: dict, body: dict, span: tuple[int, int] | None) -> dict:
    """One gold question's row from the JSON answer /api/ask gave."""
    rank = None
    if span and body.get("status") == "answered":
        rank = first_holding(((p["rank"], p["citation"]["doc_id"], p["citation"]["start"], p["citation"]["end"])
                              for p in body["passages"]), item, span)
    return {"id": item["id"], "kind": item["kind"], "question": item["question"], "status": body.get("status"),
            "rank": rank, "span": span, "decision": None, "top_rank": None, "top_cosine": None, "json": body}


def ranking_metrics(report: GoldReport) -> dict[str, float]:
    """Hit@1 and Hit@3 of the ranking alone (whether or not the pipeline answered), for the
    answerable questions: how well a pipeline orders passages, apart from when it abstains."""
    ans = [r for r in report.rows if r["kind"] == "answerable"]
    return {"Hit@1, ranking alone": _mean(r["top_rank"] == 1 for r in ans),
            "Hit@3, ranking alone": _mean(r["top_rank"] is not None and r["top_rank"] <= 3 for r in ans)}


def known_count(engine, gold: list[dict]) -> int:
    """How many of ``gold``'s questions the index already knows (a known question within cosine
    0.995 of it, history included): those vote for their own answers, so they are in-sample."""
    from mgqa.answer import _clean_history
    from mgqa.conversation import query_vector

    memory = getattr(engine.index, "known", None)
    if not memory or not gold:
        return 0
    reader = engine.asker  # the known questions were read as a new one is (known.reader_id)
    now = reader.encode([" ".join(item["question"].split()) for item in gold])
    vecs = [query_vector(v, item["question"], _clean_history(item.get("history")), reader)
            for v, item in zip(now, gold, strict=True)]
    return int(((np.stack(vecs) @ memory.vectors.T).max(axis=1) >= 0.995).sum())


def _rank_of(index, ranked: list[int], item: dict, span: tuple[int, int]) -> int | None:
    """Where the gold passage is among the ranked chunks, whether or not the answer was given."""
    for rank, row in enumerate(ranked, 1):
        c = index.chunks[row]
        if holds_answer(c.doc_id, c.start, c.end, item, span):
            return rank
    return None


def sweep(report: GoldReport, thresholds: list[float]) -> list[dict]:
    """Abstention trade-off: what each threshold (on the judge's probability, or on the cosine
    without the judge) would have done on the gold set. Hit@1 counts the answered ones only."""
    ans = [r for r in report.rows if r["span"] and r["decision"]]
    un = [r for r in report.rows if r["kind"] == "unanswerable" and r["decision"]]
    return [{"threshold": t,
             "answered (answerable)": _mean(r["decision"].answer(t) for r in ans),
             "Hit@1": _mean(r["decision"].answer(t) and r["top_rank"] == 1 for r in ans),
             "abstention recall": _mean(not r["decision"].answer(t) for r in un)} for t in thresholds]


# ---------------------------------------------------------------- BEIR-style corpora


def read_queries(path: Path) -> dict[str, str]:
    """queries.jsonl: one object a line with ``id`` (or BEIR's ``_id``) and ``text``."""
    from mgqa.errors import EvalInputError

    out = {}
    for n, line in enumerate(_lines(path), 1):
        if line.strip():
            try:
                obj = json.loads(line)
                out[str(obj["id"] if "id" in obj else obj["_id"])] = str(obj["text"])
            except (ValueError, KeyError, TypeError, RecursionError):
                raise EvalInputError(f"{path}:{n}: needs a JSON object with id and text") from None
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A qrels TSV with the header ``query-id corpus-id score``; grades above 0 are relevant."""
    from mgqa.errors import EvalInputError

    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(_lines(path)[1:], 2):  # line 1 is the header
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        try:
            grade = int(parts[2])
        except (IndexError, ValueError):
            raise EvalInputError(f"{path}:{n}: needs query-id, corpus-id and an integer score") from None
        if grade > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels


def _lines(path) -> list[str]:
    """The lines of a text file (a Path, or a packaged resource), or one EvalInputError naming it."""
    from mgqa.errors import EvalInputError

    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"cannot read {path}: {exc}") from None


def corpus_index(corpus: Path, encoder, cache_dir: Path, progress=None):
    """Build (or reuse from the cache) the index of a BEIR corpus.jsonl."""
    from mgqa.chunking import ChunkParams
    from mgqa.index import build_corpus, load

    # Keyed by the corpus's content, not its path or mtime: a fresh copy of the same file (a new
    # checkout, a re-provisioned ../shared) reuses the index instead of re-embedding for an hour.
    try:
        with corpus.open("rb") as f:
            content = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        content = ""  # build_corpus names the unreadable file
    key = hashlib.sha256(json.dumps([content, encoder.model_id, ChunkParams().to_dict()]).encode()).hexdigest()[:16]
    out = cache_dir / "eval" / f"{corpus.stem}-{key}"
    try:
        return load(out, encoder, verify=False)
    except Exception:  # noqa: BLE001 - not cached yet (or unusable): build it
        return build_corpus([corpus], out, encoder, progress=progress)[0]


def doc_ranking(engine, question: str, mode: str, depth: int = 10) -> list[tuple[str, float]]:
    """Documents in order of their best passage, as the pipeline (``engine.rank``) orders them."""
    q = engine.prepare_query(question)
    asked, _ = engine.question_vectors([q])
    hits, _ = engine.rank(asked[0], q, 100, mode)
    seen: dict[str, float] = {}
    for h in hits:
        doc_id = engine.index.chunks[h.chunk_id].doc_id
        seen.setdefault(doc_id, h.score)
        if len(seen) == depth:
            break
    return list(seen.items())


def ir_metrics(ranked: list[str], relevant: dict[str, int], k: int = 10) -> dict[str, float]:
    """Example: ranked ["b", "a"], relevant {"a": 1} -> nDCG@10 0.631, Recall@10 1.0, MRR@10 0.5."""
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:k]))
    rr = next((1 / (i + 1) for i, d in enumerate(ranked[:k]) if d in relevant), 0.0)
    return {"nDCG@10": dcg / ideal if ideal else 0.0,
            "Recall@10": len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0,
            "MRR@10": rr}


def run_beir(engine, queries: dict[str, str], qrels: dict[str, dict[str, int]],
             run_out: Path | None = None, baseline=None) -> dict[str, dict[str, float]]:
    """Metrics per retriever: the full pipeline (``hybrid``), each single retriever, and with a
    ``baseline`` engine (the same index without the judge) ``hybrid, no judge``, in the same run."""
    runs = {mode: (engine, mode) for mode in MODES}
    if baseline is not None:
        runs[NO_JUDGE] = (baseline, "hybrid")
    totals = {name: {"nDCG@10": 0.0, "Recall@10": 0.0, "MRR@10": 0.0} for name in runs}
    judged = [q for q in queries if q in qrels]
    lines = []
    for qid in judged:
        for name, (eng, mode) in runs.items():
            ranking = doc_ranking(eng, queries[qid], mode)
            for metric, value in ir_metrics([d for d, _ in ranking], qrels[qid]).items():
                totals[name][metric] += value
            if name == "hybrid":
                lines += [f"{qid} Q0 {d} {r} {s:.6f} mgqa" for r, (d, s) in enumerate(ranking, 1)]
    if run_out:
        run_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {m: {k: v / max(len(judged), 1) for k, v in t.items()} for m, t in totals.items()}


# ---------------------------------------------------------------- triage sets


TRIAGE_KINDS = ("emergency", "benign")


def load_triage_set(path: Path) -> list[dict]:
    """A triage set: JSONL lines with ``q``, ``kind`` (emergency|benign) and ``category``; any
    other fields (``writer``, ``voice``) are kept. One bad line is one EvalInputError naming it."""
    from mgqa.errors import EvalInputError

    items = []
    for n, line in enumerate(_lines(Path(path)), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise EvalInputError(f"{path}:{n}: not a JSON line ({exc})") from None
        if not (isinstance(item, dict) and isinstance(item.get("q"), str) and item["q"].strip()
                and item.get("kind") in TRIAGE_KINDS and isinstance(item.get("category"), str)):
            raise EvalInputError(f"{path}:{n}: needs q (text), kind (emergency or benign) and category")
        items.append(item)
    if not items:
        raise EvalInputError(f"the triage set {path} holds no messages")
    return items


# Benign categories that are plain questions about the clinic or its treatment, not messages that
# sound alarming: the triage sets' "everyday" (this clinic) and "clinic_question" (other clinics).
ORDINARY_QUESTIONS = ("everyday", "clinic_question")


@dataclass
class TriageReport:
    """Each message's rule match and model probability; the decision at any threshold derives."""

    rows: list[dict]
    threshold: float | None  # the shipped model's operating threshold (None: rules only)

    def flagged(self, row: dict, threshold: float | None = None) -> bool:
        t = self.threshold if threshold is None else threshold
        return row["rule"] is not None or (t is not None and row["score"] is not None and row["score"] >= t)

    def totals(self, threshold: float | None = None) -> dict[str, float]:
        """Recall, false alarms over all benign messages, and over the ordinary questions and the
        other benign messages apart (a clinic can bear an alarm on a scary message more than on
        a plain question)."""
        em = [r for r in self.rows if r["kind"] == "emergency"]
        be = [r for r in self.rows if r["kind"] == "benign"]
        plain = [r for r in be if r["category"] in ORDINARY_QUESTIONS]
        other = [r for r in be if r["category"] not in ORDINARY_QUESTIONS]
        return {"recall": _mean(self.flagged(r, threshold) for r in em),
                "false alarms": _mean(self.flagged(r, threshold) for r in be),
                "false alarms, ordinary questions": _mean(self.flagged(r, threshold) for r in plain),
                "false alarms, other benign": _mean(self.flagged(r, threshold) for r in other),
                "by rule": _mean(r["rule"] is not None for r in em),
                "emergencies": len(em), "benign": len(be), "ordinary questions": len(plain)}

    def per_category(self) -> list[tuple[str, str, int, int]]:
        """(kind, category, flagged, messages), sorted; recall for emergencies, false alarms for benign."""
        groups: dict[tuple[str, str], list[int]] = {}
        for r in self.rows:
            g = groups.setdefault((r["kind"], r["category"]), [0, 0])
            g[0] += self.flagged(r)
            g[1] += 1
        return [(k, c, f, n) for (k, c), (f, n) in sorted(groups.items())]

    def trade_off(self, thresholds: list[float]) -> list[dict[str, float]]:
        return [{"threshold": t, **{k: v for k, v in self.totals(t).items() if k in ("recall", "false alarms")}}
                for t in thresholds]

    def missed(self) -> list[dict]:
        return [r for r in self.rows if (r["kind"] == "emergency") != self.flagged(r)]


def run_triage(triager, encoder, items: list[dict]) -> TriageReport:
    """Score every message once: the rules, and the model's probability from the same token
    states `mgqa ask` computes."""
    model = triager.model
    rows = [{**item, "rule": None, "score": None} for item in items]
    for row in rows:
        hit = triager.by_rules(row["q"])
        row["rule"] = hit.category if hit else None
    if model is not None:
        for row, states in zip(rows, encoder.encode_tokens([r["q"] for r in rows]), strict=True):
            row["score"] = model.emergency_probability(states.shared, model.parts(row["q"], states.offsets))
    return TriageReport(rows, model.threshold if model else None)

"""Part 3, index build: a build against encoding alone, and a rebuild after one document changed."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from mgqa.bench.child import run_child
from mgqa.bench.common import MEDQUAD, TITLES, Figure, Plan, Section, mb, median, medquad_index


def build(plan: Plan) -> Section:
    sec = Section("build", TITLES["build"])
    with tempfile.TemporaryDirectory(prefix="mgqa-bench-") as tmp:
        corpus = _build_corpus(plan, Path(tmp))
        rate = _build_vs_encode(plan, corpus, Path(tmp), sec)
        _rebuild(plan, Path(tmp), sec, rate)
    return sec


def _build_corpus(plan: Plan, tmp: Path) -> Path:
    """A .jsonl of the documents to build from: every n-th MedQuAD answer, or the default corpus."""
    if plan.build_every and (MEDQUAD / "corpus.jsonl").exists():
        lines = (MEDQUAD / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[::plan.build_every]
    else:
        from mgqa.ingest import default_documents

        lines = [json.dumps({"id": d.id, "title": d.title, "text": d.text, "source": d.source})
                 for d in default_documents()]
    path = tmp / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build_vs_encode(plan: Plan, corpus: Path, tmp: Path, sec: Section) -> float:
    """Build vs encoding alone, on the same passages; returns the encoder's passages/s."""
    encodes, builds = [], []
    for i in range(plan.build_reps):  # alternating, so drift in machine load hits both
        encodes.append(run_child("encode", {"corpus": str(corpus)}))
        builds.append(run_child("build", {"corpus": str(corpus), "out": str(tmp / f"index-{i}")}))
    e, b = median(r["seconds"] for r in encodes), median(r["seconds"] for r in builds)
    n, docs = builds[0]["passages"], builds[0]["documents"]
    what = (f"every {plan.build_every}th MedQuAD answer" if plan.build_every and (MEDQUAD / "corpus.jsonl").exists()
            else "the default corpus")
    sec.figures.append(Figure("build", f"build {n:,} passages ({what}): {n / b:.0f} passages/s",
                              f"{b:.1f} s", f"{e:.1f} s encoding alone", b / e, "≤ 1.15×", b / e <= 1.15,
                              gap="besides embedding, the build spent " + _steps(builds, skip="embed")))
    sec.figures.append(Figure("build", "peak memory of that build (process RSS)", mb(median(r["peak"] for r in builds)),
                              f"{mb(median(r['peak'] for r in encodes))} encoding alone",
                              median(r["peak"] for r in builds) / median(r["peak"] for r in encodes)))
    sec.lines += [f"Build from {docs:,} documents ({what}; {n:,} passages) with `mgqa.index.build_corpus`, all cores, "
                  "each in a fresh process: read, chunk, embed, BM25, FAISS, save. Baseline: the same passages' "
                  "texts through the same encoder in the same batches, nothing else.", "",
                  "| step | runs | each run, s | median s | passages/s | peak RSS |", "|---|---:|---|---:|---:|---:|",
                  f"| encode only | {len(encodes)} | {_each(encodes)} | {e:.1f} | {n / e:.1f} | "
                  f"{mb(median(r['peak'] for r in encodes))} |",
                  f"| full build | {len(builds)} | {_each(builds)} | {b:.1f} | {n / b:.1f} | "
                  f"{mb(median(r['peak'] for r in builds))} |",
                  "", "Where the build's time goes (median of the builds, seconds): "
                  + ", ".join(f"{k} {median(r['steps'][k] for r in builds):.1f}" for k in builds[0]["steps"]), ""]
    return n / e


def _each(runs: list[dict]) -> str:
    """Every run's seconds, in the order run (encode and build alternate): shows the machine's drift."""
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


STEP_OWNERS = {"read": "ingest.py", "chunk": "chunking.py", "reuse": "index.py", "bm25": "lexical.py",
               "faiss": "ann.py", "save": "index.py", "other": "hashes, manifest"}


def _steps(runs: list[dict], skip: str) -> str:
    """Median seconds per build step, largest first, with the module that owns each."""
    steps = {k: median(r["steps"][k] for r in runs) for k in runs[0]["steps"] if k != skip}
    return ", ".join(f"{k} {v:.1f} s ({STEP_OWNERS.get(k, '?')})" for k, v in
                     sorted(steps.items(), key=lambda kv: -kv[1]))


def _rebuild(plan: Plan, tmp: Path, sec: Section, rate: float) -> None:
    """Change one document of a built index and rebuild it: only that document is re-embedded."""
    from mgqa.embed import get_encoder

    full = plan.medquad and (MEDQUAD / "corpus.jsonl").exists()
    if full:
        base = medquad_index(get_encoder(threads=0)).path  # built before any figure is measured
        corpus = MEDQUAD / "corpus.jsonl"
    else:
        corpus = tmp / "corpus.jsonl"
        base = tmp / "index-0"
    work = tmp / "rebuild"
    shutil.copytree(base, work)
    # Untimed: a rebuild with nothing changed, as the last `mgqa index build` leaves an index (this
    # also brings one from before BM25 term counts were kept up to date).
    run_child("build", {"corpus": str(corpus), "out": str(work)})
    runs = []
    lines = corpus.read_text(encoding="utf-8").splitlines()
    for i in range(plan.rebuild_reps):  # each time one more document differs from the index at `work`
        at = (i * 7919) % len(lines)
        row = json.loads(lines[at])
        row["text"] += f"\n\nEdited by the benchmark ({i})."
        lines[at] = json.dumps(row)
        changed = tmp / f"edited-{i}.jsonl"
        changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs.append(run_child("build", {"corpus": str(changed), "out": str(work)}))
    s = median(r["seconds"] for r in runs)
    n = runs[0]["passages"]
    everything = n / rate  # embedding every passage, at the rate measured above
    sec.figures.append(Figure("build", f"rebuild after one document changed ({n:,} passages, "
                              f"{median(r['embedded'] for r in runs):.0f} re-embedded)", f"{s:.1f} s",
                              f"{everything:,.0f} s to embed all (at {rate:.0f}/s)", s / everything, "≤ 5 s",
                              s <= 5.0, f"peak RSS {mb(median(r['peak'] for r in runs))}",
                              gap="embedding the changed document took "
                                  f"{median(r['steps']['embed'] for r in runs):.1f} s; the rest is rebuilding what "
                                  "depends on the whole corpus: " + _steps(runs, skip="embed")))
    sec.lines += [f"Rebuild ({'MedQuAD, all' if full else 'default corpus'}: {runs[0]['documents']:,} documents, "
                  f"{n:,} passages) after appending a sentence to one document, {len(runs)} times, each a different "
                  "document, each in a fresh process. Seconds per step (median): "
                  + ", ".join(f"{k} {median(r['steps'][k] for r in runs):.1f}" for k in runs[0]["steps"]), ""]

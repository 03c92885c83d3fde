"""Part 4, the dense index at scale: bench/scale.py's contenders at each size, and what mgqa.ann picks."""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np

from mgqa import settings
from mgqa.bench.common import TITLES, Figure, Plan, Section

SCALE_SCRIPT = settings.REPO_ROOT / "bench" / "scale.py"


def scale(plan: Plan) -> Section:
    """bench/scale.py's contenders at each size, plus what mgqa.ann picks."""
    from mgqa import ann

    sec = Section("scale", TITLES["scale"])
    module = _scale_module()
    if module is None:
        sec.lines.append(f"Skipped: {SCALE_SCRIPT} is not there (an installed package without the repository).")
        return sec
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    mix = module.Mixture.make(np.random.default_rng(0))
    every = module.contenders
    module.contenders = lambda *a, **k: [c for c in every(*a, **k) if c[0] not in plan.scale_skip]
    extra = {"hnsw_budget": plan.hnsw_budget} if "hnsw_budget" in inspect.signature(module.run_size).parameters else {}
    rows = [r for n in plan.scale_sizes for r in module.run_size(n, mix, 0, plan.scale_queries, **extra)]
    sweep = module.flat_sweep(mix, 0, plan.scale_queries) if plan.flat_sweep else None
    for n in plan.scale_sizes:
        pick = next(r for r in rows if r["n"] == n and r["name"] == "**mgqa choice**")
        flat = next(r for r in rows if r["n"] == n and r["name"] == "flat")
        ok = pick["recall"] >= 0.95 and pick["p50"] <= 5.0
        sec.figures.append(Figure("scale", f"{n:,} vectors: mgqa picks {ann.ann_kind(n)} ({pick['params']}); "
                                  f"recall@10 {pick['recall']:.3f}", f"{pick['p50']:.2f} ms p50",
                                  f"{flat['p50']:.2f} ms flat (exact)", pick["p50"] / flat["p50"],
                                  "recall@10 ≥ 0.95, p50 ≤ 5 ms", ok if n >= 1_000_000 else None,
                                  f"build {pick['build']:.0f} s, {pick['bytes'] / 1e6:,.0f} MB"))
    sec.lines += _scale_table(rows, module)
    if sweep:
        sec.lines += ["", f"Exact (flat) search at small n, which sets `mgqa.ann.FLAT_MAX` = {ann.FLAT_MAX:,} "
                      "(below it mgqa searches exactly):", "", "| n | p50 ms | p99 ms |", "|---:|---:|---:|"]
        sec.lines += [f"| {n:,} | {p50:.2f} | {p99:.2f} |" for n, p50, p99 in sweep]
    return sec


def _scale_module():
    if not SCALE_SCRIPT.exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("mgqa_bench_scale", SCALE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _scale_table(rows: list[dict], module) -> list[str]:
    lines = [f"One query at a time on one thread, k = {module.K}; recall@10 against exact flat search; "
             "size = serialized index; RSS = resident growth during the build. ×flat: p50 over flat's p50.", "",
             "| n | index | build parameters | search parameters | build s | p50 ms | p99 ms | ×flat | recall@10 "
             "| size MB | RSS +MB |", "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        flat = next(b for b in rows if b["n"] == r["n"] and b["name"] == "flat")
        if "p50" not in r:  # a contender bench/scale.py gave up on (e.g. an HNSW build over budget)
            lines.append(f"| {r['n']:,} | {r['name']} | {r['params']} | {r['search']} | {r.get('build', 0):.0f} "
                         "(projected) | - | - | - | - | - | - |")
            continue
        lines.append(f"| {r['n']:,} | {r['name']} | {r['params']} | {r['search']} | {r['build']:.1f} "
                     f"| {r['p50']:.2f} | {r['p99']:.2f} | {r['p50'] / flat['p50']:.3f} | {r['recall']:.4f} "
                     f"| {r['bytes'] / 1e6:,.0f} | {r['rss'] / 1e6:,.0f} |")
    return lines

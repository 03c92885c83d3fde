"""How the dense index scales: flat vs HNSW vs IVF(-PQ) vs what mgqa.ann.build_ann picks.

    .venv/bin/python bench/scale.py [--sizes 100000 1000000] [--queries 200] [--out docs/scale.md]

Synthetic 384-d unit vectors (the size of all-MiniLM-L6-v2 embeddings) from a mixture of Gaussian
clusters; see ``Mixture``. Builds use every core; searches use one thread, one query at a time,
as a server handles one question per thread. Recall@10 is against exact (flat) search.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from mgqa import ann  # noqa: E402

DIM = 384
K = 50  # what mgqa.retrieve asks the dense index for (CANDIDATES); recall is on the first 10
RECALL_AT = 10
# At 1M on this data M=16 reached recall@10 0.81 even at efSearch 256 (build 261 s) and M=24 0.967
# (535 s); M=32 reached 0.975 at efSearch 128 (479 s). Builds slower than --hnsw-budget are
# stopped and reported with a measured extrapolation instead.
HNSW_M, HNSW_EFC = 32, 40
PQ_M = 48  # 48 sub-quantizers x 8 bits = 48 bytes a vector (8 dims each)
LOADS: list[float] = []  # 1-minute load average after each build: is anything else using the cores?


# ---------------------------------------------------------------- data


@dataclass
class Mixture:
    """Unit vectors from a mixture of Gaussian clusters, shaped roughly like text embeddings.

    Centres are random unit vectors; cluster weights are Dirichlet(1), so cluster sizes vary
    (like topics). Within a cluster the noise is anisotropic with a power-law spectrum
    (variance of the i-th axis ~ 1/i, in a random rotation; effective dimension ~26), because
    real embeddings have low intrinsic dimension: isotropic 384-d noise would make every
    neighbour equally far (impossibly hard), and tight clusters would make ANN trivial.
    ``spread`` is the noise norm relative to the centre's (1.5: a query's nearest neighbour
    has cosine ~0.6, its 10th ~0.5, a random pair ~0).
    """

    centres: np.ndarray
    weights: np.ndarray
    basis: np.ndarray  # z @ basis has the within-cluster covariance

    @classmethod
    def make(cls, rng: np.random.Generator, clusters: int = 1000, d: int = DIM,
             spread: float = 1.5, alpha: float = 1.0) -> Mixture:
        centres = rng.standard_normal((clusters, d), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
        var = np.arange(1, d + 1, dtype=np.float64) ** -alpha
        var *= spread**2 / var.sum()
        basis = (rotation * np.sqrt(var)).T.astype(np.float32)
        return cls(centres, rng.dirichlet(np.ones(clusters)), basis)

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
        """n L2-normalised float32 rows, filled in place chunk by chunk (one big array, no copies)."""
        out = np.empty((n, self.centres.shape[1]), np.float32)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            x = rng.standard_normal((e - s, out.shape[1]), dtype=np.float32) @ self.basis
            x += self.centres[rng.choice(len(self.centres), e - s, p=self.weights)]
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[s:e] = x
        return out


# ---------------------------------------------------------------- measuring


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def latencies(index, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query seconds and ids, one query at a time on one thread."""
    faiss.omp_set_num_threads(1)
    try:
        for q in queries[:10]:  # warm caches and lazily built tables
            index.search(q[None], K)
        times, ids = [], []
        for q in queries:
            t = time.perf_counter()
            _, i = index.search(q[None], K)
            times.append(time.perf_counter() - t)
            ids.append(i[0, :RECALL_AT])
        return np.array(times), np.array(ids)
    finally:
        faiss.omp_set_num_threads(os.cpu_count() or 1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / RECALL_AT for f, t in zip(found, truth, strict=True)]))


# ---------------------------------------------------------------- the contenders


def ivf_pq_refine(x: np.ndarray):
    base = faiss.index_factory(x.shape[1], f"IVF{ann.nlist(len(x))},PQ{PQ_M}x8", faiss.METRIC_INNER_PRODUCT)
    base.cp.min_points_per_centroid = ann.MIN_PER_LIST
    index = faiss.IndexRefineFlat(base)  # re-scores k_factor*k PQ candidates with the full vectors
    index.train(ann._training_sample(x))
    index.add(x)
    return index


class Skipped(Exception):
    def __init__(self, projected: float, done: int, elapsed: float):
        super().__init__(f"stopped after adding {done:,} vectors in {elapsed:.0f} s; "
                         f"projected build {projected:.0f} s")
        self.projected = projected


def hnsw(budget: float, chunk: int = 50_000):
    """Adds in chunks and gives up once the measured rate of the latest chunk projects the whole
    build past ``budget`` seconds (insertion only slows as the graph grows, so this underestimates)."""
    def build(x: np.ndarray):
        index = faiss.IndexHNSWFlat(x.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EFC
        t0 = time.perf_counter()
        for s in range(0, len(x), chunk):
            t = time.perf_counter()
            index.add(x[s:s + chunk])
            now = time.perf_counter()
            left = len(x) - index.ntotal
            projected = now - t0 + left * (now - t) / min(chunk, len(x) - s)
            if left and projected > budget:
                raise Skipped(projected, index.ntotal, now - t0)
        return index
    return build


def ivf_flat(x: np.ndarray):
    index = faiss.index_factory(x.shape[1], f"IVF{ann.nlist(len(x))},Flat", faiss.METRIC_INNER_PRODUCT)
    index.cp.min_points_per_centroid = ann.MIN_PER_LIST
    index.train(ann._training_sample(x))
    index.add(x)
    return index


def flat(x: np.ndarray):
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def _hnsw(ef: int):
    def apply(index):
        index.hnsw.efSearch = ef
        return index
    return apply


def _ivf(nprobe: int):
    def apply(index):
        faiss.extract_index_ivf(index).nprobe = nprobe
        return index
    return apply


def _refine(nprobe: int, k_factor: float | None):
    """k_factor None: search the IVF-PQ base alone, ranked by approximate PQ scores."""
    def apply(index):
        faiss.extract_index_ivf(index.base_index).nprobe = nprobe
        if k_factor is None:
            return index.base_index
        index.k_factor = k_factor
        return index
    return apply


def _as_built(index):
    return index


def contenders(n: int, hnsw_budget: float) -> list[tuple[str, str, object, list[tuple[str, object]]]]:
    """(name, build parameters, builder, [(search parameters, set them and return what to search)])."""
    nl = ann.nlist(n)
    mgqa_params = ann.ann_kind(n) + (f", nlist {nl}, nprobe {ann.nprobe(n, nl)}" if ann.ann_kind(n) != "flat" else "")
    return [
        ("flat", "IndexFlatIP", flat, [("exact", _as_built)]),
        ("HNSW", f"HNSWFlat M {HNSW_M}, efConstruction {HNSW_EFC}", hnsw(hnsw_budget),
         [(f"efSearch {ef}", _hnsw(ef)) for ef in (64, 128, 256)]),
        ("IVF-Flat", f"IVF{nl},Flat", ivf_flat,
         [(f"nprobe {p}", _ivf(p)) for p in (16, 32, 64, 128, 256)]),
        ("IVF-PQ + refine", f"IVF{nl},PQ{PQ_M}x8 + RefineFlat", ivf_pq_refine,
         [("nprobe 64, no refine (PQ scores)", _refine(64, None))]
         + [(f"nprobe {p}, k_factor {kf}", _refine(p, kf)) for p, kf in ((32, 10), (32, 20), (64, 20))]),
        ("**mgqa choice**", mgqa_params, ann.build_ann, [("as built", _as_built)]),
    ]


# ---------------------------------------------------------------- running


def run_size(n: int, mix: Mixture, seed: int, n_queries: int, hnsw_budget: float) -> list[dict]:
    rng = np.random.default_rng([seed, n])  # each size's data independent of what else runs
    print(f"\n# n = {n:,}", file=sys.stderr)
    t = time.perf_counter()
    x = mix.sample(n, rng)
    queries = mix.sample(n_queries, rng)  # held out: fresh draws from the same mixture
    print(f"generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    rows: list[dict] = []
    truth = None
    for name, params, builder, settings in contenders(n, hnsw_budget):
        gc.collect()
        before = rss()
        t = time.perf_counter()
        try:
            index = builder(x)
        except Skipped as skip:
            print(f"{name}: {skip}", file=sys.stderr)
            rows.append(dict(n=n, name=name, params=params, search=f"not run: {skip}", build=skip.projected))
            gc.collect()
            continue
        build = time.perf_counter() - t
        grown = rss() - before
        LOADS.append(os.getloadavg()[0])
        size = faiss.serialize_index(index).nbytes  # temporary copy, freed at once
        print(f"{name}: built in {build:.1f} s", file=sys.stderr)
        if truth is None:  # flat comes first: exact top-10 with a batched (BLAS) search
            truth = index.search(queries, RECALL_AT)[1]
        for label, setter in settings:
            times, ids = latencies(setter(index), queries)
            rows.append(dict(n=n, name=name, params=params, search=label, build=build, bytes=size,
                             rss=grown, p50=np.percentile(times, 50) * 1e3,
                             p99=np.percentile(times, 99) * 1e3, recall=recall(ids, truth)))
            print(f"  {label}: p50 {rows[-1]['p50']:.2f} ms, recall@10 {rows[-1]['recall']:.4f}", file=sys.stderr)
        del index
    del x
    return rows


def flat_sweep(mix: Mixture, seed: int, n_queries: int) -> list[tuple[int, float, float]]:
    """Flat p50/p99 at small n: where exact search stops being ~free (sets ann.FLAT_MAX)."""
    sizes = (10_000, 20_000, 30_000, 40_000, 50_000)
    rng = np.random.default_rng([seed, 0])
    x = mix.sample(max(sizes), rng)
    queries = mix.sample(n_queries, rng)
    out = []
    for n in sizes:
        times, _ = latencies(flat(x[:n]), queries)
        out.append((n, np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3))
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Python {platform.python_version()}, "
            f"faiss {faiss.__version__}, numpy {np.__version__}")


def report(rows: list[dict], sweep, args, started: datetime.datetime, took: float) -> str:
    lines = [
        "# Dense index at scale",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}. Took {took / 60:.1f} min.",
        f"1-minute load average after each build: {min(LOADS, default=0):.1f} to {max(LOADS, default=0):.1f} "
        f"on {os.cpu_count()} cores (above {os.cpu_count()}, other processes were competing for the CPU, "
        "so times are pessimistic).",
        f"Command: `{' '.join(['python'] + sys.argv)}`",
        "",
        f"Data: synthetic {DIM}-d unit vectors from a mixture of {args.clusters} Gaussian clusters "
        f"(Dirichlet(1) cluster sizes, anisotropic power-law noise, spread 1.5; seed {args.seed}; "
        "see `Mixture` in bench/scale.py). "
        f"Queries: {args.queries} fresh draws from the same mixture (not copies of database vectors).",
        "",
        f"Builds use all {os.cpu_count()} cores. Latency: one query at a time, 1 thread "
        f"(`faiss.omp_set_num_threads(1)`), k = {K} as mgqa asks; recall@{RECALL_AT} of the first "
        f"{RECALL_AT} against exact flat search. ×flat: multiple of flat's p50 / build time at the same n. "
        "Size: bytes of `faiss.serialize_index`; RSS: resident-memory growth during the build "
        "(approximate; the allocator may keep freed training memory).",
        "",
        "| n | index | build parameters | search parameters | build s | build ×flat | p50 ms | p99 ms "
        "| p50 ×flat | recall@10 | size MB | RSS +MB |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = next(b for b in rows if b["n"] == r["n"] and b["name"] == "flat")
        cells = [f"{r['n']:,}", r["name"], r["params"], r["search"]]
        if "p50" not in r:  # skipped: only the projected build time is known
            cells += [f"≈{r['build']:.0f} (projected)", f"≈{r['build'] / base['build']:.0f}"] + ["—"] * 6
        else:
            cells += [f"{r['build']:.1f}", f"{r['build'] / base['build']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}",
                      f"{r['p50'] / base['p50']:.3f}", f"{r['recall']:.4f}", f"{r['bytes'] / 1e6:.0f}",
                      f"{r['rss'] / 1e6:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if sweep:
        lines += ["", "Flat search latency at small n (1 thread, one query, k = 50), which sets "
                  f"`mgqa.ann.FLAT_MAX` = {ann.FLAT_MAX:,}:", "",
                  "| n | p50 ms | p99 ms |", "|---:|---:|---:|"]
        lines += [f"| {n:,} | {p50:.2f} | {p99:.2f} |" for n, p50, p99 in sweep]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hnsw-budget", type=float, default=600,
                   help="seconds; an HNSW build projected to take longer is stopped and reported as such")
    p.add_argument("--no-sweep", action="store_true", help="skip the small-n flat latency sweep")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    started, t0 = datetime.datetime.now(datetime.UTC), time.perf_counter()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    mix = Mixture.make(np.random.default_rng(args.seed), clusters=args.clusters)
    sweep = None if args.no_sweep else flat_sweep(mix, args.seed, args.queries)
    rows = [r for n in args.sizes for r in run_size(n, mix, args.seed, args.queries, args.hnsw_budget)]
    text = report(rows, sweep, args, started, time.perf_counter() - t0)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""What the parts of `mgqa bench` share: the plan, a figure and a section of the report, the question
sets, and small measuring helpers."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgqa import settings

PARTS = ("cold", "warm", "build", "scale", "serve", "workers")
TITLES = {  # each part's section in the report (`--only` replaces a part's rows and section by these)
    "cold": "Cold start",
    "warm": "Warm latency (in-process `Engine.ask`)",
    "build": "Index build",
    "scale": "Dense index at scale (synthetic 384-d vectors; `bench/scale.py`)",
    "serve": "Serving (`POST /api/ask` on loopback)",
    "workers": "Serving from several processes (`mgqa serve --workers N`)",
}
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"
MEDQUAD = settings.REPO_ROOT.parent / "shared" / "bench" / "medquad"


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or ``--quick`` (a smoke test's worth)."""

    cold_reps: int = 7  # `mgqa ask` processes
    import_reps: int = 5  # `import sentence_transformers` processes (4-15 s each)
    warm_rounds: int = 5  # passes over the gold questions
    medquad_queries: int = 200
    build_every: int = 16  # the build-vs-encode comparison uses every n-th MedQuAD document
    build_reps: int = 3
    rebuild_reps: int = 3
    scale_sizes: tuple[int, ...] = (100_000, 1_000_000)
    scale_queries: int = 200
    hnsw_budget: float = 300.0  # seconds; bench/scale.py stops an HNSW build projected to take longer
    scale_skip: tuple[str, ...] = ()  # contenders of bench/scale.py left out
    flat_sweep: bool = True
    clients: int = 50
    serve_seconds: float = 30.0
    solo_seconds: float = 5.0
    medquad: bool = True


QUICK = Plan(cold_reps=2, import_reps=1, warm_rounds=1, build_every=0, build_reps=1, rebuild_reps=1,
             scale_sizes=(5_000,), scale_queries=30, flat_sweep=False, scale_skip=("IVF-PQ + refine",),
             clients=8, serve_seconds=3.0, solo_seconds=1.0, medquad=False)


@dataclass
class Figure:
    """One row of the summary: a measured median against its same-run baseline and its target."""

    part: str
    name: str
    value: str
    baseline: str = "-"
    ratio: float | None = None
    target: str = "reported"
    met: bool | None = None  # None: reported, no target
    note: str = ""
    gap: str = ""  # why, with the measured figures, shown when the target is not met


@dataclass
class Section:
    """What one part contributes: summary rows and a detail section for the report."""

    part: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def median(xs) -> float:
    return float(statistics.median(xs))


def pct(xs, q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MB"


def kb(nbytes: float) -> str:
    return f"{nbytes / 2**10:,.0f} KB"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Keep one core busy with a spinning process, as another tenant would."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    ram = "? GiB"
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            ram = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM, {platform.system()} {platform.release()}"


def versions() -> str:
    import faiss
    import onnxruntime

    return (f"Python {platform.python_version()}, numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"faiss {faiss.__version__}")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return "?"


def gold_queries() -> list[tuple[str, list[str] | None]]:
    """The gold questions that reach retrieval (emergencies are answered before it)."""
    from mgqa.evaluate import load_gold

    return [(g["question"], None) for g in load_gold() if g["kind"] != "emergency" and not g.get("history")]


def medquad_index(encoder):
    """The MedQuAD index `mgqa eval --corpus` and `make train-judge` also use, built once and
    kept under MGQA_CACHE_DIR/eval."""
    from mgqa.evaluate import corpus_index

    print("bench: MedQuAD index (embedding ~38k passages takes 20-60 min on 2 cores the first time; "
          "not part of any figure)", file=sys.stderr)
    return corpus_index(MEDQUAD / "corpus.jsonl", encoder, Path(settings.get("cache_dir")))

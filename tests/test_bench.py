"""`mgqa bench`: the report's shape, and smoke runs of its parts (the full run is `make bench`)."""

import datetime
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mgqa import bench

REPO = Path(__file__).resolve().parents[1]


def test_report_marks_each_target_met_not_met_or_reported():
    sec = bench.Section("warm", "Warm latency", [
        bench.Figure("warm", "ask p50", "9.0 ms", "8.0 ms floor", 1.125, "≤ 1.5× floor", True),
        bench.Figure("warm", "encode, busy", "20 ms", "8.0 ms quiet", 2.5, "≤ 1.5× quiet", False, "why"),
        bench.Figure("warm", "memory", "300 MB"),
    ], ["detail line"])
    text = bench.report([sec], False, datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC), 90.0, "1.0")
    assert "| warm | ask p50 | 9.0 ms | 8.0 ms floor | 1.12× | ≤ 1.5× floor | **met** |" in text
    assert "| warm | encode, busy (why) | 20 ms | 8.0 ms quiet | 2.50× | ≤ 1.5× quiet | **not met** |" in text
    assert "| warm | memory | 300 MB | - | - | reported | - |" in text
    assert "2026-01-02 03:04 UTC" in text and " cores, " in text and "took 1.5 min" in text
    assert "## Warm latency\n\ndetail line" in text and "make bench" in text


def _report(parts: dict[str, str], when: datetime.datetime) -> str:
    """A report with one figure per part (``met`` or not) and its section."""
    sections = [bench.Section(part, bench.TITLES[part], [bench.Figure(part, f"{part} figure", value, met=value == "ok",
                                                                      target="ok", gap=f"{part} gap")],
                              [f"{part} details, {value}"]) for part, value in parts.items()]
    return bench.report(sections, False, when, 60.0, "1.0")


def test_a_part_run_alone_replaces_only_its_rows_and_section():
    full = _report({p: "ok" for p in bench.PARTS if p != "workers"} | {"warm": "slow"},
                   datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    again = _report({"warm": "ok", "workers": "slow"}, datetime.datetime(2026, 2, 2, tzinfo=datetime.UTC))
    merged = bench.merge(full, again, {"warm", "workers"})
    assert merged.startswith(full.split("| part |")[0])  # the full run's header stays
    rows = [line.split(" | ")[0].removeprefix("| ") for line in merged.splitlines() if line.startswith("| ")][1:]
    assert rows == list(bench.PARTS)  # one row each, in order: warm replaced, workers added
    assert "| warm | warm figure | ok |" in merged and "| cold | cold figure | ok |" in merged
    assert "warm details, ok" in merged and "warm details, slow" not in merged and "cold details, ok" in merged
    assert merged.count("## Targets not met") == 1 and "**workers: workers figure** — slow" in merged
    assert "**warm:" not in merged
    titles = [line[3:] for line in merged.splitlines() if line.startswith("## ")]
    assert titles == ["Targets not met", *(bench.TITLES[p] for p in bench.PARTS)]


def test_unknown_part_is_a_usage_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mgqa", "bench", "--only", "nope", "--out", str(tmp_path / "p.md")],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "unknown part nope" in r.stderr
    assert not (tmp_path / "p.md").exists()


def test_warm_latency_against_the_floor(engine):
    lat = bench.measure_warm(engine, [("What dose of magnesium?", None), ("and for sleep?", ["dose?"])], rounds=2)
    assert len(lat.ask) == len(lat.floor) == len(lat.encode) == 4
    assert all(f >= e > 0 for f, e in zip(lat.floor, lat.encode, strict=True))
    assert lat.ratio() > 0


def test_scale_part_runs_on_a_small_size(tmp_path):
    plan = replace(bench.QUICK, scale_sizes=(2_000,), scale_queries=10)
    (sec,) = bench.run(quick=True, out=tmp_path / "perf.md", only=["scale"], plan=plan)
    text = (tmp_path / "perf.md").read_text()
    assert "## Dense index at scale" in text and "| 2,000 | flat | IndexFlatIP | exact |" in text
    assert "**mgqa choice**" in text and "IVF-PQ" not in text
    assert sec.figures[0].value.endswith("ms p50")


@pytest.mark.slow
@pytest.mark.model
def test_quick_bench_runs_every_part(tmp_path):
    out = tmp_path / "PERFORMANCE.md"
    r = subprocess.run([sys.executable, "-m", "mgqa", "bench", "--quick", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    text = out.read_text()
    for title in ("Cold start", "Warm latency", "Index build", "Dense index at scale", "Serving"):
        assert f"## {title}" in text
    for part in bench.PARTS:
        assert f"| {part} | " in text
    assert "(0 failed, " in text  # serving: no request failed
    assert r.stdout.strip() == text.strip()

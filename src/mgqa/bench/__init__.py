"""`mgqa bench`: cold start, warm latency, index build, dense-index scale and serving.

Every figure is a median over repetitions, set against a floor or baseline measured in the same
run on the same machine (a shared, noisy machine moves both together), and checked against the
target from the performance issue. The table is printed and written to docs/PERFORMANCE.md.

One module per part (``cold``, ``warm``, ``build``, ``scale``, and ``serving`` for one server and
several), what they share in ``common``, the runner and the report in ``report``. Measured steps that need a clean process
(builds, for their peak memory) run as child processes (``child``): ``python -m mgqa.bench <task>
<json>`` prints one JSON object. The pipeline never imports this package; it imports the pipeline.
Parts import the pipeline's modules and heavy or optional libraries (faiss, psutil, httpx) inside
the functions that use them, so that a child process or an `--only` run loads only its part's.
"""

from mgqa.bench.common import PARTS, QUICK, TITLES, Figure, Plan, Section
from mgqa.bench.report import merge, report, run
from mgqa.bench.warm import measure_warm

__all__ = ["PARTS", "QUICK", "TITLES", "Figure", "Plan", "Section", "measure_warm", "merge", "report", "run"]

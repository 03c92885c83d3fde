"""The dense index: which FAISS structure, chosen by corpus size, and its search settings.

Vectors are L2-normalised float32, so inner product = cosine; every index here uses the
inner-product metric and ``index.search`` returns cosine similarities.

* ``flat`` (IndexFlatIP), up to FLAT_MAX vectors: exact search, exact scores.
* ``ivf`` (IndexIVFFlat), above that: approximate *recall* (a true neighbour in a list that was not
  probed can be missed) but the returned scores are exact cosines, because IVF-Flat keeps the
  full vectors and scores every vector it visits exactly. No PQ, so no approximate scores.

The numbers behind the thresholds come from ``bench/scale.py`` (results in ``docs/scale.md``),
measured on a 2-core AMD EPYC with faiss-cpu 1.15, 384-d vectors, one search thread.
"""

from __future__ import annotations

import math

import numpy as np

# Flat single-query p50 (1 thread, 384-d, k=50): 20k 1.0 ms, 30k 1.5-1.8 ms, 32k-40k 1.8-2.6 ms,
# 50k 3.3 ms, 100k 6.5 ms. It crosses ~2 ms between 32k and 40k; 30k keeps a margin, and below
# it exact search costs nothing worth trading recall for.
FLAT_MAX = 30_000

# IVF list count ~4*sqrt(n) (4096 at 1M). At 1M, IVF4096 probing 64 lists measured recall@10
# 0.998 at p50 1.6 ms; IVF2048 probing 32 lists (the same number of vectors scanned) only 0.9875
# at 2.0 ms, so the finer lists are worth their thinner training.
NPROBE = 64  # 32 gave 0.994 at 0.9 ms; 64 buys margin for real data that clusters less cleanly
TRAIN_MAX = 100_000  # k-means on a bounded sample keeps training ~1 min at 1M on 2 cores
MIN_PER_LIST = 20  # faiss asks for 39 per list; 24 (100k / 4096) measured fine, see above


def ann_kind(n: int) -> str:
    """What ``build_ann`` builds for ``n`` vectors: "flat" or "ivf"."""
    return "flat" if n <= FLAT_MAX else "ivf"


def nlist(n: int) -> int:
    """IVF list count: the power of two nearest 4*sqrt(n), capped so each list gets at least
    MIN_PER_LIST training vectors (4096 from 100k; beyond ~2M raise TRAIN_MAX with it)."""
    want = 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))
    cap = 2 ** int(math.log2(TRAIN_MAX // MIN_PER_LIST))
    return max(1, min(want, cap))


def build_ann(vectors: np.ndarray):
    """A searchable FAISS index over ``vectors`` (n x d, L2-normalised float32), ready to search.

    Scores are cosines: exact for both structures (see the module docstring); only the IVF
    index's recall is approximate.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)  # no copy when already so
    index = faiss.IndexFlatIP(x.shape[1]) if ann_kind(len(x)) == "flat" else _trained_ivf(x)
    index.add(x)
    configure_search(index)
    return index


def _trained_ivf(x: np.ndarray):
    import faiss

    d = x.shape[1]
    # faiss's Python wrapper keeps the quantizer alive with the index; with inner product the
    # IVF trains spherical k-means (unit-norm centroids), which suits unit vectors.
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist(len(x)), faiss.METRIC_INNER_PRODUCT)
    index.cp.min_points_per_centroid = MIN_PER_LIST  # else faiss warns on every build
    index.train(_training_sample(x))
    return index


def _training_sample(x: np.ndarray) -> np.ndarray:
    # Fixed seed: rebuilding the same corpus gives the same lists. Sorted rows read memory in order.
    if len(x) <= TRAIN_MAX:
        return x
    rows = np.sort(np.random.default_rng(0).choice(len(x), TRAIN_MAX, replace=False))
    return x[rows]


def configure_search(index) -> None:
    """Set search-time parameters on an index just built or read with ``faiss.read_index``.

    Older faiss versions do not persist nprobe, and setting it here means a change to NPROBE
    takes effect without rebuilding the index. Flat indexes have nothing to set.
    """
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = min(NPROBE, ivf.nlist)

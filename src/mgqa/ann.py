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

# Flat single-query p50 (1 thread, 384-d, k=50; docs/scale.md): 10k 0.3 ms, 20k 0.9-1.0 ms,
# 30k 1.5-1.9 ms, 40k 2.3-2.9 ms, 50k 3.3-3.8 ms, 100k 6.5-7 ms. It passes 2 ms between 30k and
# 40k; below 30k exact search is cheap enough that trading recall for speed is not worth it.
FLAT_MAX = 30_000

# IVF: ~4*sqrt(n) lists (4096 at 1M), probing as many as it takes to compare ~SCAN vectors a
# query, so latency stays ~1-2 ms from FLAT_MAX to 1M. Recall@10 at this budget (bench data):
# 100k 0.968 (p50 1.5 ms), 1M 0.987 (p50 2.3 ms, on a loaded machine); exploratory runs 40k 0.985,
# 300k 0.989. Half the budget gave 0.952 at 100k. At 1M, 2048 lists with the same scan reached
# only 0.988 where 4096 reached 0.998 (another mixture), so finer lists beat thicker training.
SCAN = 16_384
NPROBE_MIN = 64  # past ~1M the 4096 lists (capped by TRAIN_MAX) grow long: keep recall, let latency grow
TRAIN_MAX = 100_000  # bounded k-means sample: training ~40 s at 1M on 2 cores, whole build 1.5-3 min
MIN_PER_LIST = 20  # faiss asks for 39 per list; 24 (100k / 4096 lists) measured fine, see above
# A rebuild keeps the previous lists' centroids (training is most of an IVF build: ~2 s at 40k)
# until the vectors added since they were trained pass this share of the corpus: a few edited
# documents hardly move k-means centroids, and recall is re-measured at every full build.
RETRAIN_AFTER = 0.10


def ann_kind(n: int) -> str:
    """What ``build_ann`` builds for ``n`` vectors: "flat" or "ivf"."""
    return "flat" if n <= FLAT_MAX else "ivf"


def nlist(n: int) -> int:
    """IVF list count: the power of two nearest 4*sqrt(n), capped so each list gets at least
    MIN_PER_LIST training vectors (4096 from 100k; beyond ~2M raise TRAIN_MAX with it)."""
    want = 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))
    cap = 2 ** int(math.log2(TRAIN_MAX // MIN_PER_LIST))
    return max(1, min(want, cap))


def nprobe(n: int, lists: int) -> int:
    """Lists to probe so a query compares ~SCAN of the n vectors (at least NPROBE_MIN)."""
    return min(lists, max(NPROBE_MIN, math.ceil(SCAN * lists / max(n, 1))))


def build_ann(vectors: np.ndarray, centroids: np.ndarray | None = None):
    """A searchable FAISS index over ``vectors`` (n x d, L2-normalised float32), ready to search.

    Scores are cosines: exact for both structures (see the module docstring); only the IVF
    index's recall is approximate. ``centroids`` (from ``centroids_of`` on the previous build)
    replace IVF training when they fit this corpus's list count.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)  # no copy when already so
    if ann_kind(len(x)) == "flat":
        index = faiss.IndexFlatIP(x.shape[1])
    elif centroids is not None and fits(centroids, x):
        index = _ivf(centroids)
    else:
        index = _trained_ivf(x)
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


def _ivf(centroids: np.ndarray):
    """An empty IVF-Flat index whose lists are the given centroids (no training)."""
    import faiss

    n, d = centroids.shape
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
    index = faiss.IndexIVFFlat(quantizer, d, n, faiss.METRIC_INNER_PRODUCT)
    index.is_trained = True  # IVF-Flat's training is exactly its quantizer's centroids
    return index


def fits(centroids: np.ndarray | None, vectors: np.ndarray) -> bool:
    """Whether ``build_ann(vectors, centroids)`` uses those centroids (the list count still fits)."""
    return (centroids is not None and ann_kind(len(vectors)) == "ivf"
            and centroids.shape == (nlist(len(vectors)), vectors.shape[1]))


def centroids_of(index) -> np.ndarray | None:
    """The IVF lists' centroids of a built index (None for flat)."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return None
    return ivf.quantizer.reconstruct_n(0, ivf.nlist)


def keep_training(training: dict | None, n: int, embedded: int) -> bool:
    """Whether a rebuild of ``n`` vectors, ``embedded`` of them new, may keep the previous lists.

    ``training`` is the previous manifest's record: how many vectors have been added since the
    lists were trained.
    """
    if not training or ann_kind(n) == "flat":
        return False
    return int(training.get("added_since", 0)) + embedded <= RETRAIN_AFTER * n


def _training_sample(x: np.ndarray) -> np.ndarray:
    # Fixed seed: rebuilding the same corpus gives the same lists. Sorted rows read memory in order.
    if len(x) <= TRAIN_MAX:
        return x
    rows = np.sort(np.random.default_rng(0).choice(len(x), TRAIN_MAX, replace=False))
    return x[rows]


def configure_search(index) -> None:
    """Set search-time parameters on an index just built or read with ``faiss.read_index``.

    Older faiss versions do not persist nprobe, and setting it here means a change to SCAN
    takes effect without rebuilding the index. Flat indexes have nothing to set.
    """
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = nprobe(ivf.ntotal, ivf.nlist)

"""Distances to the nearest training rows: the neighbour part of a detector's score.

A row unlike the training rows lies far from its nearest training rows. The
mean Euclidean distance to the ``k`` nearest rows of a *reference* -- a uniform
random sample of at most ``MAX_REFERENCE_ROWS`` training rows -- is the
k-nearest-neighbour outlier score of Ramaswamy et al. (2000) and Angiulli and
Pizzuti (2002). A small reference keeps the cost linear in the rows scored and
in the columns, and a subsample is known to lose nothing as a reference for
outlier scores (Zimek et al., 2013, "Subsampling for efficient and effective
unsupervised outlier detection"); on the ADBench tables of
``benchmarks/bench_adbench.py`` 1,000, 2,000 and 5,000 reference rows gave
the same mean ROC-AUC as all training rows (within 0.004, both halves; the
detector's mean over the six cells: 0.7719, 0.7721, 0.7701 and 0.7703), and
1,000 rows halve the cost of scoring against 2,000.

A row that *is* a reference row (exactly equal to it) would find itself at
distance 0: its score leaves that one reference row out. So a training row
scores as if it were new, ``score_samples`` of the training rows are the
scores that calibrate the threshold, and a row's score does not depend on the
rows scored with it.

Nothing here knows about estimators: these are functions of arrays.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._parallel import map_on_demand, openmp_threads

#: Largest reference: rows beyond it are a uniform random sample.
MAX_REFERENCE_ROWS = 1_000


def reference_indices(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row numbers of the reference among ``n_samples`` training rows."""
    if n_samples <= MAX_REFERENCE_ROWS:
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, size=MAX_REFERENCE_ROWS, replace=False))


def effective_neighbors(n_neighbors: int, n_reference: int) -> int:
    """``n_neighbors``, at most the reference rows other than a row itself."""
    return max(1, min(n_neighbors, n_reference - 1))


def build_index(reference: np.ndarray, n_neighbors: int) -> NearestNeighbors:
    """An exact nearest-neighbour index over the reference rows."""
    k = effective_neighbors(n_neighbors, len(reference))
    return NearestNeighbors(n_neighbors=min(k + 1, len(reference))).fit(reference)


def mean_distances(
    index: NearestNeighbors, reference: np.ndarray, rows: np.ndarray, n_neighbors: int
) -> np.ndarray:
    """Mean distance of each row to its ``n_neighbors`` nearest reference rows.

    Parameters
    ----------
    index : NearestNeighbors
        From :func:`build_index` over ``reference``.
    reference : ndarray of shape (n_reference, n_features)
        The reference rows.
    rows : ndarray of shape (n_rows, n_features)
        Rows to score, in the reference's space.
    n_neighbors : int
        Neighbours averaged (fewer when the reference is smaller).

    Returns
    -------
    distances : ndarray of shape (n_rows,)
        A row equal to a reference row is scored without that row.
    """
    k = effective_neighbors(n_neighbors, len(reference))
    distances, neighbors = _kneighbors(index, rows, min(k + 1, len(reference)))
    if distances.shape[1] == k:  # a reference of one row: nothing to leave out
        return distances.mean(axis=1)
    # Exact equality, not a distance of 0: rounding in the distance kernel can
    # leave a row's distance to itself slightly above 0.
    itself = np.all(rows == reference[neighbors[:, 0]], axis=1)
    return np.where(itself, distances[:, 1:].mean(axis=1), distances[:, :k].mean(axis=1))


#: Rows of one block of a neighbour search shared among threads (``_kneighbors``).
SEARCH_ROWS = 4096


def _kneighbors(index: NearestNeighbors, rows: np.ndarray, n_query: int):
    """``index.kneighbors(rows, n_query)``, its blocks shared among threads on demand.

    scikit-learn splits a search's rows evenly among its OpenMP threads, so
    the search ends with its slowest thread: when another process holds one
    of two cores, two threads took longer than one (1,000,000 x 20 scored in
    9.1 s against 6.8 s). Here as many Python threads as scikit-learn would
    use OpenMP threads take ``SEARCH_ROWS`` blocks in turn, one OpenMP thread
    each, so a thread on a busy core simply does fewer blocks. The results
    are identical: every row's search is the same whoever runs it.
    """
    # Small searches (every ADBench table) skip the thread count's lookup.
    threads = 1 if rows.shape[0] < 2 * SEARCH_ROWS else openmp_threads()
    if threads == 1:
        return index.kneighbors(rows, n_neighbors=n_query)

    def search(start: int):
        return index.kneighbors(rows[start : start + SEARCH_ROWS], n_neighbors=n_query)

    parts = map_on_demand(search, range(0, rows.shape[0], SEARCH_ROWS), threads)
    return (
        np.concatenate([distances for distances, _ in parts]),
        np.concatenate([neighbors for _, neighbors in parts]),
    )

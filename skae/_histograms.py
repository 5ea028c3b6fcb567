"""Per-column histograms: the histogram part of a detector's score.

A row whose values fall in rarely filled bins of their columns' training
histograms is unusual column by column, even when it lies close to a few other
training rows (a small cluster of anomalies hides from a nearest-neighbour
distance, not from the histograms). The score is that of HBOS (Goldstein and
Dengel, 2012, "Histogram-based Outlier Score"), as PyOD computes it by default
(10 equal-width bins between the training minimum and maximum, a regulariser
``alpha``, and a value within half a bin beyond the range counted in the edge
bin), on bin *shares* rather than densities: ``-sum_j log(p_j + ALPHA)``, with
``p_j`` the share of training rows in the row's bin of column ``j``. Shares do
not depend on the columns' units, and ``ALPHA = 0.01`` is PyOD's ``alpha=0.1``
on columns scaled to [0, 1]. A value further outside the training range counts
as the rarest bin of its column: one extreme value weighs no more than one
empty bin (the neighbour part sees how extreme it is). A constant column adds
nothing.

Nothing here knows about estimators: these are functions of arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: Equal-width bins per column (PyOD's default).
N_BINS = 10
#: Added to each bin's share before the logarithm: an empty bin weighs
#: ``-log(ALPHA)``, not infinity, so that no single column decides the score.
ALPHA = 0.01
#: A value at most this many bin widths beyond the training range counts in
#: the edge bin (PyOD's ``tol``).
TOLERANCE = 0.5
#: Cells scored at once.
BLOCK_CELLS = 1 << 16


def fit_histograms(U: np.ndarray, n_bins: int = N_BINS) -> dict:
    """Equal-width histograms of the columns of the training rows ``U``.

    ``U``: float rows without missing cells (fill them first). Returns the
    columns' lower edges (``low``), bin widths (``width``, 0 for a constant
    column) and each bin's ``log(share + ALPHA)`` (``log_shares``, of shape
    ``(n_columns, n_bins)``).
    """
    return histograms_from(lambda: iter([U]), n_bins)


def histograms_from(
    chunks: Callable[[], Iterable[np.ndarray]], n_bins: int = N_BINS
) -> dict:
    """``fit_histograms`` of the rows that ``chunks()`` yields, chunk by chunk.

    ``chunks`` is called twice: one pass finds each column's range, the other
    counts the rows in its bins, so the rows are never held whole.
    """
    low = high = None
    for U in chunks():
        U = np.asarray(U, dtype=np.float64)
        if not len(U):
            continue
        lo, hi = U.min(axis=0), U.max(axis=0)
        low = lo if low is None else np.minimum(low, lo)
        high = hi if high is None else np.maximum(high, hi)
    if low is None:
        raise ValueError("Histograms need at least one row.")
    width = (high - low) / n_bins
    counts = np.zeros((len(low), n_bins))
    n_samples = 0
    for U in chunks():
        bins = _bin_of(np.asarray(U, dtype=np.float64), low, width, n_bins)
        for column in range(bins.shape[1]):
            counts[column] += np.bincount(bins[:, column], minlength=n_bins)
        n_samples += len(bins)
    log_shares = np.log(counts / n_samples + ALPHA)
    log_shares[width == 0] = 0.0  # a constant column adds nothing
    return {"low": low, "width": width, "log_shares": log_shares}


def _positions(U: np.ndarray, low: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Each value's position in bin widths from its column's lower edge
    (0 throughout a constant column)."""
    inverse = np.divide(1.0, width, out=np.zeros_like(width), where=width > 0)
    position = U - low
    position *= inverse
    return position


def _bin_of(U: np.ndarray, low: np.ndarray, width: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin number of each value, clamped to ``[0, n_bins - 1]``."""
    return _bins(_positions(U, low, width), n_bins)


def _bins(position: np.ndarray, n_bins: int) -> np.ndarray:
    # Clamped to [0, n_bins - 1] first, where truncation is floor.
    bins = np.minimum(position, n_bins - 1)
    np.maximum(bins, 0, out=bins)
    return bins.astype(np.intp)


def histogram_scores(histograms: dict, U: np.ndarray) -> np.ndarray:
    """``-sum_j log(share + ALPHA)`` of each row of ``U`` (higher = rarer)."""
    U = np.asarray(U, dtype=np.float64)
    scores = np.empty(U.shape[0])
    # Blocks of about BLOCK_CELLS cells: temporaries of a few hundred kB are
    # reused by the allocator, where those of a whole 16,384-row chunk are
    # fresh pages every time (three times slower on 20 columns).
    rows = max(1, BLOCK_CELLS // max(U.shape[1], 1))
    for start in range(0, U.shape[0], rows):
        scores[start : start + rows] = _block_scores(histograms, U[start : start + rows])
    return scores


def _block_scores(histograms: dict, U: np.ndarray) -> np.ndarray:
    log_shares = histograms["log_shares"]
    n_columns, n_bins = log_shares.shape
    position = _positions(U, histograms["low"], histograms["width"])
    bins = _bins(position, n_bins)
    bins += np.arange(n_columns) * n_bins  # into the flattened table
    terms = np.take(log_shares.ravel(), bins)
    # Beyond the tolerance outside the training range: the rarest bin.
    outside = (position < -TOLERANCE) | (position > n_bins + TOLERANCE)
    np.copyto(terms, log_shares.min(axis=1), where=outside)
    return -terms.sum(axis=1)

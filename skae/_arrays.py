"""Validated numeric input as skae computes on it: float32, its range, its missing cells.

Helpers on dense NumPy arrays and SciPy sparse matrices, used once scikit-learn's
``check_array`` has accepted the input: the float32 cast that refuses overflow
(:func:`to_float32`), value ranges computed without a copy, and the per-column
statistics of the observed (non-NaN) cells that give missing cells their fill
values. pandas' ``pd.NA`` becomes NaN before validation (:func:`na_to_nan`).

This module knows nothing of the estimators, torch or skorch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

FLOAT32_MAX = float(np.finfo(np.float32).max)

# Training computes squared errors, their sums and Adam's squared gradients in
# float32: values beyond ~sqrt(float32 max) / 1e4 (about 1.8e15) can overflow them.
MAX_TRAINING_MAGNITUDE = float(np.sqrt(FLOAT32_MAX)) / 1e4


def value_range(X) -> tuple[float, float]:
    """``(min, max)`` of the observed (non-NaN) values of dense or sparse ``X``.

    Two reductions, without allocating a copy; the NaN-skipping reductions run
    only when a NaN is present. A sparse matrix's implicit zeros count; no
    observed value gives ``(0, 0)``.
    """
    values = X.data if sp.issparse(X) else X
    if not values.size:
        low = high = 0.0
    else:
        low, high = float(values.min()), float(values.max())
        if math.isnan(low) or math.isnan(high):
            if np.isnan(values).all():
                low = high = 0.0
            else:
                low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if sp.issparse(X) and X.nnz < X.shape[0] * X.shape[1]:
        low, high = min(low, 0.0), max(high, 0.0)
    return low, high


def largest_magnitude(X) -> float:
    """``max |X|`` over the observed cells, without allocating ``np.abs(X)``.

    This runs on every ``transform`` of float64 input, where a temporary copy of
    ``X`` cost as much as the forward pass itself.
    """
    low, high = value_range(X)
    return max(-low, high)


def has_missing(X) -> bool:
    """Whether dense or sparse ``X`` has a missing cell (NaN), in one reduction."""
    values = X.data if sp.issparse(X) else X
    return bool(values.size) and bool(np.isnan(values.min()))


def to_float32(X):
    """Cast validated input to float32 (the precision skae trains in), refusing overflow.

    Sparse input stays sparse (CSR); NaN (missing cells) stay NaN.
    """
    if sp.issparse(X):
        if X.format != "csr":
            X = X.tocsr()
        if X.dtype == np.float32:
            return X
    elif X.dtype == np.float32:
        return X
    if largest_magnitude(X) > FLOAT32_MAX:
        raise ValueError(
            "Input X contains values larger in magnitude than float32 can hold "
            f"(about {FLOAT32_MAX:.1e}); skae computes in float32. Rescale X, for "
            "example with sklearn.preprocessing.StandardScaler."
        )
    return X.astype(np.float32)


def na_to_nan(X):
    """pandas' ``pd.NA`` as NaN, so that numeric data with missing cells validate.

    Nullable numeric columns (``Float64``, ``Int64``) scikit-learn converts
    itself; ``object`` columns (and object arrays) holding numbers and
    ``pd.NA`` it cannot, so their ``pd.NA`` become NaN here. Anything else is
    returned as given (strings still get scikit-learn's error).
    """
    if isinstance(X, pd.DataFrame):
        objects = [c for c, dtype in X.dtypes.items() if dtype == np.dtype(object)]
        if not objects:
            return X
        X = X.copy()
        for column in objects:
            values = X[column]
            X[column] = values.where(values.notna(), np.nan)
        return X
    if isinstance(X, np.ndarray) and X.dtype == object:
        return np.where(pd.isna(X), np.nan, X)
    return X


def column_fill_stats(X) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-column sums and counts of the observed cells, and whether any is missing.

    Dense or CSR ``X``; float64 sums. Only input with missing cells pays for a
    mask.
    """
    n_samples, n_features = X.shape
    if sp.issparse(X):
        data = X.data
        missing = np.isnan(data)
        values = np.where(missing, 0.0, data) if missing.any() else data
        sums = np.bincount(X.indices, weights=values, minlength=n_features)
        n_missing = np.bincount(X.indices[missing], minlength=n_features)
        return sums, n_samples - n_missing, bool(missing.any())
    if not has_missing(X):
        return X.sum(axis=0, dtype=np.float64), np.full(n_features, n_samples), False
    observed = ~np.isnan(X)
    sums = np.where(observed, X, 0).sum(axis=0, dtype=np.float64)
    return sums, observed.sum(axis=0), True


def fill_from_stats(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Column means of the observed cells; 0 for a column with none."""
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)

"""Threshold rules for outlier detectors: functions of score arrays only.

Every rule takes ``score_samples`` values (higher = more normal) and returns the
``offset_`` below which a row is called an outlier (``score < offset``), the
convention of :class:`sklearn.ensemble.IsolationForest`. Nothing here knows
about networks or estimators, so changing a threshold never retrains anything.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

# Scales the median absolute deviation to the standard deviation of a normal
# distribution, so that ``k`` reads as "robust standard deviations".
MAD_TO_STD = 1.482602218505602


def offset_from_contamination(scores: np.ndarray, contamination: float) -> float:
    """Offset that flags the ``contamination`` share of ``scores`` (lowest first).

    Same rule as :class:`~sklearn.ensemble.IsolationForest`: the
    ``100 * contamination`` percentile of the scores.
    """
    return float(np.percentile(scores, 100.0 * contamination))


def offset_from_mad(scores: np.ndarray, k: float) -> float:
    """Robust rule ``median - k * MAD`` on scores (``median + k * MAD`` on errors).

    ``MAD`` is the median absolute deviation scaled by 1.4826, which estimates
    the standard deviation for normally distributed scores while ignoring the
    few extreme rows that it is meant to find.
    """
    median = np.median(scores)
    mad = MAD_TO_STD * np.median(np.abs(scores - median))
    return float(median - k * mad)


def robust_log_z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores ``(t - median(t)) / MAD(t)`` of ``t = log(values)``.

    On the raw scale when some value is not positive (no log). A zero MAD
    (tied values) falls back to the standard deviation, then to 1.
    """
    t = np.asarray(values, dtype=np.float64)
    if t.min() > 0:
        t = np.log(t)
    median = np.median(t)
    mad = MAD_TO_STD * np.median(np.abs(t - median))
    if not mad > 0:
        mad = float(np.std(t)) or 1.0
    return (t - median) / mad


def auto_contamination(
    parts: list[np.ndarray],
    weights: list[float],
    k: float,
    min_share: float = 0.005,
    max_share: float = 0.03,
) -> float:
    """Estimated share of anomalies among training rows, from their raw scores.

    Each part (an anomaly score of the training rows: a reconstruction error,
    a distance) becomes a robust z-score on the log scale
    (:func:`robust_log_z`); the estimate is the share of rows whose weighted
    combination ``sum_i w_i z_i / sqrt(sum_i w_i ** 2)`` exceeds ``k``, kept
    within ``[min_share, max_share]``. Rows far beyond the bulk (planted
    anomalies) all count, up to ``max_share``; the bounds keep the false
    alarms on clean data within them although the log-scale parts of real
    tables are heavier-tailed than normal (see ``bench_adbench.py
    --false-alarms``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    z = sum(w * robust_log_z(p) for w, p in zip(weights, parts, strict=True))
    z = z / np.sqrt(np.sum(weights**2))
    return float(np.clip(np.mean(z > k), min_share, max_share))


def offset_from_false_alarm_rate(
    scores_normal: np.ndarray, false_alarm_rate: float
) -> float:
    """Offset that flags about ``false_alarm_rate`` of rows known to be normal.

    The ``false_alarm_rate`` quantile of their scores (linear interpolation, as
    for the contamination rule).
    """
    return float(np.quantile(scores_normal, false_alarm_rate))


def check_anomaly_labels(y) -> np.ndarray:
    """Validate labels where 1 marks an anomaly and 0 a normal row."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of 0/1 labels, got shape {y.shape}.")
    if y.dtype == bool:
        y = y.astype(int)
    if y.dtype.kind not in "iuf" or not np.all(np.isin(y, (0, 1))):
        values = np.unique(y)[:5]
        hint = (
            " scikit-learn's predict() convention (-1 = outlier, +1 = inlier) is not "
            "accepted here; pass (y == -1).astype(int)."
            if np.any(values == -1)
            else ""
        )
        raise ValueError(
            f"y must contain only 1 (anomaly) and 0 (normal); got values {values}.{hint}"
        )
    y = y.astype(int)
    if y.min() == y.max():
        raise ValueError(
            "y must contain at least one anomaly (1) and one normal row (0) to "
            "choose a threshold."
        )
    return y


def offset_from_labels(
    scores: np.ndarray, y: np.ndarray, min_precision: float | None
) -> float:
    """Offset chosen on labelled rows (``y == 1`` marks anomalies).

    With ``min_precision=None`` the offset maximises the F1 score of the
    anomaly class on these rows; otherwise it is the most permissive offset
    (highest recall) whose precision is at least ``min_precision``. The offset
    is placed halfway between the last flagged score and the next one up, so it
    does not sit exactly on a labelled row.
    """
    anomaly_score = -np.asarray(scores, dtype=np.float64)
    prec, rec, thresholds = precision_recall_curve(y, anomaly_score)
    # precision_recall_curve's last point (recall 0) has no threshold.
    prec, rec = prec[:-1], rec[:-1]
    if min_precision is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
        best = int(np.argmax(f1))
    else:
        reaching = np.flatnonzero(prec >= min_precision)
        if reaching.size == 0:
            raise ValueError(
                f"No threshold reaches min_precision={min_precision} on these "
                "labelled rows; the best precision any threshold gives is "
                f"{prec.max():.3f}."
            )
        best = int(reaching[np.argmax(rec[reaching])])
    # Rows with anomaly_score >= thresholds[best] are flagged, i.e. scores <= -t.
    cut = -float(thresholds[best])
    above = scores[scores > cut]
    if above.size:
        return float((cut + above.min()) / 2)
    return float(np.nextafter(cut, np.inf))

"""AnomalyDetector: scikit-learn's outlier-detector API around any skae autoencoder."""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _thresholds
from ._anomaly_defaults import AUTO_MAD_K, default_estimator
from ._base import state_restored_on_failure, to_float32
from ._persistence import PersistenceMixin

# Spread below which a column counts as constant (as in scikit-learn's scalers).
_FLAT = 10 * np.finfo(np.float64).eps
# Combined log-scale scores are capped here so that exp() stays finite.
_MAX_LOG_SCORE = 700.0


def fit_robust_scaler(X: np.ndarray) -> RobustScaler:
    """Median/IQR scaling to unit variance, safe for (nearly) constant columns.

    A column whose interquartile range is zero (constant, or mostly one value
    such as a rare binary flag) is scaled by its standard deviation instead, and
    a truly constant column by 1, so no column divides by zero.
    """
    scaler = RobustScaler(unit_variance=True).fit(X)
    q25, q75 = np.percentile(X, [25, 75], axis=0)
    flat = (q75 - q25) < _FLAT
    if flat.any():
        std = X[:, flat].std(axis=0)
        scaler.scale_[flat] = np.where(std < _FLAT, 1.0, std)
    return scaler


def fit_log_standardiser(values: np.ndarray) -> tuple[bool, float, float, float]:
    """Statistics that put training anomaly scores on a standard scale.

    Non-negative scores (errors, distances) are compared on a log scale, where
    their long right tail becomes roughly symmetric; scores that can be
    negative (an evidence lower bound, say) are used as they are. Returns
    ``(use_log, eps, mean, std)`` for :func:`log_standardise`.
    """
    use_log = bool(values.min() >= 0)
    eps = 1e-6 * float(np.mean(values)) + 1e-12 if use_log else 0.0
    v = np.log(values + eps) if use_log else values
    return use_log, eps, float(v.mean()), float(v.std())


def log_standardise(values: np.ndarray, stats: tuple[bool, float, float, float]):
    """Standardise scores with statistics from :func:`fit_log_standardiser`."""
    use_log, eps, mean, std = stats
    v = np.log(np.maximum(values, 0) + eps) if use_log else values
    return (v - mean) / (std + 1e-12)


class AnomalyDetector(PersistenceMixin, OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detection from an autoencoder's reconstruction.

    The detector scales the columns robustly, trains an autoencoder to
    reconstruct the (unlabelled) training rows, and scores each row by how well
    the network reconstructs it -- rows unlike the bulk of the data are
    reconstructed badly -- and, by default, by how far it lies from the column
    medians. It follows scikit-learn's outlier-detector contract,
    like :class:`~sklearn.ensemble.IsolationForest`: ``score_samples`` (higher
    means more normal), ``decision_function = score_samples - offset_``
    (negative means outlier) and ``predict`` in {+1 inlier, -1 outlier}.

    **Scaling.** Columns on wildly different scales would otherwise let one
    column dominate the error, so every column is centred and scaled inside
    the detector (``scaler="robust"``: median and interquartile range,
    normalised to unit variance for normal data, which the anomalies in the
    training data barely move). A column whose interquartile range is zero is
    scaled by its standard deviation, a constant column by 1. Scaled values are
    then clipped to ``[-clip, clip]``: one wild value counts as an extreme
    value, but cannot swamp the rest of the row or the network's training.

    **Scores.** Two anomaly scores are computed on the scaled rows ``z``:

    * ``e``, minus the inner estimator's ``score_samples``: the mean squared
      reconstruction error for :class:`~skae.AutoencoderTransformer` (and a
      denoising autoencoder), the per-row negative evidence lower bound for a
      variational autoencoder, whose score is probabilistic;
    * ``d = mean(z ** 2)``, the row's distance from the column medians in
      robust standard deviations (from the scaled origin with another
      ``scaler``).

    Each is standardised against the training rows on a log scale
    (``s = (log x - mean) / std`` over training rows; a score that can be
    negative is standardised as it is) and ``score_samples`` is
    ``-exp((1 - w) * s_e + w * s_d)`` with ``w = distance_weight``: minus a
    weighted geometric mean of the two, relative to their typical training
    values. With ``distance_weight=0`` it is simply ``-e``, the inner
    estimator's own score. :meth:`reconstruction_error` and :meth:`explain`
    always use squared reconstruction errors, whatever the inner estimator.

    **Thresholds.** ``offset_`` is set at fit from ``contamination`` and can be
    changed afterwards *without retraining* by the ``set_threshold_from_*``
    methods (a share of training rows, a robust median + k MAD rule, a false
    alarm rate on rows known to be normal, or a few labelled rows).

    Parameters
    ----------
    estimator : skae autoencoder, default=None
        The (unfitted) autoencoder to train; it is cloned at fit. Any estimator
        with ``fit``, ``score_samples`` and ``reconstruct`` works, such as
        :class:`~skae.AutoencoderTransformer`. ``None`` builds an
        ``AutoencoderTransformer`` sized from the data by
        ``skae._anomaly_defaults.default_estimator``: one hidden layer of
        ``max(8, 2 * n_features)`` units, a code of ``max(2, n_features // 4)``
        units, batch normalisation, and about 500 mini-batches of 128 rows
        (``skae._anomaly_defaults`` holds every default in one place). Nested
        parameters tune
        in :class:`~sklearn.model_selection.GridSearchCV` when an estimator is
        given, e.g. ``estimator__n_components``.
    contamination : "auto" or float, default="auto"
        How ``offset_`` is set at fit. A float in (0, 0.5] flags that share of
        the training rows. ``"auto"`` flags rows whose anomaly score
        (``-score_samples``) exceeds the median plus 3.5 median absolute
        deviations (scaled to a standard deviation) of the training rows'
        scores -- the same as ``set_threshold_from_mad(k=3.5)``.
    scaler : {"robust", "standard", "minmax"}, transformer or None, \
            default="robust"
        Column scaling applied before the network. ``"robust"`` is described
        above; ``"standard"`` and ``"minmax"`` are scikit-learn's
        ``StandardScaler`` and ``MinMaxScaler``; a transformer is cloned and
        used as given; ``None`` feeds the raw columns.
    clip : float or None, default=5.0
        Scaled values are clipped to ``[-clip, clip]`` (for ``"minmax"``, to
        ``[-clip, 1 + clip]``) before training and scoring. ``None`` disables
        clipping.
    distance_weight : float in [0, 1], default=0.5
        Weight of the distance from the column medians in the score (see
        above); 0 scores by the inner estimator alone.
    random_state : int, RandomState instance or None, default=None
        Seeds the default network and, when the given estimator's own
        ``random_state`` is None, that estimator.

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner autoencoder (trained on scaled rows).
    scaler_ : transformer or None
        The fitted column scaler.
    offset_ : float
        Threshold on ``score_samples``: rows scoring below it are outliers.
    train_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training rows.
    reconstruction_scale_, distance_scale_ : tuple
        ``(use_log, eps, mean, std)`` that put the training rows'
        reconstruction part and distance part of the score on a common scale
        before they are mixed (see ``distance_weight``).
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based outlier detector with the
        same API.
    skae.AutoencoderTransformer : The default inner model.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AnomalyDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    >>> X[0] = [8.0, -8.0, 8.0, -8.0]  # a planted outlier
    >>> detector = AnomalyDetector(random_state=0).fit(X)
    >>> int(detector.predict(X[:1])[0])
    -1
    >>> bool(detector.decision_function(X[:1])[0] < 0)
    True
    >>> detector.explain(X[:1]).columns.tolist()
    ['x0', 'x1', 'x2', 'x3']
    >>> _ = detector.set_threshold_from_contamination(0.05)  # no retraining
    >>> int((detector.predict(X) == -1).sum())
    10
    """

    _parameter_constraints: dict = {
        "estimator": [None, HasMethods(["fit", "score_samples", "reconstruct"])],
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
        "scaler": [
            StrOptions({"robust", "standard", "minmax"}),
            HasMethods(["fit", "transform"]),
            None,
        ],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "distance_weight": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination="auto",
        scaler="robust",
        clip=5.0,
        distance_weight=0.5,
        random_state=None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.scaler = scaler
        self.clip = clip
        self.distance_weight = distance_weight
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------
    @_fit_context(
        # The inner estimator's parameters are validated by its own fit.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None):
        """Scale ``X``, train the autoencoder on it and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, without labels; they may contain some anomalies.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted detector.
        """
        with state_restored_on_failure(self):
            self._fit(X)
        return self

    def _fit(self, X) -> None:
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        self.scaler_ = self._fit_scaler(X)
        Z = self._scale(X)
        estimator = self._make_estimator(*Z.shape)
        self.estimator_ = estimator.fit(Z)
        # Put both parts of the score on the scale of the training rows.
        self.reconstruction_scale_ = fit_log_standardiser(self._reconstruction_part(Z))
        self.distance_scale_ = fit_log_standardiser(self._distance_part(Z))
        self.train_scores_ = self._score_scaled(Z)
        if self.contamination == "auto":
            self.offset_ = _thresholds.offset_from_mad(self.train_scores_, AUTO_MAD_K)
        else:
            self.offset_ = _thresholds.offset_from_contamination(
                self.train_scores_, self.contamination
            )

    def _fit_scaler(self, X: np.ndarray):
        if self.scaler is None:
            return None
        if self.scaler == "robust":
            return fit_robust_scaler(X)
        if self.scaler == "standard":
            return StandardScaler().fit(X)
        if self.scaler == "minmax":
            return MinMaxScaler().fit(X)
        return clone(self.scaler).fit(X)

    def _make_estimator(self, n_samples: int, n_features: int):
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        if self.estimator is None:
            seed_or_none = None if self.random_state is None else seed
            return default_estimator(n_samples, n_features, random_state=seed_or_none)
        estimator = clone(self.estimator)
        params = estimator.get_params(deep=False)
        if (
            self.random_state is not None
            and "random_state" in params
            and params["random_state"] is None
        ):
            estimator.set_params(random_state=seed)
        return estimator

    # -- scoring ------------------------------------------------------------------
    def _scale(self, X: np.ndarray) -> np.ndarray:
        """Scaled (and clipped) float32 rows, as the network sees them."""
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        Z = np.array(Z, dtype=np.float64)  # a copy, safe to clip in place
        if self.clip is not None:
            low = -self.clip
            high = 1 + self.clip if isinstance(self.scaler_, MinMaxScaler) else self.clip
            np.clip(Z, low, high, out=Z)
        return to_float32(Z)  # a clear ValueError if values overflow float32

    def _scaled_input(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._scale(X.astype(np.float64, copy=False))

    def _reconstruction_part(self, Z: np.ndarray) -> np.ndarray:
        """Anomaly score from the inner model: minus its ``score_samples``."""
        return -np.asarray(self.estimator_.score_samples(Z), dtype=np.float64)

    @staticmethod
    def _distance_part(Z: np.ndarray) -> np.ndarray:
        """Mean squared scaled value: how far the row is from the column medians."""
        return np.mean(np.square(Z, dtype=np.float64), axis=1)

    def _score_scaled(self, Z: np.ndarray) -> np.ndarray:
        reconstruction = self._reconstruction_part(Z)
        weight = self.distance_weight
        if weight == 0:
            return -reconstruction
        combined = (1 - weight) * log_standardise(
            reconstruction, self.reconstruction_scale_
        ) + weight * log_standardise(self._distance_part(Z), self.distance_scale_)
        # Back from the log scale: an error-like, right-skewed positive score, on
        # which the median + k * MAD rule behaves as on reconstruction errors.
        return -np.exp(np.minimum(combined, _MAX_LOG_SCORE))

    def _feature_errors(self, Z: np.ndarray) -> np.ndarray:
        """Each feature's share of the row's mean squared error, in scaled units."""
        reconstruction = np.asarray(self.estimator_.reconstruct(Z), dtype=np.float64)
        return (Z.astype(np.float64) - reconstruction) ** 2 / Z.shape[1]

    def score_samples(self, X):
        """Normality score of each row (higher means more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-exp((1 - w) * s_e + w * s_d)`` as described in the class
            documentation; with ``distance_weight=0`` the inner estimator's
            ``score_samples`` of the scaled rows.
        """
        return self._score_scaled(self._scaled_input(X))

    def decision_function(self, X):
        """Shifted score: negative for outliers, non-negative for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, +1 elsewhere.
        """
        decision = self.decision_function(X)
        return np.where(decision < 0, -1, 1)

    def reconstruction_error(self, X):
        """Mean squared reconstruction error of each row, in scaled units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to reconstruct.

        Returns
        -------
        errors : ndarray of shape (n_samples,)
            Non-negative errors; each is the sum of the row of
            :meth:`explain`.
        """
        return self._feature_errors(self._scaled_input(X)).sum(axis=1)

    def explain(self, X) -> pd.DataFrame:
        """Per-feature reconstruction errors: which columns make a row unusual.

        Entry ``(i, j)`` is ``(z_ij - zhat_ij) ** 2 / n_features``, where ``z``
        is the scaled (and clipped) row and ``zhat`` the network's
        reconstruction, so each row sums to :meth:`reconstruction_error`. For a
        variational autoencoder the scores come from the evidence lower bound
        while these errors use its reconstruction of the posterior mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to explain. A DataFrame keeps its index.

        Returns
        -------
        errors : pandas.DataFrame of shape (n_samples, n_features)
            Columns are ``feature_names_in_`` when the detector was fitted on
            a DataFrame with string column names, ``x0, x1, ...`` otherwise.
        """
        index = X.index if isinstance(X, pd.DataFrame) else None
        errors = self._feature_errors(self._scaled_input(X))
        if hasattr(self, "feature_names_in_"):
            columns = list(self.feature_names_in_)
        else:
            columns = [f"x{i}" for i in range(self.n_features_in_)]
        return pd.DataFrame(errors, columns=columns, index=index)

    # -- thresholds (none of these retrains the network) ------------------------
    def set_threshold_from_contamination(self, contamination: float) -> AnomalyDetector:
        """Flag the ``contamination`` share of the training rows.

        Use it when the share of anomalies in the training data is known.

        Parameters
        ----------
        contamination : float in (0, 0.5]
            Share of training rows to flag.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        _check_number(
            "contamination", contamination, Interval(Real, 0, 0.5, closed="right")
        )
        check_is_fitted(self)
        self.offset_ = _thresholds.offset_from_contamination(
            self.train_scores_, contamination
        )
        return self

    def set_threshold_from_mad(self, k: float = 3.5) -> AnomalyDetector:
        """Robust rule: flag rows whose anomaly score exceeds median + ``k`` MAD.

        The anomaly score is ``-score_samples`` (the reconstruction error with
        ``distance_weight=0``). Use it when nothing is known about the
        anomalies: the median and the median absolute deviation (MAD, scaled to
        a standard deviation) of the training rows' scores are barely moved by
        the anomalies among them. ``k=3.5`` is
        Iglewicz and Hoaglin's cut for modified z-scores.

        Parameters
        ----------
        k : float, default=3.5
            Number of robust standard deviations beyond the median.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        _check_number("k", k, Interval(Real, 0, None, closed="left"))
        check_is_fitted(self)
        self.offset_ = _thresholds.offset_from_mad(self.train_scores_, k)
        return self

    def set_threshold_from_normal(
        self, X_normal, false_alarm_rate: float = 0.01
    ) -> AnomalyDetector:
        """Flag about ``false_alarm_rate`` of rows known to be normal.

        Use it when a clean sample of normal rows exists (for example checked
        by hand) and the cost of false alarms is what matters.

        Parameters
        ----------
        X_normal : array-like of shape (n_samples, n_features)
            Rows known to be normal (may be the training rows if clean).
        false_alarm_rate : float in [0, 1), default=0.01
            Share of these rows that may be flagged.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        _check_number(
            "false_alarm_rate", false_alarm_rate, Interval(Real, 0, 1, closed="left")
        )
        scores = self.score_samples(X_normal)
        self.offset_ = _thresholds.offset_from_false_alarm_rate(scores, false_alarm_rate)
        return self

    def set_threshold_from_labels(self, X, y, precision: float | None = None):
        """Choose the threshold on a few labelled rows.

        Use it when some rows have been checked: with ``precision=None`` the
        threshold maximises the F1 score of the anomaly class on them; with a
        ``precision`` it catches as many anomalies as possible while at least
        that share of the flagged rows are real anomalies.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Labelled rows.
        y : array-like of shape (n_samples,)
            1 marks an anomaly, 0 a normal row (both must occur).
        precision : float in (0, 1] or None, default=None
            Required precision, or None to maximise F1.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        if precision is not None:
            _check_number("precision", precision, Interval(Real, 0, 1, closed="right"))
        y = _thresholds.check_anomaly_labels(y)
        scores = self.score_samples(X)
        if scores.shape[0] != y.shape[0]:
            raise ValueError(f"X has {scores.shape[0]} rows but y has {y.shape[0]} labels.")
        self.offset_ = _thresholds.offset_from_labels(scores, y, precision)
        return self


def _check_number(name: str, value, interval: Interval) -> None:
    if isinstance(value, bool) or not interval.is_satisfied_by(value):
        raise ValueError(f"{name} must be {interval}; got {value!r}.")

"""AnomalyDetector: scikit-learn's outlier-detector API around any skae autoencoder."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _thresholds
from ._anomaly_defaults import (
    AUTO_MAD_K,
    AUTO_MAX_SHARE,
    AUTO_MIN_SHARE,
    DEFAULT_MEMBERS,
    default_estimator,
)
from ._base import state_restored_on_failure, to_float32
from ._calibration import fit_normal_scale, normal_scores
from ._persistence import PersistenceMixin

# Spread below which a column counts as constant (as in scikit-learn's scalers).
_FLAT = 10 * np.finfo(np.float64).eps
# Combined normal scores are capped here so that exp() stays finite.
_MAX_LOG_SCORE = 700.0
# A feature the network reconstructs (almost) perfectly on the training rows
# weighs at most this many times an average feature in a balanced error.
_MAX_FEATURE_WEIGHT = 1000.0


def fit_robust_scaler(X: np.ndarray) -> RobustScaler:
    """Median/IQR scaling, safe for (nearly) constant columns.

    A column whose interquartile range is zero (mostly one value, such as a
    rare binary flag) is scaled by its largest absolute deviation from the
    median instead, so that it lies in ``[-1, 1]`` whatever its units; a truly
    constant column is scaled by 1. No column divides by zero.
    """
    scaler = RobustScaler().fit(X)
    q25, q75 = np.percentile(X, [25, 75], axis=0)
    flat = (q75 - q25) < _FLAT
    if flat.any():
        spread = np.abs(X[:, flat] - scaler.center_[flat]).max(axis=0)
        scaler.scale_[flat] = np.where(spread < _FLAT, 1.0, spread)
    return scaler


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
    the detector (``scaler="robust"``: median and interquartile range, which
    the anomalies in the training data barely move). A column whose
    interquartile range is zero (a rare binary flag, say) is scaled by its
    largest absolute deviation from the median, a constant column by 1. Scaled
    values are then clipped to ``[-clip, clip]``: one wild value counts as an
    extreme value, but cannot swamp the rest of the row or the network's
    training.

    **Scores.** Two anomaly scores are computed on the scaled rows ``z``:

    * ``e``, the reconstruction part. With ``reconstruction_score="balanced"``
      (the default for every inner model but a variational autoencoder) it is
      the *balanced* mean squared error ``mean_j((z_j - zhat_j) ** 2 / m_j)``,
      where ``m_j`` is feature ``j``'s mean squared error over the training
      rows: a column the network reconstructs poorly everywhere does not
      dominate. With ``"estimator"`` (the default for a
      :class:`~skae.VAETransformer`) it is minus the inner estimator's
      ``score_samples``: the negative evidence lower bound of a variational
      autoencoder, a probabilistic score. Either is averaged over the
      ``n_estimators`` networks.
    * ``d = mean(z ** 2)``, the row's distance from the column medians in
      robust units (from the scaled origin with another ``scaler``).

    Each is turned into a *normal score* against the training rows,
    ``s = Phi^-1(1 - p)`` with ``p`` the share of training rows scoring at
    least as high (see ``skae._calibration``), and ``score_samples`` is
    ``-exp((1 - w) * s_e + w * s_d)`` with ``w = distance_weight``: Stouffer's
    combination of the two pieces of evidence, mapped back to an error-like
    positive scale. With ``distance_weight=0`` it is simply ``-e``.
    :meth:`reconstruction_error` and :meth:`explain` give ``e`` for the
    reconstruction errors (balanced or not), whatever the inner estimator.

    **Thresholds.** ``offset_`` is set at fit from ``contamination`` and can be
    changed afterwards *without retraining* by the ``set_threshold_from_*``
    methods (a share of training rows, a robust median + k MAD rule, a false
    alarm rate on rows known to be normal, or a few labelled rows).

    Parameters
    ----------
    estimator : skae autoencoder, default=None
        The (unfitted) autoencoder to train; it is cloned at fit. Any estimator
        with ``fit``, ``score_samples`` and ``reconstruct`` works, such as
        :class:`~skae.AutoencoderTransformer`. ``None`` builds autoencoders
        sized from the data by ``skae._anomaly_defaults.default_estimator``:
        one hidden layer of ``max(8, 2 * n_features)`` units (at most 64), a
        code of ``max(2, n_features // 4)`` units (at most 16), batch
        normalisation, and about 500
        mini-batches of 128 rows (``skae._anomaly_defaults`` holds every
        default in one place). Nested parameters tune in
        :class:`~sklearn.model_selection.GridSearchCV` when an estimator is
        given, e.g. ``estimator__n_components``.
    n_estimators : "auto" or int, default="auto"
        Number of networks whose (balanced) reconstruction errors are
        averaged; they differ only in their random initial weights and batch
        order, and averaging removes much of one network's seed-to-seed
        variance. ``"auto"`` is 3 with ``estimator=None`` -- trained side by
        side as one grouped network (``AutoencoderTransformer(groups=3)``), in
        1.2 to 1.8 times the time of one network on the ADBench tables -- and
        1 with a given estimator, which is cloned and fitted once per member
        (so ``n_estimators`` times as long).
    contamination : "auto" or float, default="auto"
        How ``offset_`` is set at fit. A float in (0, 0.5] flags that share of
        the training rows. ``"auto"`` estimates the share: each part of the
        score (reconstruction error, distance) of the training rows becomes a
        robust z-score on a log scale (median and median absolute deviation),
        and the share of rows whose weighted combination exceeds 3 is
        flagged, kept between 0.5 % and 3 % (calibrated to flag 0.5-3 % of
        clean rows; see ``skae._thresholds.auto_contamination``). Set a float
        when more anomalies are expected.
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
    distance_weight : float in [0, 1], default=1/3
        Weight of the distance from the column medians in the score (see
        above); 0 scores by the reconstruction part alone.
    reconstruction_score : {"auto", "balanced", "estimator"}, default="auto"
        The reconstruction part of the score (see above). ``"auto"`` is
        ``"estimator"`` for a :class:`~skae.VAETransformer` (its evidence lower
        bound) and ``"balanced"`` for any other inner model.
    random_state : int, RandomState instance or None, default=None
        Seeds the default network and, when the given estimator's own
        ``random_state`` is None, that estimator.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted inner autoencoders, trained on the scaled rows: one per
        member for a given estimator, or the one grouped network of the
        default ensemble, whose input is the scaled rows repeated
        ``n_members_`` times side by side.
    estimator_ : estimator
        ``estimators_[0]``.
    n_members_ : int
        Number of networks averaged (the resolved ``n_estimators``).
    scaler_ : transformer or None
        The fitted column scaler.
    offset_ : float
        Threshold on ``score_samples``: rows scoring below it are outliers.
    train_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training rows.
    feature_error_scale_ : ndarray of shape (n_members_, n_features) or None
        Each member's mean squared reconstruction error of each feature over
        the training rows (floored at 1/1000 of their average), which balanced
        errors divide by; None when the reconstruction part is the inner
        estimator's score.
    reconstruction_scale_, distance_scale_ : dict
        The training rows' reference values that turn the reconstruction part
        and the distance part of the score into normal scores (see
        ``skae._calibration.fit_normal_scale``).
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
        "n_estimators": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "scaler": [
            StrOptions({"robust", "standard", "minmax"}),
            HasMethods(["fit", "transform"]),
            None,
        ],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "distance_weight": [Interval(Real, 0, 1, closed="both")],
        "reconstruction_score": [StrOptions({"auto", "balanced", "estimator"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination="auto",
        n_estimators="auto",
        scaler="robust",
        clip=5.0,
        distance_weight=1 / 3,
        reconstruction_score="auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.scaler = scaler
        self.clip = clip
        self.distance_weight = distance_weight
        self.reconstruction_score = reconstruction_score
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
        self._fit_members(Z)
        self.feature_error_scale_ = None
        errors = None  # the training rows' errors, computed once
        if self._balanced_errors():
            errors = self._member_squared_errors(Z)
            mean_errors = errors.mean(axis=1)
            floor = mean_errors.mean(axis=1, keepdims=True) / _MAX_FEATURE_WEIGHT
            self.feature_error_scale_ = np.maximum(mean_errors, floor) + 1e-12
        reconstruction = self._reconstruction_part(Z, errors)
        distance = self._distance_part(Z)
        # Put both parts of the score on the scale of the training rows.
        self.reconstruction_scale_ = fit_normal_scale(reconstruction)
        self.distance_scale_ = fit_normal_scale(distance)
        self.train_scores_ = self._combine(reconstruction, distance)
        if self.contamination == "auto":
            weight = self.distance_weight
            parts, weights = [reconstruction, distance], [1 - weight, weight]
            share = _thresholds.auto_contamination(
                parts, weights, AUTO_MAD_K, AUTO_MIN_SHARE, AUTO_MAX_SHARE
            )
            self.offset_ = _thresholds.offset_from_contamination(self.train_scores_, share)
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

    def _fit_members(self, Z: np.ndarray) -> None:
        """Train the ``n_members_`` networks and set ``estimators_``."""
        n_samples, n_features = Z.shape
        rng = check_random_state(self.random_state)
        if self.estimator is None:
            members = DEFAULT_MEMBERS if self.n_estimators == "auto" else self.n_estimators
            seed = int(rng.randint(np.iinfo(np.int32).max))
            network = default_estimator(
                n_samples,
                n_features,
                random_state=None if self.random_state is None else seed,
                n_members=members,
            )
            # One grouped network, member g reading column block g. Each block
            # holds the rows in its own order, so that the members see different
            # mini-batches as well as different initial weights.
            blocks = [Z] + [Z[rng.permutation(n_samples)] for _ in range(members - 1)]
            self.estimators_ = [network.fit(np.hstack(blocks))]
        else:
            members = 1 if self.n_estimators == "auto" else self.n_estimators
            self.estimators_ = []
            for _ in range(members):
                estimator = clone(self.estimator)
                seed = int(rng.randint(np.iinfo(np.int32).max))
                params = estimator.get_params(deep=False)
                if "random_state" in params:
                    own = params["random_state"]
                    if own is None and self.random_state is not None:
                        estimator.set_params(random_state=seed)
                    elif members > 1:
                        # Members must differ: derive a seed per member.
                        base = own if isinstance(own, Integral) else seed
                        estimator.set_params(random_state=(base + len(self.estimators_)))
                self.estimators_.append(estimator.fit(Z))
        self.n_members_ = members
        self.estimator_ = self.estimators_[0]

    def _member_reconstructions(self, Z: np.ndarray) -> list[np.ndarray]:
        """Each member's reconstruction of the scaled rows ``Z``."""
        if len(self.estimators_) == self.n_members_:  # one network per member
            return [np.asarray(e.reconstruct(Z)) for e in self.estimators_]
        grouped = np.asarray(self.estimator_.reconstruct(np.tile(Z, self.n_members_)))
        return np.split(grouped, self.n_members_, axis=1)

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

    def _balanced_errors(self) -> bool:
        if self.reconstruction_score == "auto":
            # A variational autoencoder's own score is probabilistic (the ELBO).
            from ._vae import VAETransformer

            return not isinstance(self.estimator_, VAETransformer)
        return self.reconstruction_score == "balanced"

    def _reconstruction_part(self, Z: np.ndarray, errors=None) -> np.ndarray:
        """Anomaly score from the inner model (higher = worse reconstructed).

        ``errors``: the members' squared errors of ``Z`` if already computed.
        """
        if self.feature_error_scale_ is not None:
            return self._feature_errors(Z, errors).sum(axis=1)
        if len(self.estimators_) < self.n_members_:
            # The grouped default network's score: minus the mean squared
            # error over every member's block.
            Z = np.tile(Z, self.n_members_)
        scores = [e.score_samples(Z) for e in self.estimators_]
        return -np.mean(scores, axis=0, dtype=np.float64)

    @staticmethod
    def _distance_part(Z: np.ndarray) -> np.ndarray:
        """Mean squared scaled value: how far the row is from the column medians."""
        return np.mean(np.square(Z, dtype=np.float64), axis=1)

    def _score_scaled(self, Z: np.ndarray) -> np.ndarray:
        distance = None if self.distance_weight == 0 else self._distance_part(Z)
        return self._combine(self._reconstruction_part(Z), distance)

    def _combine(self, reconstruction: np.ndarray, distance) -> np.ndarray:
        """``score_samples`` from the two parts of the anomaly score."""
        weight = self.distance_weight
        if weight == 0:
            return -reconstruction
        # Stouffer's method: a weighted sum of the two parts' normal scores.
        combined = (1 - weight) * normal_scores(
            reconstruction, self.reconstruction_scale_
        ) + weight * normal_scores(distance, self.distance_scale_)
        # Exponentiated: an error-like, right-skewed positive score, on which the
        # median + k * MAD rule behaves as on reconstruction errors.
        return -np.exp(np.minimum(combined, _MAX_LOG_SCORE))

    def _member_squared_errors(self, Z: np.ndarray) -> np.ndarray:
        """Squared error of every cell for every member, in scaled units.

        Returns an array of shape ``(n_members_, n_samples, n_features)``.
        """
        Z64 = Z.astype(np.float64)
        return np.stack(
            [(Z64 - r.astype(np.float64)) ** 2 for r in self._member_reconstructions(Z)]
        )

    def _feature_errors(self, Z: np.ndarray, errors=None) -> np.ndarray:
        """Each feature's share of the row's (balanced) mean squared error,
        averaged over the members."""
        if errors is None:
            errors = self._member_squared_errors(Z)
        if self.feature_error_scale_ is not None:
            errors = errors / self.feature_error_scale_[:, None, :]
        return errors.mean(axis=0) / Z.shape[1]

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
            documentation; with ``distance_weight=0`` simply ``-e``, minus
            the reconstruction part.
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
        """Reconstruction error of each row: the reconstruction part ``e``.

        The balanced mean squared error with ``reconstruction_score``
        ``"balanced"``, the plain mean squared error in scaled units otherwise.

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

        Entry ``(i, j)`` is ``(z_ij - zhat_ij) ** 2 / (n_features * m_j)``,
        where ``z`` is the scaled (and clipped) row, ``zhat`` the network's
        reconstruction and ``m_j = feature_error_scale_[j]`` (1 when errors
        are not balanced), so each row sums to :meth:`reconstruction_error`.
        With balanced errors every column averages ``1 / n_features`` over
        the training rows, and a large entry means that column is much worse
        reconstructed than usual. For a variational autoencoder the scores
        come from the evidence lower bound while these errors use its
        reconstruction of the posterior mean.

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

        The anomaly score is ``-score_samples`` (the reconstruction part with
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

"""AnomalyDetector: scikit-learn's outlier-detector API around any skae autoencoder."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state, deprecated
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_is_fitted,
)

from . import _histograms, _neighbors, _tabular, _thresholds
from ._anomaly_defaults import (
    AUTO_MAD_K,
    AUTO_MAX_SHARE,
    AUTO_MIN_SHARE,
    DEFAULT_MEMBERS,
    DISTANCE_WEIGHT,
    GIVEN_ESTIMATOR_DISTANCE_WEIGHT,
    HISTOGRAM_WEIGHT,
    NEIGHBORS_WEIGHT,
    TRAINING_ROWS,
    default_estimator,
    epoch_repeats,
)
from ._arrays import to_float32
from ._data import inference_batch_size, is_lazy_array, read_rows, release_pages
from ._nets import training_state_restored_on_failure, widest_layer
from ._normal_scores import fit_normal_scale, normal_scores
from ._parallel import map_on_demand, openmp_threads
from ._persistence import PersistenceMixin
from ._runtime import resolve_device, seeded_torch, state_restored_on_failure
from ._threads import torch_threads

# Spread below which a column counts as constant (as in scikit-learn's scalers).
_FLAT = 10 * np.finfo(np.float64).eps
# The robust scaler sorts columns in blocks of about this many cells.
_SCALER_BLOCK_CELLS = 1 << 22
#: Distance, in the scaled units of numeric columns, between a category not
#: seen at fit and any training row's category in the neighbour part: as far
#: as a value ``clip`` (5) interquartile ranges out.
UNSEEN_CATEGORY_DISTANCE = 5.0
# Combined normal scores are capped here so that exp() stays finite.
_MAX_LOG_SCORE = 700.0
# A feature the network reconstructs (almost) perfectly on the training rows
# weighs at most this many times an average feature in a balanced error.
_MAX_FEATURE_WEIGHT = 1000.0

#: Rows the detector scales, reconstructs and scores at once (fewer when an
#: inner network's inference batches are smaller): the working memory of every
#: method is that of one chunk, whatever the number of rows.
CHUNK_ROWS = 1 << 14
#: Forward passes never run on fewer rows (the chunk is padded): float32 GEMM
#: kernels take another path for a handful of rows, which would make a row's
#: score depend on how many rows were scored with it.
_MIN_FORWARD_ROWS = 16
#: Rows of data read in chunks (a memmap, a dask array, ``partial_fit``), or
#: in memory beyond this size, that the scaler is fitted on and the threshold
#: calibrated on: a uniform random sample of at most this many rows (and about
#: ``_SAMPLE_BYTES`` of float64). Every statistic calibrated on it is a
#: quantile or a mean: the share of rows above a 1 % quantile of 20,000 rows
#: is 1 % +- 0.07 % (one standard deviation), and on 1,000,000 x 20 a 100,000-row
#: sample spent 0.9 s calibrating (its neighbour part mostly) against 0.2 s.
SAMPLE_ROWS = 20_000
#: Largest sparse input the detector makes dense (float64 bytes).
MAX_DENSE_BYTES = 1 << 30
_SAMPLE_BYTES = 1 << 27


def sample_rows(n_features: int) -> int:
    """Size of the random sample of rows that calibrates a detector on lazy data."""
    return min(SAMPLE_ROWS, max(10_000, _SAMPLE_BYTES // (8 * max(n_features, 1))))


def fit_robust_scaler(X: np.ndarray) -> RobustScaler:
    """Median/IQR scaling, safe for (nearly) constant columns.

    A column whose interquartile range is zero (mostly one value, such as a
    rare binary flag) is scaled by its largest absolute deviation from the
    median instead, so that it lies in ``[-1, 1]`` whatever its units; a truly
    constant column is scaled by 1. No column divides by zero.
    """
    # RobustScaler's own statistics (median, 25th and 75th percentiles), a
    # block of columns at a time: one pass, without a temporary copy of the
    # whole array (RobustScaler.fit sorts a copy of all of X). Missing cells
    # (NaN) are left out.
    X = np.asarray(X, dtype=np.float64)
    percentile = np.nanpercentile if np.isnan(X).any() else np.percentile
    block = max(1, _SCALER_BLOCK_CELLS // max(X.shape[0], 1))
    q25, center, q75 = np.hstack(
        [
            percentile(X[:, j : j + block], [25, 50, 75], axis=0)
            for j in range(0, X.shape[1], block)
        ]
    )
    scale = q75 - q25
    flat = scale < _FLAT
    if flat.any():
        spread = np.nanmax(np.abs(X[:, flat] - center[flat]), axis=0)
        scale[flat] = np.where(spread < _FLAT, 1.0, spread)
    scaler = RobustScaler()
    scaler.center_, scaler.scale_, scaler.n_features_in_ = center, scale, X.shape[1]
    return scaler


class _MemberRows:
    """Training rows of ``members`` networks side by side, built chunk by chunk.

    Row ``i`` holds member 0's row ``i`` and member ``g``'s row ``perms[g - 1][i]``
    of ``rows`` next to each other: the rows of
    ``np.hstack([rows] + [rows[p] for p in perms])``, of which only the rows
    asked for are ever assembled. With ``perms=None`` (rows read from disk,
    scaled on the fly by ``scale``) member ``g`` reads the rows of each chunk
    in its own fixed order instead. It is a lazily sliced array
    (``skae._data.is_lazy_array``), so the autoencoders train from it chunk by
    chunk, and the grouped default network never needs a tiled copy.
    ``indices`` (lazy rows only) restricts it to those rows of ``rows``.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(
        self,
        rows,
        members: int,
        perms: list[np.ndarray] | None = None,
        scale: Callable[[np.ndarray], np.ndarray] | None = None,
        seed: int = 0,
        indices: np.ndarray | None = None,
    ) -> None:
        self.rows = rows
        self.members = members
        self.perms = perms
        self.scale = scale
        self.seed = seed
        self.indices = indices
        n_rows = rows.shape[0] if indices is None else len(indices)
        self.shape = (n_rows, members * rows.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.shape[0])
            index = np.arange(start, stop)
        else:
            index = np.asarray(key).reshape(-1)
        width = self.rows.shape[1]
        if self.perms is not None:  # in memory and already scaled
            # Written block by block into one array: no copy of the rows but
            # the chunk asked for.
            out = np.empty((len(index), self.shape[1]), dtype=self.rows.dtype)
            first = self.rows[start:stop] if isinstance(key, slice) else self.rows[index]
            out[:, :width] = first
            for g, perm in enumerate(self.perms, start=1):
                out[:, g * width : (g + 1) * width] = self.rows[perm[index]]
            return out
        if self.indices is not None:
            chunk = read_rows(self.rows, 0, len(index), self.indices[index])
        elif isinstance(key, slice):
            chunk = read_rows(self.rows, start, stop)
        else:
            chunk = np.asarray(self.rows[index])
            release_pages(self.rows)
        chunk = self.scale(chunk)
        if self.members == 1:
            return chunk
        out = np.empty((len(chunk), self.shape[1]), dtype=chunk.dtype)
        out[:, :width] = chunk
        first = int(index[0]) if index.size else 0
        for g in range(1, self.members):
            order = np.random.default_rng([self.seed, g, first]).permutation(len(chunk))
            out[:, g * width : (g + 1) * width] = chunk[order]
        return out


def _member_slice(source: torch.Tensor, target: torch.Tensor, g: int, groups: int):
    """Member ``g``'s part of a grouped network's tensor, shaped like ``target``."""
    if source.ndim == 3 and source.shape[0] == groups:
        if source.shape[1] == 1 and target.ndim == 1:  # GroupedLinear bias
            return source[g, 0].clone()
        if target.shape == source.shape[:0:-1]:  # GroupedLinear weight (in, out)
            return source[g].T.contiguous()
    if (
        source.ndim == 1
        and target.ndim == 1
        and source.shape[0] == groups * target.shape[0]
    ):
        width = target.shape[0]  # per-column layers (batch normalisation)
        return source[g * width : (g + 1) * width].clone()
    if source.shape == target.shape and source.ndim == 0:
        return source.clone()
    raise ValueError(
        f"Cannot split a grouped network's tensor of shape {tuple(source.shape)} "
        f"into member tensors of shape {tuple(target.shape)}."
    )


def split_grouped(network, groups: int) -> list:
    """The ``groups`` fitted autoencoders inside a grouped network, one each.

    Member ``g`` is an ``AutoencoderTransformer`` with ``groups=1`` whose
    weights are block ``g`` of ``network``'s: it reads a row of the original
    width and reconstructs it as the grouped network's block ``g`` does (up to
    float32 rounding, since plain dense layers replace the batched ones).
    """
    if groups == 1:
        return [network]
    params = network.get_params(deep=False)
    params.update(
        groups=1,
        n_components=network.n_components // groups,
        hidden_layer_sizes=tuple(w // groups for w in network.hidden_layer_sizes),
    )
    grouped = network.net_.module_.state_dict()
    n_features = network.n_features_in_ // groups
    device = resolve_device(network.device)
    members = []
    for g in range(groups):
        member = type(network)(**params)
        with seeded_torch(0, device):  # leave the global RNG alone
            net = member._make_net(n_features, device)
            net.initialize()
        state = {
            key: _member_slice(grouped[key], target, g, groups).to(target.device)
            for key, target in net.module_.state_dict().items()
        }
        net.module_.load_state_dict(state, strict=True)
        net.module_.eval()
        net.history = network.net_.history
        member.net_ = net
        member.history_ = net.history
        member.n_epochs_ = network.n_epochs_
        member.stopped_early_ = network.stopped_early_
        member.interrupted_ = network.interrupted_
        member.n_components_ = network.n_components_ // groups
        member.input_shape_ = network.input_shape_
        member.n_features_in_ = n_features
        member._seed = getattr(network, "_seed", 0)
        members.append(member)
    return members


def _check_lazy(estimator, X, *, reset: bool, minimum: int) -> None:
    """``validate_data``'s checks of shape, width and names, from metadata only."""
    n_samples, n_features = X.shape
    if n_features < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
            "is required."
        )
    if n_samples < minimum:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
            f"minimum of {minimum} is required."
        )
    _check_feature_names(estimator, X, reset=reset)
    _check_n_features(estimator, X, reset=reset)


def _read_chunk(X, start: int, stop: int, indices: np.ndarray | None = None) -> np.ndarray:
    """Rows of a lazy array, in memory, validated as ``check_array`` would, float64."""
    chunk = read_rows(X, start, stop, indices)
    chunk = check_array(
        chunk, dtype=[np.float64, np.float32], ensure_min_samples=0, input_name="X"
    )
    return chunk.astype(np.float64, copy=False)


def _chunk_of(X, start: int, stop: int) -> np.ndarray:
    """Validated rows ``start:stop`` of ``X``: read from disk if lazy, else a view."""
    return _read_chunk(X, start, stop) if is_lazy_array(X) else X[start:stop]


def _forward(method, Z: np.ndarray) -> np.ndarray:
    """``method(Z)``, padded to at least ``_MIN_FORWARD_ROWS`` rows."""
    n = Z.shape[0]
    if n >= _MIN_FORWARD_ROWS:
        return np.asarray(method(Z))
    padding = np.zeros((_MIN_FORWARD_ROWS - n, Z.shape[1]), dtype=Z.dtype)
    return np.asarray(method(np.concatenate([Z, padding])))[:n]


def _inference_rows(estimator) -> int | None:
    """Rows per forward pass of a fitted skae autoencoder (None for others)."""
    net = getattr(estimator, "net_", None)
    try:
        return inference_batch_size(
            estimator.batch_size, widest_layer(net.module_), net.data_device
        )
    except AttributeError:
        return None


class AnomalyDetector(PersistenceMixin, OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detection from an autoencoder's reconstruction.

    The detector scales the columns robustly, trains an autoencoder to
    reconstruct the (unlabelled) training rows, and scores each row by how well
    the network reconstructs it -- rows unlike the bulk of the data are
    reconstructed badly -- and, by default, by how far it lies from its
    nearest training rows. It follows scikit-learn's outlier-detector contract,
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

    **Scores.** Up to four anomaly scores are computed on the scaled rows
    ``z``:

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
    * ``k``, the neighbour part: the mean Euclidean distance of the scaled
      row (not clipped: an extreme value is what makes a row far from the
      others) to its ``n_neighbors`` nearest rows among a uniform random
      sample of at most 1,000 training rows, the *reference*
      (``neighbors_reference_``; ``skae._neighbors``). A training row is
      scored without itself, so that it scores as a new row would.
    * ``h``, the histogram part: ``-sum_j log(p_j + 0.01)``, with ``p_j`` the
      share of training rows in the row's bin of column ``j`` (10 equal-width
      bins over the training range; HBOS, ``skae._histograms``), in the same
      unclipped space: values in rarely filled bins, which a small cluster of
      anomalies hides from the neighbour distance.
    * ``d = mean(z ** 2)``, the row's distance from the column medians in
      robust units (from the scaled origin with another ``scaler``).

    Each is turned into a *normal score* against the training rows,
    ``s = Phi^-1(1 - p)`` with ``p`` the share of training rows scoring at
    least as high (see ``skae._normal_scores``), and ``score_samples`` is
    ``-exp(w_e * s_e + w_k * s_k + w_h * s_h + w_d * s_d)`` with ``w_k =
    neighbors_weight``, ``w_h = histogram_weight``, ``w_d = distance_weight``
    and ``w_e = 1 - w_k - w_h - w_d`` (``score_weights_``): Stouffer's
    combination of the pieces of evidence, mapped back to an error-like
    positive scale. With ``w_e = 1`` it is simply ``-e``. By default
    (``estimator=None``) ``w_e = 0.1``, ``w_k = 0.8`` and ``w_h = 0.1``: on the
    benchmark tables the neighbour distance found most anomalies, the
    reconstruction adds what distances miss (anomalies that break the
    relations between columns) and the histograms what hides in a small
    cluster; see "How rows are scored" and "Benchmark: ADBench" in the
    documentation. With a given ``estimator`` the defaults are ``w_e = 2/3``
    and ``w_d = 1/3``: the model's reconstruction scores the rows.
    :meth:`reconstruction_error` and :meth:`explain` give ``e`` for the
    reconstruction errors (balanced or not), whatever the inner estimator.

    **Mixed-type tables and missing cells.** A DataFrame may hold
    categorical columns (pandas ``category``, ``object``/string and ``bool``)
    besides numeric ones, and any input may have missing cells (NaN, ``None``,
    ``pd.NA``); no preprocessing is needed. Categories are one-hot encoded
    inside the detector (the scaler leaves those columns alone); a category
    not seen at fit scores as unusual, never as an error. Missing cells are
    filled with the column's median for the network and left out of the
    errors, so a missing cell is not an anomaly by itself. :meth:`explain`
    gives one column per original column, a categorical column's error being
    a cross-entropy. ``skae._tabular`` has the details. (Lazy arrays such as
    memmaps must be numeric and complete.) A sparse matrix (the output of
    ``OneHotEncoder``, say) is made dense, up to ``MAX_DENSE_BYTES`` (1 GiB
    of float64); a larger one is refused with a ``TypeError``.

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
        normalisation, and about 100 mini-batches of 128 rows at a learning
        rate of 5e-3 (fewer on tables of more than 100 columns:
        ``100 * 100 / n_features``, at least 20, so that the cost stays flat
        in the columns;
        ``skae._anomaly_defaults`` holds every
        default in one place). Nested parameters tune in
        :class:`~sklearn.model_selection.GridSearchCV` when an estimator is
        given, e.g. ``estimator__n_components``.
    contamination : "auto" or float, default="auto"
        How ``offset_`` is set at fit. A float in (0, 0.5] flags that share of
        the training rows. ``"auto"`` estimates the share: each part of the
        score of the training rows that weighs in becomes a
        robust z-score on a log scale (median and median absolute deviation),
        and the share of rows whose weighted combination exceeds 3 is
        flagged, kept between 0.5 % and 3 % (calibrated to flag 0.5-3 % of
        clean rows; see ``skae._thresholds.auto_contamination``). Set a float
        when more anomalies are expected.
    n_estimators : "auto" or int, default="auto"
        Number of networks whose (balanced) reconstruction errors are
        averaged; they differ only in their random initial weights and batch
        order, and averaging removes much of one network's seed-to-seed
        variance. ``"auto"`` is 3 with ``estimator=None`` -- trained side by
        side as one grouped network (``AutoencoderTransformer(groups=3)``), in
        1.2 to 1.8 times the time of one network on the ADBench tables -- and
        1 with a given estimator, which is cloned and fitted once per member
        (so ``n_estimators`` times as long). Either way ``estimators_`` holds
        one fitted model per member.
    scaler : {"robust", "standard", "minmax"}, transformer or None, \
            default="robust"
        Column scaling applied before the network. ``"robust"`` is described
        above; ``"standard"`` and ``"minmax"`` are scikit-learn's
        ``StandardScaler`` and ``MinMaxScaler``; a transformer is cloned and
        used as given; ``None`` feeds the raw columns. An inner estimator with
        ``loss="bce"`` needs values in [0, 1]: for it, each of the three named
        scalers means min-max scaling with values clipped to [0, 1].
    clip : float or None, default=5.0
        Scaled values are clipped to ``[-clip, clip]`` (for ``"minmax"``, to
        ``[-clip, 1 + clip]``) before training and scoring. ``None`` disables
        clipping.
    distance_weight : "auto" or float in [0, 1], default="auto"
        Weight of the distance from the column medians in the score (see
        above). ``"auto"`` is 0 with ``estimator=None`` and 1/3 with a given
        estimator.
    neighbors_weight : "auto" or float in [0, 1], default="auto"
        Weight of the distance to the nearest training rows in the score.
        ``"auto"`` is 0.8 (of what ``distance_weight`` leaves) with
        ``estimator=None`` and 0 with a given estimator. ``distance_weight +
        neighbors_weight + histogram_weight`` must be at most 1; the rest
        weighs the reconstruction part, so ``distance_weight=0,
        neighbors_weight=0, histogram_weight=0`` scores by the reconstruction
        alone.
    histogram_weight : "auto" or float in [0, 1], default="auto"
        Weight of the per-column histograms in the score (see above).
        ``"auto"`` is 0.1 (of what ``distance_weight`` leaves, and at most
        what ``distance_weight + neighbors_weight`` leave) with
        ``estimator=None`` and 0 with a given estimator.
    n_neighbors : int, default=10
        Nearest reference rows whose distances the neighbour part averages
        (fewer when the reference is smaller).
    reconstruction_score : {"auto", "balanced", "estimator"}, default="auto"
        The reconstruction part of the score (see above). ``"auto"`` is
        ``"estimator"`` for a :class:`~skae.VAETransformer` (its evidence lower
        bound) and ``"balanced"`` for any other inner model.
    random_state : int, RandomState instance or None, default=None
        Seeds the default network and, when the given estimator's own
        ``random_state`` is None, that estimator.
    verbose : int, default=0
        0 prints nothing; 1 prints each stage of a fit (scaling, training,
        calibrating) with the time elapsed; 2 adds the default network's
        per-epoch training log, 3 its progress bar over batches.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted inner autoencoders, one per member, trained on the scaled
        rows; each reads rows of ``n_features_in_`` columns. With
        ``estimator=None`` the members train side by side as one grouped
        network (each on the rows in its own order) and are then cut out of it
        into plain :class:`~skae.AutoencoderTransformer` objects; with a given
        estimator they are its clones.
    estimator_ : estimator
        ``estimators_[0]``.
    n_estimators_ : int
        Number of networks averaged (the resolved ``n_estimators``).
    n_members_ : int
        Deprecated alias of ``n_estimators_``.
    n_samples_seen_ : int
        Number of training rows seen by :meth:`fit` or by every
        :meth:`partial_fit` call since the first.
    scaler_ : transformer or None
        The fitted column scaler.
    table_ : dict
        How the columns are read: ``table_["kinds"]`` ("numeric" or
        "categorical" per column), ``table_["categories"]`` (the categories
        seen at fit, as text), their training ``"shares"``, the numeric
        columns' training ``"medians"`` (the fill for missing cells) and the
        probability ``"floor"`` of an unseen category.
    offset_ : float
        Threshold on ``score_samples``: rows scoring below it are outliers.
    auto_contamination_ : float
        The share of training rows that ``contamination="auto"`` flags (see
        "Thresholds" in the documentation), computed at every fit whatever
        ``contamination``; ``set_threshold_from_contamination("auto")`` goes
        back to it.
    train_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training rows -- of the random sample of them
        that calibrates the detector when ``X`` was read in chunks, has more
        than ``SAMPLE_ROWS`` (20,000) rows or was given to
        :meth:`partial_fit` (see there).
    feature_error_scale_ : ndarray of shape (n_estimators_, n_features) or None
        Each member's mean squared reconstruction error of each feature over
        the training rows (floored at 1/1000 of their average), which balanced
        errors divide by; None when the reconstruction part is the inner
        estimator's score.
    reconstruction_scale_ : dict
        The training rows' reference values that turn the reconstruction part
        of the score into normal scores (see
        ``skae._normal_scores.fit_normal_scale``).
    distance_scale_ : dict
        The same for the distance part of the score.
    neighbors_scale_ : dict or None
        The same for the neighbour part (None when it weighs 0).
    neighbors_reference_ : ndarray of shape (n_reference, n_columns) or None
        The reference rows of the neighbour part, scaled (not clipped; a
        categorical column as its one-hot columns): all
        training rows, or a uniform random sample of 1,000 of them (of the
        calibration sample for chunked and incremental fits). None when the
        neighbour part weighs 0.
    histograms_ : dict or None
        The histogram part's training histograms (``low``, ``width`` and
        ``log_shares`` per column, in the neighbour part's space), fitted on
        the calibration rows. None when the histogram part weighs 0.
    histogram_scale_ : dict or None
        The training rows' reference values of the histogram part, as
        ``reconstruction_scale_`` (None when it weighs 0).
    score_weights_ : dict
        The resolved weights of the parts of the score:
        ``{"reconstruction": w_e, "distance": w_d, "neighbors": w_k,
        "histogram": w_h}``.
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

    Notes
    -----
    Every method works chunk by chunk: rows are scaled, reconstructed and
    scored ``CHUNK_ROWS`` (16,384) at a time, so the working memory is that
    of one chunk and ``X`` may be a :class:`numpy.memmap` or another lazily
    sliced array larger than memory (see :meth:`fit` and :meth:`partial_fit`,
    and "Scaling up" in the documentation). A row's score does not depend
    on the rows scored with it.

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
        "distance_weight": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "neighbors_weight": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "histogram_weight": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "reconstruction_score": [StrOptions({"auto", "balanced", "estimator"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination="auto",
        n_estimators="auto",
        scaler="robust",
        clip=5.0,
        distance_weight="auto",
        neighbors_weight="auto",
        histogram_weight="auto",
        n_neighbors=10,
        reconstruction_score="auto",
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.scaler = scaler
        self.clip = clip
        self.distance_weight = distance_weight
        self.neighbors_weight = neighbors_weight
        self.histogram_weight = histogram_weight
        self.n_neighbors = n_neighbors
        self.reconstruction_score = reconstruction_score
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing cells are left out of the error
        tags.input_tags.sparse = True  # made dense (see _densified)
        return tags

    # -- fitting ------------------------------------------------------------------
    @_fit_context(
        # The inner estimator's parameters are validated by its own fit.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None):
        """Scale ``X``, train the autoencoder on it and set ``offset_``.

        ``X`` may be larger than memory: a :class:`numpy.memmap` or another
        lazily sliced array (h5py, zarr, dask) is read chunk by chunk and never
        held whole. The scaler is then fitted on a uniform random sample of at
        most ``SAMPLE_ROWS`` (20,000) rows, the networks train on the rows
        scaled chunk by chunk as they are read, and the reconstruction
        errors that balance the features, the normal scores and ``offset_``
        are computed on that sample (``train_scores_`` holds its scores).
        A lazy array no larger than that sample is read whole and fitted
        exactly as in memory.

        On large tables (in memory or not) the work stays bounded where the
        recipe allows. Beyond ``TRAINING_ROWS`` (12,800) rows the default
        network (``estimator=None``) trains on a uniform random sample of that
        many -- its recipe is about 100 mini-batches of 128 rows, one epoch of
        that sample -- while a given estimator trains on every row. Beyond
        ``SAMPLE_ROWS`` (20,000) rows the detector is calibrated (and the
        robust scaler fitted) on a uniform random sample of that many, as for
        lazy input (``train_scores_`` holds its scores).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, without labels; they may contain some anomalies,
            categorical columns (a DataFrame's) and missing cells.
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
        started = time.perf_counter()
        self.score_weights_ = self._resolved_weights()
        _tabular.warn_identifier_columns(X)
        X = self._validated(X, reset=True)
        for name in ("_calibration_rows", "_reservoir_seen", "_partial_rng"):
            self.__dict__.pop(name, None)  # fit starts afresh; partial_fit would not
        sample = X
        lazy_input = is_lazy_array(X)
        if lazy_input:
            size = sample_rows(X.shape[1])
            if X.shape[0] <= size:  # small enough: exactly the in-memory fit
                X = sample = np.concatenate(list(self._row_chunks(X)))
            else:
                sample = self._read_sample(X, size, check_random_state(self.random_state))
        elif X.shape[0] > SAMPLE_ROWS:
            # Calibrated on a uniform sample, as lazy input is: every part of
            # the score (the neighbour part above all) costs time in the rows.
            sample = X[self._uniform_rows(X.shape[0], SAMPLE_ROWS, stream=0)]
        if lazy_input:  # numeric and complete; medians from the sample
            self.table_ = _tabular._fit_numeric(self, sample)
        # The robust scaler's medians and quartiles (partitions of every
        # column) come from the sample too; the other scalers are cheap and
        # exact on rows in memory.
        scaled_on = sample if lazy_input or self._robust_scaling() else X
        self._progress(f"fitting the scaler on {scaled_on.shape[0]:,} rows", started)
        self.scaler_ = self._fitted_scaler(scaled_on)
        del scaled_on
        train = self._training_rows(X.shape[0])
        if is_lazy_array(X):
            self._fit_members(X, train)
        else:
            rows = X if train is None else X[train]
            self._fit_members(self._network_input(self._scale_all(rows)))
        self._progress(f"calibrating the scores on {sample.shape[0]:,} rows", started)
        self._calibrate(sample)
        self.n_samples_seen_ = X.shape[0]
        self._progress("done", started)

    def _fitted_scaler(self, X: np.ndarray):
        """``_fit_scaler``, leaving the one-hot columns of categories unscaled."""
        return _tabular.pass_categories_through(self._fit_scaler(X), self.table_)

    def _robust_scaling(self) -> bool:
        """Whether ``_fit_scaler`` fits ``fit_robust_scaler``."""
        return self.scaler == "robust" and _inner_loss(self.estimator) != "bce"

    def _fit_scaler(self, X: np.ndarray):
        if self.scaler is None:
            return None
        if isinstance(self.scaler, str) and _inner_loss(self.estimator) == "bce":
            # Binary cross-entropy needs values in [0, 1]: scale to that range
            # and clip rows beyond the training range to it.
            return MinMaxScaler(clip=True).fit(X)
        if self.scaler == "robust":
            return fit_robust_scaler(X)
        if self.scaler == "standard":
            return StandardScaler().fit(X)
        if self.scaler == "minmax":
            return MinMaxScaler().fit(X)
        return clone(self.scaler).fit(X)

    def _n_members(self) -> int:
        if self.n_estimators != "auto":
            return self.n_estimators
        return DEFAULT_MEMBERS if self.estimator is None else 1

    def _training_rows(self, n_samples: int) -> np.ndarray | None:
        """Rows the networks train on: None for all, else sorted row numbers.

        Only the default network is bounded, to ``TRAINING_ROWS`` rows drawn
        uniformly (its recipe is a number of mini-batches, not of epochs); a
        given estimator trains on every row, as its own parameters say.
        """
        if self.estimator is not None or n_samples <= TRAINING_ROWS:
            return None
        return self._uniform_rows(n_samples, TRAINING_ROWS, stream=1)

    def _uniform_rows(self, n_samples: int, size: int, stream: int) -> np.ndarray:
        """``size`` distinct row numbers of ``n_samples``, sorted, from ``random_state``."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        # Generator.choice draws without replacement in O(size) memory.
        generator = np.random.default_rng([seed, stream])
        return np.sort(generator.choice(n_samples, size=size, replace=False))

    def _fit_members(self, Z, indices: np.ndarray | None = None) -> None:
        """Train the ``n_estimators_`` networks and set ``estimators_``.

        ``Z``: the scaled training rows in memory, or the lazy array of raw
        rows (scaled chunk by chunk as the networks read them), of which only
        the rows ``indices`` are read when given.
        """
        n_samples = Z.shape[0] if indices is None else len(indices)
        n_features = Z.shape[1]
        lazy = is_lazy_array(Z)
        rng = check_random_state(self.random_state)
        members = self._n_members()
        if self.estimator is None:
            seed = int(rng.randint(np.iinfo(np.int32).max))
            # A small table is repeated within an epoch: the same number of
            # steps in fewer, longer epochs, without the per-epoch overhead.
            repeats = 1 if lazy else epoch_repeats(n_samples)
            if repeats > 1:
                Z = np.tile(Z, (repeats, 1))
            network = default_estimator(
                Z.shape[0],
                n_features,
                random_state=None if self.random_state is None else seed,
                n_members=members,
            )
            if self.verbose > 1:
                network.set_params(verbose=self.verbose - 1)
            # One grouped network, member g reading column block g. Each block
            # holds the rows in its own order, so that the members see different
            # mini-batches as well as different initial weights. The blocks are
            # assembled batch by batch, never as a tiled copy of the rows.
            if lazy:
                rows = _MemberRows(
                    Z, members, scale=self._scale_raw, seed=seed, indices=indices
                )
            elif members == 1:
                rows = Z
            else:
                perms = [
                    rng.permutation(Z.shape[0]).astype(np.int32, copy=False)
                    if Z.shape[0] < np.iinfo(np.int32).max
                    else rng.permutation(Z.shape[0])
                    for _ in range(members - 1)
                ]
                rows = _MemberRows(Z, members, perms)
            self._progress(
                f"training {members} network(s) side by side on {n_samples:,} rows"
            )
            network.fit(rows)
            # One fitted model per member, cut out of the grouped network.
            self.estimators_ = split_grouped(network, members)
        else:
            rows = _MemberRows(Z, 1, scale=self._scale_raw) if lazy else Z
            self.estimators_ = []
            for estimator in self._member_clones(rng, members):
                self._progress(
                    f"training network {len(self.estimators_) + 1} of {members} "
                    f"on {n_samples:,} rows"
                )
                self.estimators_.append(estimator.fit(rows))
        self.n_estimators_ = members
        self.estimator_ = self.estimators_[0]

    def _member_clones(self, rng, members: int) -> list:
        """Unfitted clones of ``estimator``, seeded as documented."""
        clones = []
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
                    estimator.set_params(random_state=(base + len(clones)))
            clones.append(estimator)
        return clones

    def _calibrate(self, X: np.ndarray) -> None:
        """Balance the errors, fit the normal scores and set ``offset_`` on ``X``.

        ``X``: in-memory training rows (all of them, or a uniform sample),
        scored chunk by chunk. Balanced errors need each feature's mean error
        before any row's score: the members' errors of every chunk are kept
        for the scoring pass while they take at most ``_SAMPLE_BYTES``, so the
        rows are reconstructed once; otherwise a first pass gives the feature
        errors and a second the scores.
        """
        n_samples = X.shape[0]
        self.feature_error_scale_ = None
        kept = None  # each chunk's errors, reused by the scoring pass
        if self._balanced_errors():
            cell_bytes = 8 * self.n_estimators_ * self.n_features_in_
            if n_samples * cell_bytes <= _SAMPLE_BYTES:
                kept = []
            total, observed = 0.0, 0
            for chunk in self._row_chunks(X):
                chunk_errors = self._member_squared_errors(self._scale(chunk))
                # Over the observed cells (a missing cell's error is NaN).
                total = total + np.nansum(chunk_errors, axis=1)
                observed = observed + (~np.isnan(chunk_errors)).sum(axis=1)
                if kept is not None:
                    kept.append(chunk_errors)
            mean_errors = total / np.maximum(observed, 1)
            floor = mean_errors.mean(axis=1, keepdims=True) / _MAX_FEATURE_WEIGHT
            self.feature_error_scale_ = np.maximum(mean_errors, floor) + 1e-12
        weights = self.score_weights_
        self.neighbors_reference_ = None
        if weights["neighbors"] > 0:
            # The reference: a uniform random sample of the calibration rows.
            rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
            chosen = _neighbors.reference_indices(n_samples, rng)
            self.neighbors_reference_ = self._neighbor_space(X[chosen])
        self.__dict__.pop("_neighbor_index", None)
        self.histograms_ = None
        if weights["histogram"] > 0:
            self.histograms_ = _histograms.histograms_from(
                lambda: (self._neighbor_space(c) for c in self._row_chunks(X))
            )
        parts = {name: np.empty(n_samples) for name in weights}
        start = 0
        for i, chunk in enumerate(self._row_chunks(X)):
            scaled = self._transformed(chunk)  # once, for every space below
            Z = self._scale(chunk, scaled)
            stop = start + len(chunk)
            errors = None if kept is None else kept[i]
            parts["reconstruction"][start:stop] = self._reconstruction_part(Z, errors)
            parts["distance"][start:stop] = self._distance_part(Z)
            for name, values in self._space_parts(chunk, scaled).items():
                parts[name][start:stop] = values
            start = stop
        # Put every part of the score on the scale of the training rows.
        self.reconstruction_scale_ = fit_normal_scale(parts["reconstruction"])
        self.distance_scale_ = fit_normal_scale(parts["distance"])
        self.neighbors_scale_ = (
            None
            if self.neighbors_reference_ is None
            else fit_normal_scale(parts["neighbors"])
        )
        self.histogram_scale_ = (
            None if self.histograms_ is None else fit_normal_scale(parts["histogram"])
        )
        self.train_scores_ = self._combine(parts)
        used = [name for name in parts if weights[name] > 0]
        # Kept whatever ``contamination``, so that
        # set_threshold_from_contamination("auto") can come back to it.
        self.auto_contamination_ = _thresholds.auto_contamination(
            [parts[name] for name in used],
            [weights[name] for name in used],
            AUTO_MAD_K,
            AUTO_MIN_SHARE,
            AUTO_MAX_SHARE,
        )
        share = (
            self.auto_contamination_ if self.contamination == "auto" else self.contamination
        )
        self.offset_ = _thresholds.offset_from_contamination(self.train_scores_, share)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y=None):
        """Continue training on one chunk of rows (incremental learning).

        scikit-learn's incremental convention: the first call on an unfitted
        detector builds ``n_estimators_`` networks (one per member, each
        :meth:`~skae.AutoencoderTransformer.partial_fit`-ed separately, with
        its own seed and batch order); every call, including one after
        :meth:`fit`, trains each network for one epoch over ``X``, keeping its
        weights (and, from the second call, its optimizer state). The detector
        keeps a uniform random sample (reservoir sampling) of at most
        ``SAMPLE_ROWS`` of the rows given to ``partial_fit`` so far; at every
        call the scaler is refitted on it and the threshold recalibrated on
        it with the current networks (``train_scores_`` are its scores), so
        ``offset_`` always follows the rows seen, not only the last chunk.
        ``X`` may be a memmap or another lazily sliced array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training rows, with the same features at every call.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated detector.
        """
        nets = [getattr(e, "net_", None) for e in getattr(self, "estimators_", [])]
        with ExitStack() as stack:
            stack.enter_context(state_restored_on_failure(self))
            for net in nets:
                stack.enter_context(training_state_restored_on_failure(net))
            self._partial_fit(X)
        return self

    def _partial_fit(self, X) -> None:
        started = time.perf_counter()
        first_call = not hasattr(self, "estimators_")
        self.score_weights_ = self._resolved_weights()
        if first_call:
            _tabular.warn_identifier_columns(X)
        X = self._validated(X, reset=first_call)
        n_samples, n_features = X.shape
        rng = getattr(self, "_partial_rng", None)
        if rng is None:
            rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
        self._partial_rng = rng
        self._update_reservoir(X, rng)
        sample = self._calibration_rows
        if _tabular.is_all_numeric(self.table_):  # fills follow the rows seen
            self.table_ = _tabular._fit_numeric(self, sample)
        self._progress(f"refitting the scaler on {sample.shape[0]:,} rows", started)
        self.scaler_ = self._fitted_scaler(sample)
        if first_call:
            members = self._n_members()
            seeder = check_random_state(self.random_state)
            if self.estimator is None:
                seed = int(seeder.randint(np.iinfo(np.int32).max))
                self.estimators_ = [
                    default_estimator(
                        n_samples,
                        n_features,
                        random_state=None if self.random_state is None else seed + g,
                    )
                    for g in range(members)
                ]
            else:
                self.estimators_ = self._member_clones(seeder, members)
            self.n_estimators_ = members
            self.estimator_ = self.estimators_[0]
        if is_lazy_array(X):
            rows = _MemberRows(X, 1, scale=self._scale_raw)
        else:
            rows = self._network_input(self._scale_all(X))
        for g, estimator in enumerate(self.estimators_):
            self._progress(
                f"one epoch of network {g + 1} of {self.n_estimators_} on "
                f"{n_samples:,} rows",
                started,
            )
            estimator.partial_fit(rows)
        self._progress(f"calibrating the scores on {sample.shape[0]:,} rows", started)
        self._calibrate(sample)
        self.n_samples_seen_ = getattr(self, "n_samples_seen_", 0) + n_samples

    def _update_reservoir(self, X, rng: np.random.Generator) -> None:
        """Reservoir sampling (Algorithm R) of the rows given to ``partial_fit``."""
        size = sample_rows(X.shape[1])
        reservoir = getattr(self, "_calibration_rows", None)
        seen = getattr(self, "_reservoir_seen", 0)
        if reservoir is None:
            reservoir, seen = np.empty((0, X.shape[1])), 0
        for chunk in self._row_chunks(X):
            take = min(size - len(reservoir), len(chunk))
            if take > 0:
                reservoir = np.concatenate([reservoir, chunk[:take]])
            rest = chunk[take:]
            if len(rest):
                # Row number t (0-based) of the stream replaces a random slot
                # with probability size / (t + 1).
                t = seen + take + np.arange(len(rest))
                slots = np.floor(rng.random(len(rest)) * (t + 1)).astype(np.int64)
                keep = slots < size
                reservoir[slots[keep]] = rest[keep]
            seen += len(chunk)
        self._calibration_rows, self._reservoir_seen = reservoir, seen

    # -- data: one validation entry point, rows read and scaled chunk by chunk ----
    def _validated(self, X, *, reset: bool):
        """Validated rows: float64 in memory, or a lazy array left on disk.

        A lazy array's shape, width and feature names are checked here; its
        values (numeric, finite) chunk by chunk as they are read, with
        ``check_array``'s messages.
        """
        minimum = 2 if reset else 1
        if sp.issparse(X):
            X = _densified(X)
        if is_lazy_array(X):
            _check_lazy(self, X, reset=reset, minimum=minimum)
            return X
        # Numeric arrays as before; categorical columns one-hot encoded; NaN kept.
        return _tabular.validate(self, X, reset=reset)

    def _chunk_rows(self) -> int:
        """Rows per chunk: at most ``CHUNK_ROWS``, one forward pass of every network."""
        rows = CHUNK_ROWS
        for estimator in getattr(self, "estimators_", []):
            rows = min(rows, _inference_rows(estimator) or rows)
        return max(1, rows)

    def _row_chunks(self, X) -> Iterator[np.ndarray]:
        """Consecutive float64 chunks of validated rows (read from disk if lazy)."""
        rows = self._chunk_rows()
        for start in range(0, X.shape[0], rows):
            yield _chunk_of(X, start, min(start + rows, X.shape[0]))

    def _read_sample(self, X, size: int, rng) -> np.ndarray:
        """A uniform random sample of ``size`` rows of a lazy array, in file order."""
        # Generator.choice draws without replacement in O(size) memory (the
        # legacy RandomState.choice permutes all n row numbers).
        generator = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        indices = np.sort(generator.choice(X.shape[0], size=size, replace=False))
        rows = self._chunk_rows()
        return np.concatenate(
            [
                _read_chunk(X, start, min(start + rows, size), indices)
                for start in range(0, size, rows)
            ]
        )

    def _scale_all(self, X: np.ndarray) -> np.ndarray:
        """``_scale`` of in-memory rows, chunk by chunk into one float32 array."""
        Z = np.empty(X.shape, dtype=np.float32)
        rows = self._chunk_rows()
        for start in range(0, X.shape[0], rows):
            Z[start : start + rows] = self._scale(X[start : start + rows])
        return Z

    def _scale_raw(self, chunk: np.ndarray) -> np.ndarray:
        """Validate and scale one chunk read from a lazy array."""
        chunk = check_array(
            chunk, dtype=[np.float64, np.float32], ensure_min_samples=0, input_name="X"
        )
        return self._scale(chunk.astype(np.float64, copy=False))

    def _map_chunks(
        self, X, fn: Callable[[np.ndarray], np.ndarray], scaled: bool = True
    ) -> np.ndarray:
        """``fn`` of the scaled rows of ``X`` (of the validated rows with
        ``scaled=False``), chunk by chunk, into one output."""
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        rows, n_samples = self._chunk_rows(), X.shape[0]

        def result_of(start: int) -> np.ndarray:
            chunk = _chunk_of(X, start, min(start + rows, n_samples))
            return fn(self._scale(chunk) if scaled else chunk)

        first = result_of(0)  # its shape and dtype make the output
        out = np.empty((n_samples, *first.shape[1:]), dtype=first.dtype)
        out[: len(first)] = first

        def write(start: int) -> None:
            out[start : start + rows] = result_of(start)

        def write_in_worker(start: int) -> None:
            with torch_threads(1):  # as its OpenMP loops, one thread
                write(start)

        # The other chunks are shared among threads on demand, a thread on a
        # busy core scoring fewer of them (skae._parallel); each chunk is
        # scored as if alone, so the output does not depend on the threads.
        starts = range(rows, n_samples, rows)
        threads = openmp_threads() if len(starts) > 1 else 1
        if threads == 1:
            for start in starts:
                write(start)
        else:
            map_on_demand(write_in_worker, starts, threads)
        return out

    def _progress(self, message: str, started: float | None = None) -> None:
        if self.verbose:
            elapsed = "" if started is None else f" ({time.perf_counter() - started:.1f} s)"
            print(f"[AnomalyDetector] {message}{elapsed}", flush=True)

    @deprecated(  # type: ignore[misc]
        "n_members_ is deprecated and will be removed in skae 0.3; use n_estimators_."
    )
    @property
    def n_members_(self) -> int:
        return self.n_estimators_

    def _set_persist_state(self, state: dict) -> None:
        state = dict(state)
        if "score_weights_" not in state and "offset_" in state:
            # A file written before the neighbour part: its score had two parts
            # (its distance_weight was a number).
            self.neighbors_weight = 0.0
            self.histogram_weight = 0.0
            state["score_weights_"] = self._resolved_weights()
            state.setdefault("neighbors_reference_", None)
            state.setdefault("neighbors_scale_", None)
        weights = state.get("score_weights_")
        if isinstance(weights, dict) and "histogram" not in weights:
            # A file written before the histogram part: its score had none.
            self.histogram_weight = 0.0
            state["score_weights_"] = {**weights, "histogram": 0.0}
            state.setdefault("histograms_", None)
            state.setdefault("histogram_scale_", None)
        state.setdefault("auto_contamination_", None)  # files written before it
        if "n_members_" in state:  # files written before n_estimators_
            state.setdefault("n_estimators_", state.pop("n_members_"))
        for name, value in state.items():
            setattr(self, name, value)
        estimators = getattr(self, "estimators_", None)
        if estimators is not None and len(estimators) < self.n_estimators_:
            # An older file holding the grouped default network: cut it up.
            self.estimators_ = split_grouped(estimators[0], self.n_estimators_)
            self.estimator_ = self.estimators_[0]

    def _member_reconstructions(self, Z: np.ndarray) -> list[np.ndarray]:
        """Each member's reconstruction of the scaled rows ``Z``."""
        Z = self._network_input(Z)
        return [_forward(e.reconstruct, Z) for e in self.estimators_]

    def _network_input(self, Z: np.ndarray) -> np.ndarray:
        """``Z`` with its missing cells (NaN) filled: the network never sees NaN.

        The fill is the training median of the column in scaled units (0 for
        the centred one-hot columns of a categorical column).
        """
        missing = np.isnan(Z)
        if not missing.any():
            return Z
        return np.where(missing, self._scaled_fill(), Z).astype(np.float32)

    # -- scoring ------------------------------------------------------------------
    def _transformed(self, X: np.ndarray) -> np.ndarray:
        """The scaler's output for the rows ``X`` (``X`` itself without one)."""
        return X if self.scaler_ is None else self.scaler_.transform(X)

    def _scaled_fill(self) -> np.ndarray | float:
        """The row standing for missing cells, scaled (0 for a file without it)."""
        table = getattr(self, "table_", None)  # None: saved before skae had it
        return 0.0 if table is None else self._scale(_tabular.fill_row(table)[None, :])

    def _scale(self, X: np.ndarray, transformed=None) -> np.ndarray:
        """Scaled (and clipped) float32 rows, as the network sees them.

        ``transformed``: ``_transformed(X)``, when already computed.
        """
        Z = self._transformed(X) if transformed is None else transformed
        Z = np.array(Z, dtype=np.float64)  # a copy, safe to clip in place
        if self.clip is not None:
            low = -self.clip
            high = 1 + self.clip if isinstance(self.scaler_, MinMaxScaler) else self.clip
            np.clip(Z, low, high, out=Z)
        return to_float32(Z)  # a clear ValueError if values overflow float32

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
            return self._balanced_error_sums(
                self._each_member_errors(Z) if errors is None else errors
            )
        Z = self._network_input(Z)
        scores = [_forward(e.score_samples, Z) for e in self.estimators_]
        return -np.mean(scores, axis=0, dtype=np.float64)

    @staticmethod
    def _distance_part(Z: np.ndarray) -> np.ndarray:
        """Mean squared scaled value: how far the row is from the column medians.

        A missing cell (NaN) counts as lying at the median.
        """
        return np.nansum(np.square(Z, dtype=np.float64), axis=1) / Z.shape[1]

    def _neighbor_space(self, X: np.ndarray, transformed=None) -> np.ndarray:
        """Scaled float64 rows, *not* clipped, missing cells at the column fill.

        ``transformed``: ``_transformed(X)``, when already computed.

        Neighbour distances see how extreme a value is: clipping, which keeps
        one wild value from swamping the network's training, would hide it.
        One more column per categorical column places a category not seen at
        fit ``UNSEEN_CATEGORY_DISTANCE`` away from every training row (in the
        one-hot block alone it would be nearer to them, at 1, than a seen
        category that does not match, at sqrt(2)).
        """
        # Not modified in place below: no copy needed.
        U = np.asarray(
            self._transformed(X) if transformed is None else transformed, dtype=np.float64
        )
        unseen = _tabular.unseen_categories(getattr(self, "table_", None), U)
        missing = np.isnan(U)
        if missing.any():
            U = np.where(missing, np.broadcast_to(self._scaled_fill(), U.shape), U)
        if unseen.shape[1]:
            U = np.hstack([U, UNSEEN_CATEGORY_DISTANCE * unseen])
        return U

    def _neighbors_part(self, U: np.ndarray) -> np.ndarray:
        """Mean distance of each row to its nearest reference rows.

        ``U``: the rows in the neighbour space (``_neighbor_space``).
        """
        reference = self.neighbors_reference_
        index = self.__dict__.get("_neighbor_index")
        if index is None:  # built lazily: not saved with the model
            index = _neighbors.build_index(reference, self.n_neighbors)
            self._neighbor_index = index
        return _neighbors.mean_distances(index, reference, U, self.n_neighbors)

    def _histogram_part(self, U: np.ndarray) -> np.ndarray:
        """How rare each row's values are in the training histograms of their
        columns (``skae._histograms``); ``U`` as for ``_neighbors_part``."""
        return _histograms.histogram_scores(self.histograms_, U)

    def _resolved_weights(self) -> dict:
        """Weights of the score's parts, from the parameters (validated)."""
        if self.distance_weight == "auto":
            distance = (
                DISTANCE_WEIGHT
                if self.estimator is None
                else GIVEN_ESTIMATOR_DISTANCE_WEIGHT
            )
        else:
            distance = float(self.distance_weight)
        default = self.estimator is None
        if self.neighbors_weight == "auto":
            neighbors = NEIGHBORS_WEIGHT * (1 - distance) if default else 0.0
        else:
            neighbors = float(self.neighbors_weight)
        if self.histogram_weight == "auto":
            # At most what the other weights leave: neighbors_weight=1 alone
            # stays valid, as it was before the histogram part.
            left = max(0.0, 1 - distance - neighbors)
            histogram = min(HISTOGRAM_WEIGHT * (1 - distance), left) if default else 0.0
        else:
            histogram = float(self.histogram_weight)
        if distance + neighbors + histogram > 1 + 1e-12:
            raise ValueError(
                "distance_weight + neighbors_weight + histogram_weight must be at "
                "most 1 (the rest weighs the reconstruction part); got "
                f"{distance:g} + {neighbors:g} + {histogram:g}."
            )
        return {
            "reconstruction": max(0.0, round(1.0 - distance - neighbors - histogram, 12)),
            "distance": distance,
            "neighbors": neighbors,
            "histogram": histogram,
        }

    def _score_rows(self, chunk: np.ndarray) -> np.ndarray:
        """``score_samples`` of one chunk of validated rows."""
        weights = self.score_weights_
        scaled = self._transformed(chunk)  # once, for every space below
        Z = self._scale(chunk, scaled)
        parts = {"reconstruction": self._reconstruction_part(Z)}
        if weights["distance"] > 0:
            parts["distance"] = self._distance_part(Z)
        parts.update(self._space_parts(chunk, scaled))
        return self._combine(parts)

    def _space_parts(self, chunk: np.ndarray, scaled: np.ndarray) -> dict:
        """The parts of the score read in the neighbour space, those that weigh.

        ``scaled``: ``_transformed(chunk)``. The space is built once for both.
        """
        weights = self.score_weights_
        wanted = [name for name in ("neighbors", "histogram") if weights[name] > 0]
        if not wanted:
            return {}
        U = self._neighbor_space(chunk, scaled)
        part = {"neighbors": self._neighbors_part, "histogram": self._histogram_part}
        return {name: part[name](U) for name in wanted}

    def _combine(self, parts: dict) -> np.ndarray:
        """``score_samples`` from the parts of the anomaly score.

        ``parts``: each part's anomaly scores (higher = more anomalous), by name.
        """
        weights = self.score_weights_
        if weights["reconstruction"] == 1:
            return -parts["reconstruction"]
        scales = {
            "reconstruction": self.reconstruction_scale_,
            "distance": self.distance_scale_,
            "neighbors": self.neighbors_scale_,
            "histogram": self.histogram_scale_,
        }
        # Stouffer's method: a weighted sum of the parts' normal scores, in a
        # fixed order (a loaded model's dict may list them in another; float
        # sums depend on the order).
        combined = sum(
            weights[name] * normal_scores(parts[name], scales[name])
            for name in scales
            if weights.get(name, 0) > 0
        )
        # Exponentiated: an error-like, right-skewed positive score, on which the
        # median + k * MAD rule behaves as on reconstruction errors.
        return -np.exp(np.minimum(combined, _MAX_LOG_SCORE))

    def _member_squared_errors(self, Z: np.ndarray) -> np.ndarray:
        """Squared error of every cell for every member, in scaled units.

        Returns an array of shape ``(n_estimators_, n_samples, n_features)``,
        one error per original column (a categorical column's is a
        cross-entropy, see ``skae._tabular``), NaN where the cell is missing.
        """
        return np.stack(list(self._each_member_errors(Z)))

    def _balanced_error_sums(self, member_errors) -> np.ndarray:
        """Row sums of ``_feature_errors``, one member at a time.

        ``member_errors``: each member's squared errors of the rows (an array
        of them, or an iterator). The same sums (to rounding) as
        ``_feature_errors(...).sum(axis=1)`` without the members' errors side
        by side: stacking, dividing and averaging them took half the
        reconstruction part's time in scoring. Calibration and scoring both
        sum this way, so a training row's score is its calibration score.
        """
        weights = _tabular.column_weights(
            getattr(self, "table_", None), self.feature_error_scale_.shape[1]
        )
        # Missing cells (NaN) add nothing to the row's error. Summed row by row
        # (not a matrix product, whose rounding may depend on the rows beside):
        # a row's score does not depend on the rows scored with it.
        sums = [
            (np.nan_to_num(errors, nan=0.0) * (weights / scale)).sum(axis=1)
            for scale, errors in zip(self.feature_error_scale_, member_errors, strict=True)
        ]
        return sum(sums) / len(sums)

    def _each_member_errors(self, Z: np.ndarray):
        """``_member_squared_errors(Z)``, one member's array at a time."""
        Z64 = Z.astype(np.float64)
        table = getattr(self, "table_", None)
        for R in self._member_reconstructions(Z):
            yield _tabular.column_errors(table, Z64, R.astype(np.float64))

    def _feature_errors(self, Z: np.ndarray, errors=None) -> np.ndarray:
        """Each feature's share of the row's (balanced) mean squared error,
        averaged over the members."""
        if errors is None:
            errors = self._member_squared_errors(Z)
        if self.feature_error_scale_ is not None:
            errors = errors / self.feature_error_scale_[:, None, :]
        # Missing cells (NaN) add nothing to the row's error.
        weights = _tabular.column_weights(getattr(self, "table_", None), errors.shape[-1])
        return np.nan_to_num(errors.mean(axis=0) * weights, nan=0.0)

    def score_samples(self, X):
        """Normality score of each row (higher means more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-exp(w_e * s_e + w_k * s_k + w_d * s_d)`` as described in the
            class documentation; simply ``-e``, minus the reconstruction part,
            when that part weighs 1.
        """
        return self._map_chunks(X, self._score_rows, scaled=False)

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
        return self._map_chunks(X, lambda Z: self._feature_errors(Z).sum(axis=1))

    def explain(self, X) -> pd.DataFrame:
        """Per-feature reconstruction errors: which columns make a row unusual.

        Entry ``(i, j)`` is ``(z_ij - zhat_ij) ** 2 / (n_features * m_j)``,
        where ``z`` is the scaled (and clipped) row, ``zhat`` the network's
        reconstruction and ``m_j = feature_error_scale_[j]`` (1 when errors
        are not balanced), so each row sums to :meth:`reconstruction_error`.
        With balanced errors every column averages ``1 / n_features`` over
        the training rows, and a large entry means that column is much worse
        reconstructed than usual. In a table with categorical columns, a
        categorical column's entry is a (balanced) cross-entropy, and each
        column's weight is its share of the encoded width instead of
        ``1 / n_features`` (see ``skae._tabular``); a missing cell's entry is
        0. For a variational autoencoder the scores come from the evidence
        lower bound while these errors use its reconstruction of the
        posterior mean.

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
        errors = self._map_chunks(X, self._feature_errors)
        if hasattr(self, "feature_names_in_"):
            columns = list(self.feature_names_in_)
        else:
            columns = [f"x{i}" for i in range(self.n_features_in_)]
        return pd.DataFrame(errors, columns=columns, index=index)

    # -- thresholds (none of these retrains the network) ------------------------
    def set_threshold_from_contamination(self, contamination) -> AnomalyDetector:
        """Flag the ``contamination`` share of the training rows.

        Use it when the share of anomalies in the training data is known.

        Parameters
        ----------
        contamination : float in (0, 0.5] or "auto"
            Share of training rows to flag. ``"auto"`` goes back to the share
            that ``contamination="auto"`` flags (``auto_contamination_``),
            without refitting.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        auto = isinstance(contamination, str) and contamination == "auto"
        valid = Interval(Real, 0, 0.5, closed="right")
        if not auto and (
            isinstance(contamination, bool) or not valid.is_satisfied_by(contamination)
        ):
            raise ValueError(
                f"contamination must be a float in (0, 0.5] or 'auto'; got "
                f"{contamination!r}."
            )
        check_is_fitted(self)
        share = contamination
        if auto:
            share = getattr(self, "auto_contamination_", None)
            if share is None:  # a file saved before it was kept
                raise ValueError(
                    "This detector was saved without auto_contamination_; refit it "
                    "with contamination='auto' to get the automatic threshold."
                )
        self.offset_ = _thresholds.offset_from_contamination(self.train_scores_, share)
        return self

    def set_threshold_from_mad(self, k: float = 3.5) -> AnomalyDetector:
        """Robust rule: flag rows whose anomaly score exceeds median + ``k`` MAD.

        The anomaly score is ``-score_samples`` (the reconstruction part when
        it weighs 1). Use it when nothing is known about the
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

    def set_threshold_from_labels(
        self,
        X,
        y,
        min_precision: float | None = None,
        *,
        precision: float | str | None = "deprecated",
    ):
        """Choose the threshold on a few labelled rows.

        Use it when some rows have been checked: with ``min_precision=None``
        the threshold maximises the F1 score of the anomaly class on them; with
        a ``min_precision`` it catches as many anomalies as possible while at
        least that share of the flagged rows are real anomalies.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Labelled rows.
        y : array-like of shape (n_samples,)
            1 marks an anomaly, 0 a normal row (both must occur).
        min_precision : float in (0, 1] or None, default=None
            Required precision (the share of flagged rows that are anomalies),
            or None to maximise F1.

            .. versionadded:: 0.2
               Replaces ``precision``.
        precision : float in (0, 1] or None, default="deprecated"
            Former name of ``min_precision``; give ``min_precision`` instead.

            .. deprecated:: 0.2
               ``precision`` was renamed ``min_precision`` in 0.2 and will be
               removed in 0.4.

        Returns
        -------
        self : object
            The detector, with ``offset_`` updated.
        """
        name = "min_precision"
        if not (isinstance(precision, str) and precision == "deprecated"):
            if min_precision is not None:
                raise ValueError(
                    "precision was renamed min_precision; give min_precision only, not "
                    f"both (got precision={precision!r}, min_precision={min_precision!r})."
                )
            warnings.warn(
                "The argument precision of set_threshold_from_labels was renamed "
                "min_precision in skae 0.2 and will be removed in 0.4; use "
                f"min_precision={precision!r} instead.",
                FutureWarning,
                stacklevel=2,
            )
            min_precision, name = precision, "precision"
        if min_precision is not None:
            _check_number(name, min_precision, Interval(Real, 0, 1, closed="right"))
        y = _thresholds.check_anomaly_labels(y)
        scores = self.score_samples(X)
        if scores.shape[0] != y.shape[0]:
            raise ValueError(f"X has {scores.shape[0]} rows but y has {y.shape[0]} labels.")
        self.offset_ = _thresholds.offset_from_labels(scores, y, min_precision)
        return self


def _densified(X) -> np.ndarray:
    """A sparse matrix as a dense array, when that fits ``MAX_DENSE_BYTES``.

    The detector's scaler centres columns and its distances read whole rows,
    so sparse input (``OneHotEncoder``'s output, say) is made dense once.
    """
    n_bytes = 8 * X.shape[0] * X.shape[1]
    if n_bytes > MAX_DENSE_BYTES:
        raise TypeError(
            f"AnomalyDetector densifies sparse input, and this {X.shape[0]:,} x "
            f"{X.shape[1]:,} matrix would take {n_bytes / 2**30:.1f} GiB as float64 "
            f"(at most {MAX_DENSE_BYTES / 2**30:.0f} GiB): reduce its columns first, "
            "for example with sklearn.decomposition.TruncatedSVD."
        )
    return X.toarray()


def _inner_loss(estimator) -> str | None:
    """The ``loss`` parameter of an inner estimator, if it has one."""
    if estimator is None or not hasattr(estimator, "get_params"):
        return None
    return estimator.get_params(deep=False).get("loss")


def _check_number(name: str, value, interval: Interval) -> None:
    if isinstance(value, bool) or not interval.is_satisfied_by(value):
        raise ValueError(f"{name} must be {interval}; got {value!r}.")

"""AutoencoderImputer: fill missing cells with a denoising autoencoder's predictions."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)
from torch import nn

from . import _tabular
from ._architectures import EncoderDecoder, MaskedInputMLP
from ._arrays import column_fill_stats, fill_from_stats, na_to_nan, to_float32
from ._base import BaseAutoencoder
from ._docstrings import fill_doc
from ._nets import MaskingNet
from ._threads import uses_threads

# max_epochs="auto" trains for about this many optimizer steps (at least
# _MIN_AUTO_EPOCHS passes over the data, at most _MAX_AUTO_EPOCHS).
_AUTO_STEPS = 3000
_MIN_AUTO_EPOCHS, _MAX_AUTO_EPOCHS = 10, 1000


@fill_doc
class AutoencoderImputer(BaseAutoencoder):
    """Impute missing values with a denoising autoencoder (the MIDA idea).

    A drop-in for :class:`~sklearn.impute.SimpleImputer` whose fill values
    come from a neural network trained on the observed cells. Columns are
    standardised with their observed mean and standard deviation. The network
    reads each row with its missing cells set to the column mean *and* the
    missing-cell indicator (concatenated to the row), and at every training
    step a random share ``mask_rate`` of the observed cells is hidden as well:
    the loss scores the network's predictions of these hidden cells only (a
    masked loss; cells missing in the data are never scored). ``transform``
    replaces each missing cell by the network's prediction from the observed
    cells of its row; observed cells are returned unchanged.

    With ``architecture`` other than ``"mlp"`` or a custom ``module``, the
    network sees missing cells through a learned per-column embedding
    instead of the concatenated indicator.

    Parameters
    ----------
    missing_values : float, default=np.nan
        The placeholder for missing cells; ``np.nan`` (which also matches
        pandas' ``pd.NA``) or a number.
    add_indicator : bool, default=False
        Append a missing indicator (one 0/1 column per column with missing
        cells at fit, as :class:`~sklearn.impute.MissingIndicator`) to
        ``transform``'s output.
    keep_empty_features : bool, default=False
        Keep columns with no observed value at fit, filled with 0, as
        :class:`~sklearn.impute.SimpleImputer` does; by default ``transform``
        drops them.
    mask_rate : float, default=0.25
        Share of the observed cells hidden at each training step (in (0, 1)).
    n_components : int or None, default=None
        Width of the code; None means the number of columns.
    hidden_layer_sizes : int or tuple of int, default=(128,)
        Widths of the encoder's hidden layers, outermost first (an int is one
        hidden layer); the decoder uses them in reverse. For
        ``architecture="conv"`` the channels of each convolution block, for
        ``"lstm"`` the units of each LSTM layer.
    {architecture}
    {input_shape}
    {activation}
    output_activation : {"auto", "identity", "sigmoid"}, default="auto"
        Activation of the reconstruction with ``architecture="conv"`` or
        ``"lstm"``; ``"auto"`` means ``"identity"`` (the loss is ``"mse"``).
        The built-in MLP's reconstruction of the standardised cells is
        always linear.
    loss : {"mse"}, default="mse"
        Squared error of the standardised cells, the only loss the imputer
        takes; another value raises a ``ValueError`` in ``fit``.
    {dropout}
    {batch_norm}
    {activity_l1}
    {module}
    {module_kwargs}
    {optimizer}
    {optimizer_kwargs}
    {lr}
    weight_decay : float, default=1e-3
        L2 penalty passed to the optimizer.
    {batch_size}
    max_epochs : int or "auto", default="auto"
        Passes over the training data; ``"auto"`` gives about 3,000 optimizer
        steps (between 10 and 1,000 epochs).
    {early_stopping}
    {validation_fraction}
    {n_iter_no_change}
    {tol}
    {callbacks}
    {device}
    {precision}
    {n_jobs}
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the masking noise, dropout
        and the validation split. With an int, fits on the CPU are
        repeatable. The global random state of torch is left untouched.
    {verbose}

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,)
        Observed mean of each column (0 for a column with no observed value).
    scale_ : ndarray of shape (n_features_in_,)
        Observed standard deviation of each column (1 where it is 0 or undefined).
    empty_features_ : ndarray of bool of shape (n_features_in_,)
        Columns with no observed value at fit (dropped by ``transform`` unless
        ``keep_empty_features=True``).
    indicator_features_ : ndarray of int
        Columns with missing cells at fit: those ``add_indicator`` flags (as
        :class:`~sklearn.impute.MissingIndicator` with ``features="missing-only"``).
    {net_}
    {history_}
    {n_epochs_}
    {stopped_early_}
    {interrupted_}
    {n_components_}
    {input_shape_}
    fill_values_ : ndarray of shape (n_features_in_,)
        Column means of the standardised training data (what a network that
        does not read NaN itself would see in a missing cell).
    missing_indicator_ : bool
        Always True: the network reads missing cells.
    {n_features_in_}
    {feature_names_in_}

    See Also
    --------
    sklearn.impute.SimpleImputer : Column means (or medians, modes).
    sklearn.impute.IterativeImputer : Round-robin regression of each column.
    sklearn.impute.KNNImputer : Means of the nearest rows.

    References
    ----------
    L. Gondara and K. Wang, "MIDA: Multiple Imputation using Denoising
    Autoencoders", PAKDD 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderImputer
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(200, 2))
    >>> X = np.hstack([z, z @ rng.normal(size=(2, 3))])
    >>> X_missing = X.copy()
    >>> X_missing[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imputer = AutoencoderImputer(max_epochs=20, random_state=0)
    >>> X_filled = imputer.fit_transform(X_missing)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> observed = ~np.isnan(X_missing)
    >>> bool(np.array_equal(X_filled[observed], X_missing[observed]))
    True
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "missing_values": [Real],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "mask_rate": [Interval(Real, 0, 1, closed="neither")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    _net_class = MaskingNet
    _always_missing_aware = True

    def __init__(
        self,
        *,
        missing_values=np.nan,
        add_indicator=False,
        keep_empty_features=False,
        mask_rate=0.25,
        n_components=None,
        hidden_layer_sizes=(128,),
        architecture="mlp",
        input_shape=None,
        activation="relu",
        output_activation="auto",
        loss="mse",
        dropout=0.0,
        batch_norm=False,
        activity_l1=0.0,
        module=None,
        module_kwargs=None,
        optimizer="adam",
        optimizer_kwargs=None,
        lr=1e-3,
        weight_decay=1e-3,
        batch_size=64,
        max_epochs="auto",
        early_stopping=False,
        validation_fraction=None,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        device="cpu",
        precision=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.mask_rate = mask_rate
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.architecture = architecture
        self.input_shape = input_shape
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.activity_l1 = activity_l1
        self.module = module
        self.module_kwargs = module_kwargs
        self.optimizer = optimizer
        self.optimizer_kwargs = optimizer_kwargs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- the network --------------------------------------------------------------
    def _code_width(self, n_features: int) -> int:
        return n_features if self.n_components is None else self.n_components

    def _build_module(self, n_features: int) -> nn.Module:
        width = self._code_width(n_features)
        if self.module is not None:
            saved = self.n_components
            self.n_components = width
            try:
                return super()._build_module(n_features)
            finally:
                self.n_components = saved
        if self.architecture != "mlp":
            body, decoder = self._module_parts(n_features, width)
            return EncoderDecoder(body, width, decoder)
        # The dense network reads the missing indicator beside the filled row.
        return MaskedInputMLP(
            n_features,
            width,
            hidden_layer_sizes=self._hidden_sizes(),
            activation=self.activation,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
        )

    def _net_params(self) -> dict:
        params = {**super()._net_params(), "mask_rate": float(self.mask_rate)}
        if self.max_epochs == "auto":
            n_rows = getattr(self, "_n_fit_rows", 1)  # 1 when rebuilt by load()
            steps_per_epoch = max(1, math.ceil(n_rows / self.batch_size))
            epochs = math.ceil(_AUTO_STEPS / steps_per_epoch)
            params["max_epochs"] = int(np.clip(epochs, _MIN_AUTO_EPOCHS, _MAX_AUTO_EPOCHS))
        return params

    def _check_training_data(self, X) -> None:
        # Standardised data: only bce's range check would apply, and the
        # imputer's loss is the squared error of standardised cells.
        if self.loss != "mse":
            raise ValueError(
                "AutoencoderImputer predicts standardised cells and needs loss='mse'; "
                f"got loss={self.loss!r}."
            )

    # -- data ---------------------------------------------------------------------
    def _missing_as_nan(self, X, *, reset: bool, min_samples: int = 1) -> np.ndarray:
        """Validated float rows with every missing cell as NaN (a copy when needed)."""
        nan_marker = _is_nan(self.missing_values)
        _refuse_categories(X)
        X = validate_data(
            self,
            na_to_nan(X),
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if nan_marker else True,
            ensure_min_samples=min_samples,
            reset=reset,
        )
        if not nan_marker:
            X = np.where(X == self.missing_values, np.nan, X).astype(X.dtype, copy=False)
        return X

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (X.astype(np.float64) - self.mean_) / self.scale_
        return to_float32(Z)

    def _validate_fit_data(self, X, reset: bool = True) -> np.ndarray:
        X = self._missing_as_nan(X, reset=reset, min_samples=2)
        if reset:
            sums, counts, _ = column_fill_stats(X.astype(np.float64))
            self.mean_ = fill_from_stats(sums, counts)
            centred = np.where(np.isnan(X), 0.0, X - self.mean_)
            variance = (centred**2).sum(axis=0) / np.maximum(counts, 1)
            scale = np.sqrt(variance)
            self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
            self.empty_features_ = counts == 0
            self.indicator_features_ = np.flatnonzero(counts < X.shape[0])
        Z = self._standardise(X)
        self._n_fit_rows = Z.shape[0]
        self._set_missing_state(*column_fill_stats(Z), reset=reset)
        self._check_training_data(Z)
        return Z

    def _warn_empty_columns(self, empty: np.ndarray) -> None:
        # As SimpleImputer: its warning says what happens to them.
        what = (
            "kept as 0 (keep_empty_features=True)"
            if self.keep_empty_features
            else "dropped from the output (keep_empty_features=True keeps them as 0)"
        )
        names = getattr(self, "feature_names_in_", None)
        warnings.warn(
            f"{_tabular.no_observed_value(empty, names)}; they are {what}.",
            UserWarning,
            stacklevel=6,
        )

    def _validate_input(self, X) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        X = self._missing_as_nan(X, reset=False)
        return X, self._standardise(X)

    def _map_rows(self, X, fn, *, fill: bool = True):
        # The imputer's network reads NaN itself: never fill before it.
        return super()._map_rows(X, fn, fill=False)

    # -- imputing -----------------------------------------------------------------
    def _kept_columns(self) -> np.ndarray:
        if self.keep_empty_features:
            return np.ones(self.n_features_in_, dtype=bool)
        return ~self.empty_features_

    @uses_threads
    def transform(self, X):
        """Replace the missing cells of ``X`` with the network's predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows with missing cells (``missing_values``).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features_out)
            ``X`` with its missing cells filled, in the dtype of ``X``;
            columns with no observed value at fit are dropped (filled with 0
            under ``keep_empty_features=True``); the indicator columns follow
            under ``add_indicator=True``.
        """
        X, Z = self._validate_input(X)
        missing = np.isnan(X)
        out = X.astype(np.float64)
        if missing.any():
            predicted = self.net_.map_batches(Z, self.net_.module_).astype(np.float64)
            predicted = predicted * self.scale_ + self.mean_
            if self.keep_empty_features:
                predicted[:, self.empty_features_] = 0.0
            out[missing] = predicted[missing]
        out = out[:, self._kept_columns()].astype(X.dtype, copy=False)
        if self.add_indicator:
            out = np.hstack([out, missing[:, self.indicator_features_].astype(X.dtype)])
        return out

    @uses_threads
    def reconstruct(self, X):
        """The network's prediction of every cell of ``X``, in the units of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to reconstruct.

        Returns
        -------
        X_reconstructed : ndarray of shape (n_samples, n_features_in_)
            Predictions of every cell (observed ones too) from the row as given.
        """
        X, Z = self._validate_input(X)
        predicted = self.net_.map_batches(Z, self.net_.module_).astype(np.float64)
        return (predicted * self.scale_ + self.mean_).astype(X.dtype, copy=False)

    @uses_threads
    def reconstruction_error(self, X):
        """Mean squared error of each row's observed cells, in the units of ``X``.

        Each observed cell is predicted by the network from the row as given
        (:meth:`reconstruct`); a row with no observed cell gets 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        errors : ndarray of shape (n_samples,)
            Non-negative errors (float64).
        """
        X, Z = self._validate_input(X)
        predicted = self.net_.map_batches(Z, self.net_.module_).astype(np.float64)
        predicted = predicted * self.scale_ + self.mean_
        squared = np.square(X.astype(np.float64) - predicted)
        observed = ~np.isnan(X)
        total = np.where(observed, squared, 0.0).sum(axis=1)
        return total / np.maximum(observed.sum(axis=1), 1)

    def _has_indicator(self) -> bool:
        return bool(self.add_indicator)

    @available_if(_has_indicator)
    def inverse_transform(self, X):
        """Put the missing values back, from the indicator columns.

        Only with ``add_indicator=True`` (as for
        :class:`~sklearn.impute.SimpleImputer`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_out)
            Output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            The imputed cells set back to ``missing_values``; dropped empty
            columns come back all missing.
        """
        check_is_fitted(self)
        kept = self._kept_columns()
        n_kept = int(kept.sum())
        width = n_kept + len(self.indicator_features_)
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if X.shape[1] != width:
            raise ValueError(
                f"X has {X.shape[1]} columns, but transform's output has {width}."
            )
        out = np.full((X.shape[0], self.n_features_in_), self.missing_values, X.dtype)
        out[:, kept] = X[:, :n_kept]
        flagged = X[:, n_kept:].astype(bool)
        for k, column in enumerate(self.indicator_features_):
            out[flagged[:, k], column] = self.missing_values
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input column names; by default ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The kept input names, then ``missingindicator_<name>`` for each
            indicator column.
        """
        check_is_fitted(self, "n_features_in_")
        names = _check_feature_names_in(self, input_features)
        out = names[self._kept_columns()]
        if self.add_indicator:
            indicator = [f"missingindicator_{names[j]}" for j in self.indicator_features_]
            out = np.concatenate([out, indicator])
        return np.asarray(out, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _refuse_categories(X) -> None:
    """The imputer fills numeric cells only: a clear TypeError for categorical columns.

    ``bool`` columns are read as 0/1 numbers (as scikit-learn's imputers do).
    """
    if not isinstance(X, pd.DataFrame):
        return
    names = _tabular.categorical_names(
        X.loc[:, [not pd.api.types.is_bool_dtype(t) for t in X.dtypes]],
        numeric_objects=True,
    )
    if names:
        raise TypeError(
            f"AutoencoderImputer imputes numeric columns only; column(s) "
            f"{', '.join(names)} are categorical (category, string or object), and "
            "categorical columns are not imputed. Impute them separately (e.g. "
            "SimpleImputer(strategy='most_frequent') in a ColumnTransformer) or "
            "encode them as numbers first."
        )


def _is_nan(value) -> bool:
    return isinstance(value, Real) and math.isnan(value)

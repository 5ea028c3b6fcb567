"""Shared scikit-learn face of every skae autoencoder.

:class:`BaseAutoencoder` owns the parameters common to all autoencoders, their
validation, the assembly of the skorch net, ``fit``/``partial_fit``, the
persistence hooks and the methods that only need a fitted network with
``encode``/``decode``. Subclasses say which torch module and which skorch
engine to build (``_build_module``, ``_net_class``, ``_net_params``).

What is not particular to autoencoders lives below it: the device, seed and
undo of a fit in :mod:`skae._runtime`, float32 casting and missing-cell
statistics in :mod:`skae._arrays`, keyword checks in :mod:`skae._signatures`,
thread counts in :mod:`skae._threads`, and every use of skorch's internals in
:mod:`skae._nets`.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.history import History
from torch import nn

from . import _tabular
from ._architectures import (
    ARCHITECTURES,
    ArchitectureSpec,
    EncoderDecoder,
    get_architecture,
    migrate_mlp_state,
)
from ._arrays import (
    MAX_TRAINING_MAGNITUDE,
    column_fill_stats,
    fill_from_stats,
    has_missing,
    largest_magnitude,
    na_to_nan,
    to_float32,
    value_range,
)
from ._callbacks import check_finite_weights, silent
from ._data import LazyRowDataset, RandomSplit, chunk_rows, is_lazy_array, iter_row_chunks
from ._missing import MissingValueInput
from ._modules import ACTIVATIONS
from ._nets import PRECISIONS, AutoencoderNet, training_state_restored_on_failure
from ._persistence import PersistenceMixin, default_persist_state
from ._runtime import resolve_device, seeded_torch, state_restored_on_failure
from ._signatures import accepted_keywords, check_keywords, qualified_name
from ._threads import resolve_n_jobs, torch_threads, uses_threads, work_per_batch
from .exceptions import TrainingInterruptedWarning

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "sgd": torch.optim.SGD,
}

LOSSES = {"mse": nn.MSELoss, "bce": nn.BCELoss}

# torch's fused Adam/AdamW kernels (one kernel for every parameter instead of a
# Python loop over them) on CPU and CUDA (torch >= 2.4; skae needs 2.13). On CUDA skae
# always asks for them (torch recommends them there). On the CPU only for fits
# that run on one thread: there fused beat the for-loop and foreach kernels
# idle and with a busy core (0.38 s against 0.51 s and 0.50 s on the 20,000 x
# 64 benchmark), but the fused kernel parallelises over torch's thread pool
# and, with several threads and a core taken by another process, a 10-epoch
# fit of 2,000 x 20 rows took 13.9 s against 0.17 s (docs/performance.rst).
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)

# Used when early_stopping=True but no validation_fraction was given.
_DEFAULT_VALIDATION_FRACTION = 0.1


class BaseAutoencoder(
    PersistenceMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Base class for skae's autoencoder estimators. Not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        # The live set of registered names (skae._architectures.register_architecture).
        "architecture": [StrOptions(ARCHITECTURES)],
        "input_shape": [None, tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [StrOptions({"auto", "identity", "sigmoid"})],
        "loss": [StrOptions(set(LOSSES))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "activity_l1": [Interval(Real, 0, None, closed="left")],
        "module": [None, HasMethods(["encode", "decode"]), callable],
        "module_kwargs": [None, dict],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "optimizer_kwargs": [None, dict],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "device": [str],
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Options(Integral, {-1}),
        ],
        "precision": [StrOptions(set(PRECISIONS)), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # Subclasses choose their engine here.
    _net_class = AutoencoderNet

    # -- what subclasses customise ------------------------------------------------
    def _build_module(self, n_features: int) -> nn.Module:
        """Return a freshly initialised network for rows of ``n_features``."""
        module_kwargs = self._module_kwargs()
        if self.module is not None:
            if isinstance(self.module, nn.Module):
                # Copy so that fitting never mutates the parameter itself.
                return copy.deepcopy(self.module)
            return self.module(n_features, self.n_components, **module_kwargs)
        body, decoder = self._module_parts(n_features)
        return EncoderDecoder(body, self.n_components, decoder)

    def _module_kwargs(self) -> dict:
        """Validated ``module_kwargs``: arguments of a ``module`` given as a class."""
        kwargs = dict(getattr(self, "module_kwargs", None) or {})
        if not kwargs:
            return kwargs
        if self.module is None or isinstance(self.module, nn.Module):
            what = "None" if self.module is None else "a module instance"
            raise ValueError(
                f"module_kwargs={kwargs!r} needs module to be a class or callable "
                f"that builds the network; module is {what}."
            )
        check_keywords(
            self.module, kwargs, "module_kwargs", skip=2, owner=qualified_name(self.module)
        )
        return kwargs

    def _architecture_spec(self) -> ArchitectureSpec:
        """The registered spec of ``architecture`` (skae._architectures)."""
        return get_architecture(self.architecture)

    def _module_parts(self, n_features: int, n_components: int | None = None):
        """Encoder body and decoder (or its builder) of ``architecture``.

        The spec is resolved once and checks ``input_shape``,
        ``hidden_layer_sizes`` and ``groups`` against rows of ``n_features``.
        """
        spec = self._architecture_spec()
        n_components = self.n_components if n_components is None else n_components
        groups = getattr(self, "groups", 1)
        # The checks run in the order they always have: groups on an architecture
        # without them, then input_shape, hidden_layer_sizes, the groups' widths.
        if groups != 1 and not spec.supports_groups:
            spec.check_groups(groups, n_features, n_components, ())
        input_shape = spec.resolve_input_shape(self.input_shape, n_features)
        sizes = self._hidden_sizes(spec)
        groups = spec.check_groups(groups, n_features, n_components, sizes)
        return spec.build(
            n_features,
            n_components,
            input_shape=input_shape,
            hidden_layer_sizes=sizes,
            activation=self.activation,
            output_activation=self._output_activation(),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            groups=groups,
        )

    def _hidden_sizes(self, spec: ArchitectureSpec | None = None) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        # An int is one hidden layer of that width, as in scikit-learn's MLPs.
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a sequence of them, got "
                f"{self.hidden_layer_sizes!r}."
            )
        (spec or self._architecture_spec()).check_hidden_layer_sizes(sizes)
        return sizes

    def _input_shape(self, n_features: int) -> tuple[int, ...] | None:
        """Resolve ``input_shape`` against the row width: the shape of one row.

        One entry may be -1 and is inferred, as in ``numpy.reshape``; what
        None means and which shapes are accepted is the architecture spec's
        (for ``"lstm"`` None is a univariate sequence ``(n_features, 1)``;
        ``"conv"`` needs an explicit shape).
        """
        return self._architecture_spec().resolve_input_shape(self.input_shape, n_features)

    def _net_params(self) -> dict:
        """Extra keyword arguments for ``_net_class`` (they override the common ones)."""
        return {
            "activity_l1": self.activity_l1,
            "precision": self.precision,
            **self._missing_net_params(),
        }

    def _output_activation(self) -> str:
        if self.output_activation == "auto":
            return "sigmoid" if self.loss == "bce" else "identity"
        return self.output_activation

    def _check_training_data(self, X: np.ndarray) -> None:
        """Refuse data the chosen loss cannot fit (dense or sparse, NaN skipped)."""
        if self.loss != "bce":
            return
        low, high = value_range(X)
        if low < 0 or high > 1:
            raise ValueError(
                "loss='bce' needs every value of X in [0, 1]; got values in "
                f"[{low:.3g}, {high:.3g}]. Scale X (e.g. MinMaxScaler) or use "
                "loss='mse'."
            )
        if self.loss == "bce" and self._output_activation() != "sigmoid":
            raise ValueError(
                "loss='bce' needs outputs in [0, 1]; set output_activation='sigmoid' "
                "or 'auto'."
            )

    # -- fitting ------------------------------------------------------------------
    def _validation_fraction(self) -> float | None:
        if self.validation_fraction is None and self.early_stopping:
            return _DEFAULT_VALIDATION_FRACTION
        return self.validation_fraction

    def _callbacks(self) -> list:
        callbacks = copy.deepcopy(list(self.callbacks or []))
        if self.early_stopping:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="rel",
                        load_best=True,
                        sink=print if self.verbose else silent,
                    ),
                )
            )
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks

    def _optimizer_class(self) -> type[torch.optim.Optimizer]:
        """The optimizer class; a class that is not a torch optimizer is refused."""
        cls = OPTIMIZERS.get(self.optimizer, self.optimizer)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise TypeError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a subclass of "
                f"torch.optim.Optimizer (for example torch.optim.SGD); got {cls!r}."
            )
        return cls

    def _optimizer_params(self, fused: bool) -> dict:
        """skorch's ``optimizer__*`` arguments (``weight_decay``, ``optimizer_kwargs``).

        Every argument is checked against the optimizer's signature and tried on
        a dummy parameter, so that a wrong name or value is a ``ValueError``
        from skae naming it, before any training.
        """
        cls = self._optimizer_class()
        kwargs = dict(getattr(self, "optimizer_kwargs", None) or {})
        for name in ("params", "lr"):
            if name in kwargs:
                raise ValueError(
                    f"optimizer_kwargs may not set {name!r}"
                    + (": use the lr parameter." if name == "lr" else ".")
                )
        accepted = accepted_keywords(cls)
        if self.weight_decay or "weight_decay" in (accepted or {"weight_decay"}):
            if "weight_decay" in kwargs:
                raise ValueError(
                    "optimizer_kwargs may not set 'weight_decay': use the "
                    "weight_decay parameter."
                )
            kwargs = {"weight_decay": self.weight_decay, **kwargs}
        check_keywords(cls, kwargs, "optimizer_kwargs", skip=1, owner=cls.__name__)
        if fused and cls in _FUSED_OPTIMIZERS:
            if "fused" not in kwargs and "foreach" not in kwargs:
                kwargs["fused"] = True
        try:
            cls([nn.Parameter(torch.zeros(1))], lr=self.lr, **kwargs)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"{cls.__name__} refused optimizer_kwargs={self.optimizer_kwargs!r} "
                f"(with lr={self.lr!r}, weight_decay={self.weight_decay!r}): {exc}"
            ) from None
        return {f"optimizer__{k}": v for k, v in kwargs.items()}

    # -- CPU threads (n_jobs, skae/_threads.py) -------------------------------------
    def _n_threads(self, module: nn.Module) -> int | None:
        """Intra-op threads for calls on ``module``; None keeps torch's setting."""
        positions = 1
        if self.module is None:
            spec = self._architecture_spec()
            n_features = getattr(self, "n_features_in_", None)
            try:
                shape = self._input_shape(n_features) if n_features else self.input_shape
                positions = spec.positions_per_row(shape)
            except (ValueError, TypeError, IndexError):
                positions = 1
        work = work_per_batch(module, self.batch_size, positions)
        return resolve_n_jobs(getattr(self, "n_jobs", None), work)

    def _threads_for(self, module: nn.Module):
        """Context manager: torch's thread count for calls on ``module``, restored after."""
        return torch_threads(self._n_threads(module))

    def _make_net(self, n_features: int, device: torch.device) -> AutoencoderNet:
        """The skorch net of the parameters, for rows of ``n_features``, not initialised.

        Built as ``fit`` trains it; ``partial_fit`` then makes it incremental
        (``AutoencoderNet.continue_incrementally``).
        """
        fraction = self._validation_fraction()
        callbacks = self._callbacks()
        module = self._input_module(n_features)
        n_threads = self._n_threads(module)
        one_thread = (n_threads or torch.get_num_threads()) == 1
        fused = device.type == "cuda" or (device.type == "cpu" and one_thread)
        params = dict(
            module=module,
            criterion=LOSSES[self.loss](reduction="none"),
            optimizer=self._optimizer_class(),
            **self._optimizer_params(fused),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=RandomSplit(fraction) if fraction is not None else None,
            callbacks=callbacks or None,
            device=str(device),
            verbose=int(self.verbose),
        )
        params.update(self._net_params())
        return self._net_class(**params)

    def _validate_fit_data(self, X, reset: bool = True) -> np.ndarray | LazyRowDataset:
        """Validated training rows: float32 in memory, or a lazy dataset read in chunks.

        Sparse input comes back as a float32 CSR matrix (densified later, one
        batch at a time). Missing cells (NaN, ``pd.NA``) are kept as NaN; on
        the first fit they set ``fill_values_`` and ``missing_indicator_``.
        """
        if is_lazy_array(X):
            stats = self._validate_lazy(X, reset=reset, training=True)
            self._set_missing_state(*stats, reset=reset)
            return LazyRowDataset(X)
        if _tabular.is_mixed(self, X, reset=reset, numeric_objects=True):
            X = self._encode_table(X, reset=reset)
        else:
            if reset:
                self.table_ = None
            X = validate_data(
                self,
                na_to_nan(X),
                accept_sparse=("csr", "csc"),
                dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan",
                ensure_min_samples=2,
                reset=reset,
            )
        X32 = to_float32(X)
        self._set_missing_state(*column_fill_stats(X32), reset=reset)
        largest = largest_magnitude(X32)
        if largest > MAX_TRAINING_MAGNITUDE:
            raise ValueError(
                f"X contains values as large as {largest:.3g} in magnitude; training "
                "computes squared errors in float32, which overflow for values beyond "
                f"about {MAX_TRAINING_MAGNITUDE:.1e}. Rescale X, for example with "
                "sklearn.preprocessing.StandardScaler."
            )
        self._check_training_data(X32)
        return X32

    # -- categorical columns (skae/_tabular.py) -------------------------------------
    def _has_categories(self) -> bool:
        """Whether the model was fitted on a DataFrame with categorical columns."""
        return not _tabular.is_all_numeric(getattr(self, "table_", None))

    def _encode_table(self, X, *, reset: bool) -> np.ndarray:
        """The one-hot encoded float64 table of a DataFrame with categorical columns.

        At fit this sets ``table_``; ``n_features_in_`` and
        ``feature_names_in_`` stay the DataFrame's own columns.
        """
        if reset and self.loss == "bce":
            names = _tabular.categorical_names(X, numeric_objects=True)
            raise ValueError(
                f"loss='bce' cannot fit the categorical column(s) {', '.join(names)} "
                "(they are one-hot encoded and centred, outside [0, 1]); use "
                "loss='mse' or encode the categories yourself."
            )
        return _tabular.encode_table(self, X, reset=reset, numeric_objects=True)

    def _network_width(self) -> int:
        """Width of the rows the network reads: the encoded table's for categories."""
        if self._has_categories():
            return _tabular.encoded_width(self.table_)
        return self.n_features_in_

    def _decoded(self, R: np.ndarray) -> pd.DataFrame:
        """Reconstructed encoded rows back in the original columns (a DataFrame)."""
        names = getattr(self, "feature_names_in_", None)
        columns = (
            list(names)
            if names is not None
            else [f"x{j}" for j in range(self.n_features_in_)]
        )
        return _tabular.decode(self.table_, np.asarray(R, dtype=np.float64), columns)

    def _column_row_errors(self, X) -> np.ndarray:
        """Per-row mean over the original columns of each observed cell's error.

        Numeric columns: the squared error; categorical columns: the
        cross-entropy of the observed category (``skae._tabular``), so that a
        categorical column counts as one column. Missing cells do not count.
        """
        Z, Z32 = self._validate_input(X)
        net = self.net_
        if has_missing(Z32):
            R = net.map_batches(Z32, lambda x: net.module_(net.fill_input(x)))
        else:
            R = net.map_batches(Z32, net.module_)
        errors = _tabular.column_errors(self.table_, Z, R.astype(np.float64))
        observed = ~np.isnan(errors)
        total = np.where(observed, errors, 0.0).sum(axis=1)
        return total / np.maximum(observed.sum(axis=1), 1)

    # -- missing cells -------------------------------------------------------------
    # Estimators whose training itself makes cells missing (the imputer's
    # masking noise) set this, so that their network always has the indicator.
    _always_missing_aware = False

    def _set_missing_state(
        self, sums: np.ndarray, counts: np.ndarray, any_missing: bool, *, reset: bool
    ) -> None:
        """Learn the fill values at the first fit; later chunks only switch the mask on.

        A network whose first training data had missing cells gets a
        :class:`~skae._missing.MissingValueInput` (fill value plus a learned
        missing-cell embedding); the others see the fill value alone, at
        scoring time or in later ``partial_fit`` chunks.
        """
        if reset:
            self.fill_values_ = fill_from_stats(sums, counts)
            self.missing_indicator_ = bool(any_missing or self._always_missing_aware)
            empty = np.flatnonzero(np.asarray(counts) == 0)
            if empty.size:
                self._warn_empty_columns(empty)
        elif any_missing and hasattr(self, "net_"):
            self.net_.masked_loss = True

    def _warn_empty_columns(self, empty: np.ndarray) -> None:
        """Warn that the columns ``empty`` have no observed training value."""
        names = getattr(self, "feature_names_in_", None)
        warnings.warn(
            f"{_tabular.no_observed_value(empty, names)}: the model learns nothing "
            "from them (the network reads them as 0). Drop them.",
            UserWarning,
            stacklevel=6,
        )

    def _input_module(self, n_features: int) -> nn.Module:
        """``_build_module``'s network, wrapped to take NaN where training had some.

        A module with a true ``handles_missing`` attribute reads NaN itself and
        is not wrapped.
        """
        module = self._build_module(n_features)
        wanted = getattr(self, "missing_indicator_", False)
        if wanted and not getattr(module, "handles_missing", False):
            fill = torch.as_tensor(np.asarray(self.fill_values_, dtype=np.float32))
            module = MissingValueInput(module, fill)
        return module

    def _missing_net_params(self) -> dict:
        """The net's mask switch and fill values (see ``AutoencoderNet``)."""
        fill = getattr(self, "fill_values_", None)
        return {
            "masked_loss": bool(getattr(self, "missing_indicator_", False)),
            "fill_values": None if fill is None else np.asarray(fill, dtype=np.float32),
        }

    # -- data that stays out of memory ----------------------------------------------
    def _chunk_rows(self, n_features: int) -> int:
        return chunk_rows(n_features, self.batch_size)

    def _validate_lazy(self, X, *, reset: bool, training: bool):
        """check_array's checks on a lazily sliced array, without loading it whole.

        Shape, width and feature names are checked from metadata; values
        (numeric, no infinity, within float32, within the loss's range) chunk
        by chunk, with the messages ``check_array`` would give. For training,
        returns the columns' observed sums and counts and whether any cell is
        missing (NaN), gathered on the same pass.
        """
        n_samples, n_features = X.shape
        if n_features < 1:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
                "is required."
            )
        minimum = 2 if training else 1
        if n_samples < minimum:
            raise ValueError(
                f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
                f"minimum of {minimum} is required."
            )
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        if not training:
            return None
        sums, counts = np.zeros(n_features), np.zeros(n_features, dtype=np.int64)
        any_missing = False
        for chunk in iter_row_chunks(X, self._chunk_rows(n_features)):
            chunk = self._check_chunk(chunk)
            self._check_training_data(chunk)
            chunk_sums, chunk_counts, chunk_missing = column_fill_stats(chunk)
            sums += chunk_sums
            counts += chunk_counts
            any_missing = any_missing or chunk_missing
        return sums, counts, any_missing

    @staticmethod
    def _check_chunk(chunk: np.ndarray) -> np.ndarray:
        """Validate one in-memory chunk of lazy input and return it as float32."""
        chunk = check_array(
            chunk,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            ensure_min_samples=0,
            input_name="X",
        )
        return to_float32(chunk)

    def _map_rows(self, X, fn, *, fill: bool = True) -> tuple[np.ndarray, np.dtype]:
        """Validate ``X`` for the fitted model and apply ``fn`` in batches.

        Lazy arrays are read, validated and mapped one chunk at a time; sparse
        ones densified one batch at a time. Missing cells reach ``fn`` filled
        (``net_.fill_input``) unless ``fill=False`` (``fn`` handles NaN itself).
        Returns the float32 result and the dtype outputs should have (X's
        float dtype).
        """
        check_is_fitted(self)
        net = self.net_

        def apply(rows):
            if fill and has_missing(rows):
                return net.map_batches(rows, lambda x: fn(net.fill_input(x)))
            return net.map_batches(rows, fn)

        if is_lazy_array(X) and not self._has_categories():
            self._validate_lazy(X, reset=False, training=False)
            parts = [
                apply(self._check_chunk(chunk))
                for chunk in iter_row_chunks(X, self._chunk_rows(X.shape[1]))
            ]
            dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
            return np.concatenate(parts), np.dtype(dtype)
        X, X32 = self._validate_input(X)
        return apply(X32), X.dtype

    @contextmanager
    def _new_net(self, data: np.ndarray | LazyRowDataset):
        """Start training: a new net for ``data``, built under a new seed.

        ``fit`` and the first ``partial_fit`` both start here. The seed is
        drawn from ``random_state`` and kept as ``_seed`` (later
        ``partial_fit`` calls derive theirs from it); torch's generators stay
        seeded with it for the block, so that the weights, and whatever the
        caller trains inside the block, repeat exactly.
        """
        device = resolve_device(self.device)
        self._seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with seeded_torch(self._seed, device):
            yield self._make_net(_n_columns(data), device)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows. Both float64 and float32 are accepted; training runs
            in float32. Sparse matrices are densified one batch at a time. NaN
            (and pandas' ``pd.NA``) mark missing cells: the loss runs over the
            observed cells only.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with state_restored_on_failure(self):
            data = self._validate_fit_data(X)
            with self._new_net(data) as net, self._threads_for(net.module):
                net.fit(data)
            self._set_fitted_attributes(net, data)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one chunk of rows: one pass (epoch) over ``X``.

        scikit-learn's incremental-learning convention: the first call (on an
        unfitted estimator) builds and initialises the network, later calls
        continue training it with the optimizer state kept. Each call is one
        epoch over ``X``; ``max_epochs`` is not used, and neither are
        ``early_stopping`` and ``validation_fraction`` (no rows are held out).
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
            The updated estimator.
        """
        first_call = not hasattr(self, "net_")
        previous_net = None if first_call else self.net_
        with (
            state_restored_on_failure(self),
            training_state_restored_on_failure(previous_net),
        ):
            data = self._validate_fit_data(X, reset=first_call)
            if first_call:
                with self._new_net(data) as net:
                    net.initialize()
            else:
                net = self.net_
            # Fresh or fitted by fit: from here on no rows held out, no early
            # stop, so stopped_early_ comes out False.
            net.continue_incrementally()
            # A fresh, repeatable seed per call: shuffling and dropout differ
            # between calls but the sequence of calls repeats exactly.
            seed = (getattr(self, "_seed", 0) + len(net.history)) % np.iinfo(np.int32).max
            with seeded_torch(seed, net.data_device), self._threads_for(net.module):
                net.partial_fit(data, epochs=1)
            self._set_fitted_attributes(net, data)
        return self

    def _set_fitted_attributes(
        self, net: AutoencoderNet, data: np.ndarray | LazyRowDataset
    ) -> None:
        check_finite_weights(net)
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        self.stopped_early_ = bool(getattr(net, "stopped_early_", False))
        self.interrupted_ = bool(getattr(net, "interrupted_", False))
        if self.interrupted_:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) after {self.n_epochs_} "
                f"complete epoch(s) of max_epochs={self.max_epochs}. The estimator "
                "keeps the weights reached so far and is usable; interrupted_ is True.",
                TrainingInterruptedWarning,
                stacklevel=3,
            )
        first_row = data.read(0, 1) if isinstance(data, LazyRowDataset) else data[:1]
        code = net.map_batches(first_row, lambda x: net.module_.encode(net.fill_input(x)))
        self.n_components_ = int(np.prod(code.shape[1:]))
        self.input_shape_ = (
            self._input_shape(_n_columns(data)) if self.module is None else None
        )

    # -- safe persistence (skae/_persistence.py) -----------------------------------
    def _get_persist_state(self) -> dict:
        """Fitted state for ``save``: the network's weights instead of the net."""
        state = default_persist_state(self)
        net = state.pop("net_", None)
        if net is not None:
            state["net_"] = {"module_state": dict(net.module_.state_dict())}
            state["history_"] = [dict(row) for row in net.history]
        return state

    def _set_persist_state(self, state: dict) -> None:
        """Rebuild the net on the CPU from saved parameters, then load the weights."""
        state = dict(state)
        net_state, history = state.pop("net_", None), state.pop("history_", None)
        for name, value in state.items():
            setattr(self, name, value)
        if net_state is None:
            return
        with seeded_torch(0, torch.device("cpu")):  # leave the global RNG alone
            net = self._make_net(self._network_width(), torch.device("cpu"))
            net.initialize()
        # Files saved before the plain MLP became an EncoderDecoder name its
        # layers encoder.{i} / decoder.{j}; see migrate_mlp_state.
        module_state = migrate_mlp_state(net_state["module_state"], net.module_)
        try:
            net.module_.load_state_dict(module_state, strict=True)
        except (RuntimeError, KeyError, TypeError) as exc:
            raise ValueError(
                "The weights in the file do not match the network its parameters "
                f"build: {exc}"
            ) from None
        net.module_.eval()
        net.history = History(history or [])
        self.net_, self.history_ = net, net.history

    # -- using a fitted model -----------------------------------------------------
    @property
    def _n_features_out(self) -> int:
        return self.n_components_

    def _validate_input(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Validate rows for a fitted model: returns (validated X, float32 X)."""
        check_is_fitted(self)
        if self._has_categories():
            X = self._encode_table(X, reset=False)
            return X, to_float32(X)
        X = validate_data(
            self,
            na_to_nan(X),
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            reset=False,
        )
        return X, to_float32(X)

    @uses_threads
    def transform(self, X):
        """Encode ``X`` into the code space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            The codes, in the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)  # before self.net_ is looked up
        codes, dtype = self._map_rows(X, self.net_.module_.encode)
        return codes.astype(dtype, copy=False)

    @uses_threads
    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Codes, for example the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            The reconstructions, in the dtype of ``X``; for a model fitted on
            a DataFrame with categorical columns, a DataFrame of the original
            columns with the most likely category of each categorical one.
        """
        check_is_fitted(self)
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if X.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {X.shape[1]} features (code units), but "
                f"{self.__class__.__name__} has codes of width {self.n_components_}."
            )
        decoded = self.net_.map_batches(to_float32(X), self.net_.module_.decode)
        if self._has_categories():
            return self._decoded(decoded)
        return decoded.astype(X.dtype, copy=False)

    @uses_threads
    def reconstruct(self, X):
        """Encode and decode ``X``: the network's reconstruction of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to reconstruct.

        Returns
        -------
        X_reconstructed : ndarray or DataFrame of shape (n_samples, n_features_in_)
            The reconstructions, in the dtype of ``X``; for a model fitted on
            a DataFrame with categorical columns, a DataFrame of the original
            columns with the most likely category of each categorical one.
        """
        check_is_fitted(self)  # before self.net_ is looked up
        reconstructions, dtype = self._map_rows(X, self.net_.module_)
        if self._has_categories():
            return self._decoded(reconstructions)
        return reconstructions.astype(dtype, copy=False)

    def _in_loss_range(self, fn):
        """``fn`` on a batch, after checking the batch lies where the loss is defined.

        Binary cross-entropy (the Bernoulli likelihood) is defined for values
        in [0, 1] only: a ``loss="bce"`` model refuses to score rows outside
        that range with a ``ValueError`` rather than torch's error or a
        meaningless number. Missing values are left to the loss.
        """
        if self.loss != "bce":
            return fn

        def checked(x: torch.Tensor) -> torch.Tensor:
            values = torch.nan_to_num(x, nan=0.5)
            low, high = float(values.min()), float(values.max())
            if low < 0 or high > 1:
                raise ValueError(
                    "loss='bce' scores rows with values in [0, 1] only (the Bernoulli "
                    f"likelihood is undefined elsewhere); got values in [{low:.4g}, "
                    f"{high:.4g}]. Scale X as the training data was and clip it, for "
                    "example np.clip(X, 0, 1), or use loss='mse'."
                )
            return fn(x)

        return checked

    @uses_threads
    def reconstruction_error(self, X):
        """Per-sample reconstruction error: the training loss of each row.

        For ``loss="mse"`` this is the mean squared error over the features of
        the row; for ``loss="bce"`` the mean binary cross-entropy, defined for
        rows with values in [0, 1] only: other rows raise a ``ValueError``.
        Missing cells (NaN) do not count: the mean runs over the observed
        cells, and a row with no observed cell gets 0. For a model fitted on
        a DataFrame with categorical columns it is the mean over the original
        columns: the squared error of a numeric cell, the cross-entropy of the
        observed category for a categorical one (``skae._tabular``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        errors : ndarray of shape (n_samples,)
            Non-negative errors (float64); lower means better reconstructed.
        """
        check_is_fitted(self)
        if self._has_categories():
            return self._column_row_errors(X)
        errors, _ = self._map_rows(X, self._in_loss_range(self.net_.row_errors), fill=False)
        return errors.astype(np.float64)

    def score_samples(self, X):
        """Negative per-sample reconstruction error (higher means more typical).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-reconstruction_error(X)``.
        """
        return -self.reconstruction_error(X)

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples`, so that larger is better.

        The negative mean reconstruction error (for
        :class:`~skae.VAETransformer`, the mean evidence lower bound). This
        lets :class:`~sklearn.model_selection.GridSearchCV` tune an
        autoencoder without labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            ``mean(score_samples(X))``.
        """
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True  # densified one batch at a time
        tags.input_tags.allow_nan = True  # masked loss over the observed cells
        return tags


def _n_columns(data) -> int:
    return data.n_features if isinstance(data, LazyRowDataset) else data.shape[1]

"""DenoisingAutoencoder: an autoencoder trained to undo random corruption."""

from __future__ import annotations

import sys
import warnings
from numbers import Real

from sklearn.utils._param_validation import Hidden, Interval, StrOptions

from ._base import BaseAutoencoder
from ._docstrings import fill_doc
from ._nets import NOISE_KINDS, DenoisingNet


@fill_doc
class DenoisingAutoencoder(BaseAutoencoder):
    """Autoencoder trained to reconstruct clean rows from corrupted ones.

    During training every batch is corrupted afresh (Gaussian noise, masking or
    salt-and-pepper) before it enters the network, and the loss compares the
    reconstruction with the clean batch. The network thereby learns features
    that are robust to the corruption, and :meth:`denoise` removes noise of the
    kind it was trained on. Nothing is corrupted at ``transform``,
    ``inverse_transform``, :meth:`denoise` or scoring time, and ``y`` is
    ignored: the clean target is ``X`` itself. The validation loss (with
    ``validation_fraction`` or ``early_stopping``) is measured on clean rows.

    Parameters
    ----------
    {n_components}
    noise : {"gaussian", "mask", "salt_pepper"}, default="gaussian"
        Corruption applied to each training batch. ``"gaussian"`` adds normal
        noise of standard deviation ``noise_level``; ``"mask"`` sets a random
        fraction ``noise_level`` of the entries to 0 (the usual choice for
        tabular data); ``"salt_pepper"`` sets a random fraction ``noise_level``
        of the entries to the low or the high end of ``value_range`` (0 and 1
        when ``value_range`` is None), half each.
    noise_level : float, default=0.5
        Standard deviation of the Gaussian noise, or the fraction of corrupted
        entries (in [0, 1]) for ``"mask"`` and ``"salt_pepper"``.
    value_range : tuple of (float, float) or None, default=None
        Range ``(low, high)`` of the data's values, for example ``(0, 1)`` for
        pixel intensities: the corrupted rows are clipped to it, and
        ``"salt_pepper"`` noise uses its ends. None does not clip.

        .. versionadded:: 0.2
           Replaces ``clip``.
    {hidden_layer_sizes}
    {architecture}
    {input_shape}
    {activation}
    {output_activation}
    {loss}
    {dropout}
    {batch_norm}
    {activity_l1}
    {module}
    {module_kwargs}
    {optimizer}
    {optimizer_kwargs}
    {lr}
    {weight_decay}
    {batch_size}
    {max_epochs}
    {early_stopping}
    {validation_fraction}
    {n_iter_no_change}
    {tol}
    {callbacks}
    {device}
    {n_jobs}
    {precision}
    {random_state}
    {verbose}
    clip : tuple of (float, float) or None, default="deprecated"
        Former name of ``value_range``; give ``value_range`` instead.

        .. deprecated:: 0.2
           ``clip`` was renamed ``value_range`` in 0.2 and will be removed in
           0.4.

    Attributes
    ----------
    {net_}
    {history_}
    {n_epochs_}
    {stopped_early_}
    {interrupted_}
    {n_components_}
    {input_shape_}
    {fill_values_}
    {missing_indicator_}
    {n_features_in_}
    {feature_names_in_}
    table_ : dict or None
        How the columns of a DataFrame with categorical columns are one-hot
        encoded (``skae._tabular``; the user guide's "Categorical columns");
        None when every column is numeric.

    See Also
    --------
    AutoencoderTransformer : The same autoencoder trained on clean rows.

    References
    ----------
    P. Vincent, H. Larochelle, Y. Bengio and P.-A. Manzagol, "Extracting and
    composing robust features with denoising autoencoders", ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> dae = DenoisingAutoencoder(
    ...     n_components=16, noise_level=0.3, value_range=(0, 1), max_epochs=5,
    ...     random_state=0)
    >>> dae.fit(X)
    DenoisingAutoencoder(max_epochs=5, n_components=16, noise_level=0.3,
                         random_state=0, value_range=(0, 1))
    >>> noisy = np.clip(X + 0.3 * np.random.default_rng(0).normal(size=X.shape), 0, 1)
    >>> dae.denoise(noisy).shape
    (1797, 64)
    >>> dae.transform(X).shape
    (1797, 16)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "noise": [StrOptions(set(NOISE_KINDS))],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "value_range": [None, tuple, list],
        "clip": [None, tuple, list, Hidden(StrOptions({"deprecated"}))],
    }

    _net_class = DenoisingNet

    # Parameters renamed since 0.1, old name: new name. Model files that set the
    # old name load with it renamed (skae._persistence).
    _renamed_params = {"clip": "value_range"}

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.5,
        value_range=None,
        hidden_layer_sizes=(64,),
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
        weight_decay=0.0,
        batch_size=64,
        max_epochs=100,
        early_stopping=False,
        validation_fraction=None,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        device="cpu",
        n_jobs=None,
        precision=None,
        random_state=None,
        verbose=0,
        clip="deprecated",
    ):
        self.n_components = n_components
        self.noise = noise
        self.noise_level = noise_level
        self.value_range = value_range
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
        self.n_jobs = n_jobs
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.clip = clip

    def _net_params(self) -> dict:
        if self.noise in ("mask", "salt_pepper") and self.noise_level > 1:
            raise ValueError(
                f"noise_level is the fraction of corrupted entries for "
                f"noise={self.noise!r} and must be in [0, 1]; got {self.noise_level!r}."
            )
        return {
            **super()._net_params(),
            "noise": self.noise,
            "noise_level": float(self.noise_level),
            "value_range": self._value_range(),
        }

    def _value_range(self) -> tuple[float, float] | None:
        """``value_range`` as a checked pair of floats, or None.

        Until 0.4 the deprecated ``clip`` stands in for it, with a FutureWarning.
        """
        value_range, name = self.value_range, "value_range"
        if not (isinstance(self.clip, str) and self.clip == "deprecated"):
            if self.value_range is not None:
                raise ValueError(
                    "clip was renamed value_range; give value_range only, not both "
                    f"(got clip={self.clip!r}, value_range={self.value_range!r})."
                )
            warnings.warn(
                f"The parameter clip of {type(self).__name__} was renamed value_range "
                "in skae 0.2 and will be removed in 0.4; use "
                f"value_range={self.clip!r} instead.",
                FutureWarning,
                stacklevel=_user_stacklevel(),
            )
            value_range, name = self.clip, "clip"
        if value_range is None:
            return None
        pair = tuple(value_range)
        if not (
            len(pair) == 2
            and all(isinstance(c, Real) for c in pair)
            and float(pair[0]) < float(pair[1])
        ):
            raise ValueError(
                f"{name} must be None or a pair (low, high) with low < high; got "
                f"{value_range!r}."
            )
        return float(pair[0]), float(pair[1])

    def denoise(self, X):
        """Clean reconstruction of (possibly noisy) rows ``X``.

        The rows go through the trained encoder and decoder as given, without
        any further corruption; this is :meth:`reconstruct` under the name users
        of a denoiser look for.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to denoise.

        Returns
        -------
        X_denoised : ndarray of shape (n_samples, n_features_in_)
            The denoised rows, in the dtype of ``X``.
        """
        return self.reconstruct(X)


def _user_stacklevel() -> int:
    """``stacklevel`` pointing a warning at the first caller outside skae.

    Counted from the function that calls this one; scikit-learn's and
    contextlib's frames (``fit``'s wrapper, context managers) are skipped too.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in (
        "skae",
        "sklearn",
        "contextlib",
    ):
        frame, level = frame.f_back, level + 1
    return level

"""DenoisingAutoencoder: an autoencoder trained to undo random corruption."""

from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

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
        of the entries to the low or the high end of ``clip`` (0 and 1 when
        ``clip`` is None), half each.
    noise_level : float, default=0.5
        Standard deviation of the Gaussian noise, or the fraction of corrupted
        entries (in [0, 1]) for ``"mask"`` and ``"salt_pepper"``.
    clip : tuple of (float, float) or None, default=None
        Range ``(low, high)`` the corrupted rows are clipped to, for example
        ``(0, 1)`` for pixel intensities. None does not clip.
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
    ...     n_components=16, noise_level=0.3, clip=(0, 1), max_epochs=5, random_state=0)
    >>> dae.fit(X)
    DenoisingAutoencoder(clip=(0, 1), max_epochs=5, n_components=16, noise_level=0.3,
                         random_state=0)
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
        "clip": [None, tuple, list],
    }

    _net_class = DenoisingNet

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.5,
        clip=None,
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
    ):
        self.n_components = n_components
        self.noise = noise
        self.noise_level = noise_level
        self.clip = clip
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
            "clip": self._clip_range(),
        }

    def _clip_range(self) -> tuple[float, float] | None:
        if self.clip is None:
            return None
        clip = tuple(self.clip)
        if not (
            len(clip) == 2
            and all(isinstance(c, Real) for c in clip)
            and float(clip[0]) < float(clip[1])
        ):
            raise ValueError(
                "clip must be None or a pair (low, high) with low < high; got "
                f"{self.clip!r}."
            )
        return float(clip[0]), float(clip[1])

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

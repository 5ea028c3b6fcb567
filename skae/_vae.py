"""VAETransformer: a variational autoencoder as a transformer and generator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._architectures import CalibratedGaussian, Standardizer, VariationalAutoencoder
from ._base import BaseAutoencoder
from ._docstrings import fill_doc
from ._nets import VAENet
from ._threads import uses_threads


@fill_doc
class VAETransformer(BaseAutoencoder):
    """Variational autoencoder: a probabilistic, generative autoencoder.

    The encoder maps each row to a Gaussian posterior ``q(z|x) = N(mu(x),
    diag(exp(log_var(x))))`` over an ``n_components``-dimensional latent space;
    the decoder maps latent points back to the parameters of the data
    distribution (a Gaussian mean for ``loss="mse"``, Bernoulli probabilities
    for ``loss="bce"``). Training samples ``z = mu + exp(log_var / 2) * eps``
    (the reparameterisation trick) and minimises the negative evidence lower
    bound (ELBO) per row::

        -log p(x | z)  +  beta * KL(q(z|x) || N(0, I))

    The KL term pulls the codes of the training data towards the standard
    normal prior, so that decoding draws from the prior (:meth:`sample`)
    generates new rows. ``transform`` returns the posterior mean
    (deterministic), ``inverse_transform`` decodes latent points, and
    :meth:`score_samples` gives each row's ELBO, an anomaly score (higher =
    more typical). The log-variance is clamped to [-10, 10] so constant or
    badly scaled columns cannot make it overflow.

    The defaults work on data as given, in any units. The built-in networks
    read each column standardised by the training data's mean and standard
    deviation (taken once, before the first training step; a Gaussian
    decoder's output is mapped back to the data's units), and the Gaussian
    likelihood is a *calibrated decoder* (Rybkin et al. 2021): its variance
    ``sigma^2``, shared by all features, is the one that fits best -- the mean
    squared reconstruction error of each training batch, and for scoring the
    running average of it over training (the ``variance`` buffer of
    ``net_.module_.decoder_noise``). A fixed unit variance would make the
    balance between the reconstruction and the KL term depend on the data's
    scale: on pixels in [0, 1] the posterior collapsed to the prior, on raw
    pixels (0 to 16) the codes overshot it. ``beta`` keeps its meaning: the
    weight of the KL term against a properly normalised log-likelihood.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space.
    beta : float, default=1.0
        Weight of the KL term: 1 gives the ELBO, larger values a beta-VAE
        (smoother, more disentangled latent space, blurrier reconstructions),
        0 a plain autoencoder with noisy codes.
    {hidden_layer_sizes}
    {architecture}
    {input_shape}
    {activation}
    {output_activation}
    loss : {"mse", "bce"}, default="mse"
        Likelihood of the decoder. ``"mse"``: Gaussian with the calibrated
        variance described above, for real-valued data in any units;
        ``"bce"``: Bernoulli, for data in [0, 1] (for example pixel
        intensities). The reconstruction term of the loss is the negative
        log-likelihood summed over features. A ``"bce"`` model refuses to score
        (``score_samples``, ``score``, ``reconstruction_error``) rows with
        values outside [0, 1], where the Bernoulli likelihood is undefined:
        it raises a ``ValueError`` (clip such rows to [0, 1] to score them).
    {dropout}
    {batch_norm}
    activity_l1 : float, default=0.0
        L1 penalty on the posterior means, ``activity_l1 * mean_i sum_j
        |mu_ij|``, added to the loss.
    module : torch.nn.Module or callable, default=None
        Replaces the built-in network. Either a module with
        ``encode_distribution(x) -> (mean, log_var)``, ``encode(x) -> mean``
        and ``decode(z)`` methods (deep-copied at every fit), or a callable
        ``module(n_features, n_components)`` returning one. The architecture
        parameters above are then ignored, and the module sees the rows as
        given (no standardisation); with ``loss="mse"`` it gets the
        calibrated decoder variance as a ``decoder_noise`` submodule unless
        it has one.
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
    n_components_ : int
        Dimension of the latent space (the width of ``transform``'s output).
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
    AutoencoderTransformer : The deterministic autoencoder.

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

    O. Rybkin, K. Daniilidis and S. Levine, "Simple and Effective VAE Training
    with Calibrated Decoders", ICML 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> vae = VAETransformer(n_components=2, loss="bce", max_epochs=5, random_state=0)
    >>> codes = vae.fit_transform(X)
    >>> codes.shape
    (1797, 2)
    >>> vae.sample(5, random_state=0).shape
    (5, 64)
    >>> vae.score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    _net_class = VAENet

    def __init__(
        self,
        n_components=2,
        *,
        beta=1.0,
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
        self.beta = beta
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

    def _build_module(self, n_features: int) -> nn.Module:
        module = self._build_network(n_features)
        if self.loss == "mse" and getattr(module, "decoder_noise", None) is None:
            module.decoder_noise = CalibratedGaussian()
        return module

    def _build_network(self, n_features: int) -> nn.Module:
        if self.module is not None:
            module = super()._build_module(n_features)
            missing = [
                name
                for name in ("encode_distribution", "encode", "decode")
                if not callable(getattr(module, name, None))
            ]
            if missing:
                raise TypeError(
                    "VAETransformer needs a module with encode_distribution(x) -> "
                    f"(mean, log_var), encode(x) and decode(z); {type(module).__name__} "
                    f"lacks {', '.join(missing)}."
                )
            return module
        body, decoder = self._module_parts(n_features)
        return VariationalAutoencoder(
            body,
            self.n_components,
            decoder,
            Standardizer(n_features),
            rescale_output=self._output_activation() == "identity",
        )

    def _net_params(self) -> dict:
        return {**super()._net_params(), "beta": float(self.beta)}

    @uses_threads
    def score_samples(self, X):
        """Evidence lower bound (ELBO) of each row: higher means more typical.

        ``-(negative log-likelihood of x given z + beta * KL(q(z|x) || N(0, I)))``
        with the reconstruction term evaluated at the posterior mean (so the
        score is deterministic). For ``loss="mse"`` the likelihood is the
        Gaussian with the calibrated variance learnt at fit; for ``loss="bce"``
        rows must lie in [0, 1] (a ``ValueError`` otherwise). With ``beta=1``
        this is a lower bound on ``log p(x)``, usable as an anomaly score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The per-row ELBO (float64).
        """
        _, X32 = self._validate_input(X)
        score_rows = self._in_loss_range(self.net_.score_rows)
        return self.net_.map_batches(X32, score_rows).astype(np.float64)

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Generate rows by decoding draws from the prior ``N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, numpy Generator or RandomState, or None, default=None
            Source of the latent draws. Global random states (NumPy's and
            torch's) are never used or advanced.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_in_)
            Decoded rows: the decoder's mean (``loss="mse"``) or Bernoulli
            probabilities (``loss="bce"``) at each latent draw.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        if isinstance(random_state, np.random.RandomState | np.random.Generator):
            rng = random_state
        else:
            rng = np.random.default_rng(random_state)
        z = rng.standard_normal((int(n_samples), self.n_components_))
        return self.inverse_transform(z)

"""DenoisingAutoencoder: an autoencoder trained to undo random corruption."""

from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseAutoencoder
from ._nets import NOISE_KINDS, DenoisingNet


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
    n_components : int, default=2
        Width of the code (the bottleneck).
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
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Widths of the encoder's hidden layers, outermost first (an int is one
        hidden layer); the decoder uses them in reverse. ``()`` gives an
        encoder with no hidden layer. For ``architecture="conv"`` the channels
        of each convolution block, for ``"lstm"`` the units of each LSTM layer.
    architecture : {"mlp", "conv", "lstm"}, default="mlp"
        Network family. ``"mlp"``: dense layers. ``"conv"``: rows are flattened
        images of shape ``input_shape=(channels, height, width)``; the encoder
        stacks ``Conv3x3 -> BatchNorm -> activation -> MaxPool(2)`` blocks with
        ``hidden_layer_sizes`` as their channels, then a dense code layer; the
        decoder mirrors it with upsampling and convolutions. ``"lstm"``: rows
        are flattened sequences of shape ``input_shape=(timesteps,
        n_features_per_step)``; stacked LSTMs with ``hidden_layer_sizes`` units
        read the sequence, their last hidden state is projected to the code,
        and the decoder LSTMs receive the code at every time step (the
        RepeatVector design).
    input_shape : tuple of int, default=None
        Shape of one row for ``"conv"`` (required) and ``"lstm"`` (None means
        a univariate sequence ``(n_features, 1)``), in C order: a row is
        ``image.reshape(-1)``. One entry may be -1 and is inferred from the row
        width. A row width that does not match raises a ``ValueError``.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", \
            "identity"}, default="relu"
        Activation of the hidden layers. The code layer is always linear.
    output_activation : {"auto", "identity", "sigmoid"}, default="auto"
        Activation of the reconstruction; ``"auto"`` means ``"sigmoid"`` with
        ``loss="bce"`` and ``"identity"`` otherwise.
    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss: mean squared error, or binary cross-entropy for
        data in [0, 1] (for example pixel intensities).
    dropout : float, default=0.0
        Dropout probability after each hidden activation (training only).
    batch_norm : bool, default=False
        Whether dense hidden layers use batch normalisation (convolution blocks
        always do).
    activity_l1 : float, default=0.0
        L1 penalty on the code, ``activity_l1 * mean_i sum_j |z_ij|``, added to
        the loss: a sparse autoencoder when positive.
    module : torch.nn.Module or callable, default=None
        Replaces the built-in network. Either a module with ``encode`` and
        ``decode`` methods (deep-copied at every fit, so its initial weights are
        reused), or a callable ``module(n_features, n_components)`` returning
        one. The architecture parameters above are then ignored.
    module_kwargs : dict, default=None
        Keyword arguments for ``module`` when it is a class or callable:
        ``module(n_features, n_components, **module_kwargs)``. Names it does
        not take raise a ``ValueError`` in ``fit``.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or torch optimizer class, \
            default="adam"
        Optimizer used for training: a name, or any subclass of
        ``torch.optim.Optimizer`` (for example ``torch.optim.SGD``). Adam and
        AdamW run torch's fused kernel on CUDA, and on the CPU when the fit
        uses one thread. Optimizer classes from
        ``torch.optim`` can be saved with ``save``.
    optimizer_kwargs : dict, default=None
        Further keyword arguments of the optimizer, for example
        ``dict(momentum=0.9, nesterov=True)`` with ``optimizer="sgd"``. Set the
        learning rate and weight decay with ``lr`` and ``weight_decay``. Names
        the optimizer does not take, and values it refuses, raise a
        ``ValueError`` in ``fit``.
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimizer.
    batch_size : int, default=64
        Rows per training batch. The last, smaller batch is kept.
    max_epochs : int, default=100
        Number of passes over the training data (fewer with early stopping).
    early_stopping : bool, default=False
        Stop when the validation loss has not improved by ``tol`` (relative)
        for ``n_iter_no_change`` epochs, and restore the weights of the best
        epoch. Holds out ``validation_fraction`` of the rows (0.1 if None).
    validation_fraction : float or None, default=None
        Share of the rows held out to report a validation loss in ``history_``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Minimum relative improvement of the validation loss that counts.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (or ``(name, callback)`` pairs) for training.
    device : str, default="cpu"
        Torch device to train and infer on: ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"``, or ``"auto"`` for the best available. Asking
        for a device this machine lacks raises a ``ValueError``.
    n_jobs : int, default=None
        CPU threads torch uses inside this estimator's ``fit``,
        ``partial_fit``, ``transform`` and scoring methods (torch's intra-op
        threads; torch's global setting is restored after each call). ``None``
        chooses from the work per batch (batch rows x network parameters): one
        thread for small networks, which run faster on one thread -- much
        faster when another process keeps a core busy -- and torch's own
        setting (every core unless changed) for large ones. ``-1`` uses every
        available core; a positive int that many threads. See
        :doc:`/performance`.
    precision : {None, "bf16", "fp16"}, default=None
        Mixed precision for training and inference: forward passes run under
        ``torch.autocast`` in bfloat16 or float16, while weights, optimizer
        state and losses stay float32 (``"fp16"`` adds a ``GradScaler``).
        ``None`` computes in float32. ``"bf16"`` also works on the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation
        split. With an int, fits on the CPU are repeatable. The global random
        state of torch is left untouched.
    verbose : int, default=0
        0 prints nothing, 1 prints a table of losses per epoch, 2 adds a
        progress bar per epoch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted skorch engine; ``net_.module_`` is the torch network.
    history_ : skorch.History
        Per-epoch record: ``history_[:, "train_loss"]`` and, with a validation
        split, ``history_[:, "valid_loss"]``.
    n_epochs_ : int
        Epochs actually run.
    stopped_early_ : bool
        Whether early stopping ended training before ``max_epochs``.
    n_components_ : int
        Width of the code produced by ``transform``.
    input_shape_ : tuple of int or None
        Shape of one row as the network sees it (``input_shape`` with -1
        resolved); None for an MLP without declared shape or a custom module.
    fill_values_ : ndarray of shape (n_features_in_,)
        Mean of each column's observed cells in the first training data (0
        for a column with none): what the network sees in a missing cell.
    missing_indicator_ : bool
        Whether the first training data had missing cells (NaN), and the
        network therefore learned a per-column embedding for them
        (``net_.module_`` is then a ``MissingValueInput`` wrapping the network).
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.
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

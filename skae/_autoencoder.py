"""AutoencoderTransformer: an autoencoder (MLP, convolutional or LSTM) as a transformer."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ._base import BaseAutoencoder


class AutoencoderTransformer(BaseAutoencoder):
    """Dimensionality reduction with a neural autoencoder.

    A drop-in for :class:`~sklearn.decomposition.PCA` whose encoder and decoder
    are multilayer perceptrons trained (with PyTorch, through skorch) to
    reconstruct their input. ``transform`` returns the code of each row,
    ``inverse_transform`` decodes codes back to the input space.

    The encoder maps ``n_features -> *hidden_layer_sizes -> n_components`` and
    the decoder mirrors it. With ``hidden_layer_sizes=()`` and
    ``activation="identity"`` this is a linear autoencoder, which learns the
    same subspace as PCA. ``activity_l1 > 0`` makes a sparse autoencoder.

    Parameters
    ----------
    n_components : int, default=2
        Width of the code (the bottleneck).
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
    groups : int, default=1
        For ``architecture="mlp"``: train ``groups`` independent autoencoders
        side by side in one network. The columns are split into ``groups``
        equal blocks; block ``g`` is encoded into code block ``g`` and
        reconstructed from it alone (every layer is block-diagonal). The
        number of columns, ``n_components`` and each hidden width are totals
        and must be multiples of ``groups``. The blocks run in one batched
        matrix product, so several small networks train much faster than one
        after the other; :class:`~skae.AnomalyDetector` trains its default ensemble this
        way, on the scaled rows repeated once per member.
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
        for a device this machine lacks raises a ``ValueError``. On an
        accelerator the training data are staged on the device once per fit
        when they take less than half its free memory, else copied over in
        chunks from pinned host memory.
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
        Complete epochs run.
    stopped_early_ : bool
        Whether early stopping (``early_stopping=True`` or a skorch
        ``EarlyStopping`` callback) ended training.
    interrupted_ : bool
        Whether training was interrupted (``KeyboardInterrupt``); the weights
        reached are kept and a :class:`~skae.exceptions.TrainingInterruptedWarning`
        is issued. Neither flag set means ``max_epochs`` were run.
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
    sklearn.decomposition.PCA : The linear baseline this estimator replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, max_epochs=5, random_state=0)
    >>> codes = ae.fit_transform(X / 16)
    >>> codes.shape
    (1797, 8)
    >>> ae.inverse_transform(codes).shape
    (1797, 64)
    >>> float(ae.score(X / 16)) < 0
    True

    A convolutional autoencoder on the same 8x8 images:

    >>> conv = AutoencoderTransformer(
    ...     n_components=8, architecture="conv", input_shape=(1, 8, 8),
    ...     hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    >>> conv.fit_transform(X[:200] / 16).shape
    (200, 8)

    Save and load without pickle (see :func:`skae.load`):

    >>> import os, tempfile, numpy as np, skae
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     ae.save(os.path.join(folder, "ae.safetensors"))
    ...     loaded = skae.load(os.path.join(folder, "ae.safetensors"))
    >>> bool(np.array_equal(loaded.transform(X / 16), codes))
    True

    Training can also go one chunk at a time, for data that arrive in pieces
    or do not fit in memory (a :class:`numpy.memmap` also works with ``fit``):

    >>> stream = AutoencoderTransformer(n_components=8, random_state=0)
    >>> for chunk in np.array_split(X / 16, 4):
    ...     stream = stream.partial_fit(chunk)
    >>> stream.n_epochs_
    4
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "groups": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(64,),
        architecture="mlp",
        input_shape=None,
        activation="relu",
        output_activation="auto",
        loss="mse",
        dropout=0.0,
        batch_norm=False,
        groups=1,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.architecture = architecture
        self.input_shape = input_shape
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.groups = groups
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

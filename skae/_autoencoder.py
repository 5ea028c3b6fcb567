"""AutoencoderTransformer: an autoencoder (MLP, convolutional or LSTM) as a transformer."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ._base import BaseAutoencoder
from ._docstrings import fill_doc


@fill_doc
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
    {n_components}
    {hidden_layer_sizes}
    {architecture}
    {input_shape}
    {activation}
    {output_activation}
    {loss}
    {dropout}
    {batch_norm}
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

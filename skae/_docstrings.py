"""Docstring fragments shared by the autoencoder estimators.

As imbalanced-learn's ``Substitution`` (``imblearn/utils/_docstring.py``): a
class docstring names a shared entry by a placeholder, and the decorator
fills it in at import time, so that a parameter documented for several
estimators is written once and cannot drift. Unlike imbalanced-learn's
``str.format``, a placeholder is a line of its own holding only ``{name}``;
the fragment is indented to match, and no other brace is touched (set
notation such as ``{"mse", "bce"}`` needs no escaping). An estimator whose
entry differs (another default, another meaning) writes its own entry
instead of the placeholder. ``tests/test_docstrings.py`` checks that each
rendered docstring documents every ``__init__`` parameter in signature order
with its default, and every fitted attribute.
"""

from __future__ import annotations

import re
import textwrap

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>[A-Za-z_]\w*)\}[ \t]*$", re.M)


class Substitution:
    """Decorator that fills ``{name}`` lines of a docstring with fragments.

    Parameters
    ----------
    **fragments : str
        Text of each placeholder, unindented (numpydoc entries: the
        ``name : type`` line, then the description indented by four spaces).
    """

    def __init__(self, **fragments: str) -> None:
        self.fragments = fragments

    def __call__(self, obj):
        if obj.__doc__ is None:  # python -OO strips docstrings
            return obj

        def fill(match: re.Match) -> str:
            name = match["name"]
            if name not in self.fragments:
                raise KeyError(
                    f"{getattr(obj, '__qualname__', obj)!r} docstring has the placeholder "
                    f"{{{name}}}, which skae._docstrings does not define."
                )
            text = textwrap.dedent(self.fragments[name]).strip("\n")
            return textwrap.indent(text, match["indent"])

        obj.__doc__ = _PLACEHOLDER.sub(fill, obj.__doc__)
        return obj


# -- parameters of the autoencoders (BaseAutoencoder subclasses) ----------------------
_PARAMETERS = {
    "n_components": """\
n_components : int, default=2
    Width of the code (the bottleneck).""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : int or tuple of int, default=(64,)
    Widths of the encoder's hidden layers, outermost first (an int is one
    hidden layer); the decoder uses them in reverse. ``()`` gives an
    encoder with no hidden layer. For ``architecture="conv"`` the channels
    of each convolution block, for ``"lstm"`` the units of each LSTM layer.""",
    "architecture": """\
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
    RepeatVector design). Any other name registered with
    ``skae._architectures.register_architecture`` is accepted too (see
    "Where things go" in the contributing guide).""",
    "input_shape": """\
input_shape : tuple of int, default=None
    Shape of one row for ``"conv"`` (required) and ``"lstm"`` (None means
    a univariate sequence ``(n_features, 1)``), in C order: a row is
    ``image.reshape(-1)``. One entry may be -1 and is inferred from the row
    width. A row width that does not match raises a ``ValueError``.""",
    "activation": """\
activation : {"relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", \
"identity"}, default="relu"
    Activation of the hidden layers. The code layer is always linear.""",
    "output_activation": """\
output_activation : {"auto", "identity", "sigmoid"}, default="auto"
    Activation of the reconstruction; ``"auto"`` means ``"sigmoid"`` with
    ``loss="bce"`` and ``"identity"`` otherwise.""",
    "loss": """\
loss : {"mse", "bce"}, default="mse"
    Reconstruction loss: mean squared error, or binary cross-entropy for
    data in [0, 1] (for example pixel intensities).""",
    "dropout": """\
dropout : float, default=0.0
    Dropout probability after each hidden activation (training only).""",
    "batch_norm": """\
batch_norm : bool, default=False
    Whether dense hidden layers use batch normalisation (convolution blocks
    always do).""",
    "activity_l1": """\
activity_l1 : float, default=0.0
    L1 penalty on the code, ``activity_l1 * mean_i sum_j |z_ij|``, added to
    the loss: a sparse autoencoder when positive.""",
    "module": """\
module : torch.nn.Module or callable, default=None
    Replaces the built-in network. Either a module with ``encode`` and
    ``decode`` methods (deep-copied at every fit, so its initial weights are
    reused), or a callable ``module(n_features, n_components)`` returning
    one. The architecture parameters above are then ignored.""",
    "module_kwargs": """\
module_kwargs : dict, default=None
    Keyword arguments for ``module`` when it is a class or callable:
    ``module(n_features, n_components, **module_kwargs)``. Names it does
    not take raise a ``ValueError`` in ``fit``.""",
    "optimizer": """\
optimizer : {"adam", "adamw", "rmsprop", "sgd"} or torch optimizer class, \
default="adam"
    Optimizer used for training: a name, or any subclass of
    ``torch.optim.Optimizer`` (for example ``torch.optim.SGD``). Adam and
    AdamW run torch's fused kernel on CUDA, and on the CPU when the fit
    uses one thread. Optimizer classes from ``torch.optim`` can be saved
    with ``save``.""",
    "optimizer_kwargs": """\
optimizer_kwargs : dict, default=None
    Further keyword arguments of the optimizer, for example
    ``dict(momentum=0.9, nesterov=True)`` with ``optimizer="sgd"``. Set the
    learning rate and weight decay with ``lr`` and ``weight_decay``. Names
    the optimizer does not take, and values it refuses, raise a
    ``ValueError`` in ``fit``.""",
    "lr": """\
lr : float, default=1e-3
    Learning rate.""",
    "weight_decay": """\
weight_decay : float, default=0.0
    L2 penalty passed to the optimizer.""",
    "batch_size": """\
batch_size : int, default=64
    Rows per training batch. The last, smaller batch is kept.""",
    "max_epochs": """\
max_epochs : int, default=100
    Number of passes over the training data (fewer with early stopping).""",
    "early_stopping": """\
early_stopping : bool, default=False
    Stop when the validation loss has not improved by ``tol`` (relative)
    for ``n_iter_no_change`` epochs, and restore the weights of the best
    epoch. Holds out ``validation_fraction`` of the rows (0.1 if None).""",
    "validation_fraction": """\
validation_fraction : float or None, default=None
    Share of the rows held out to report a validation loss in ``history_``.""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=10
    Patience of early stopping, in epochs.""",
    "tol": """\
tol : float, default=1e-4
    Minimum relative improvement of the validation loss that counts.""",
    "callbacks": """\
callbacks : list of skorch callbacks, default=None
    Extra skorch callbacks (or ``(name, callback)`` pairs) for training.""",
    "device": """\
device : str, default="cpu"
    Torch device to train and infer on: ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"mps"``, or ``"auto"`` for the best available. Asking
    for a device this machine lacks raises a ``ValueError``. On an
    accelerator the training data are staged on the device once per fit
    when they take less than half its free memory, else copied over in
    chunks from pinned host memory.""",
    "n_jobs": """\
n_jobs : int, default=None
    CPU threads torch uses inside this estimator's ``fit``,
    ``partial_fit``, ``transform`` and scoring methods (torch's intra-op
    threads; torch's global setting is restored after each call). ``None``
    chooses from the work per batch (batch rows x network parameters): one
    thread for small networks, which run faster on one thread -- much
    faster when another process keeps a core busy -- and torch's own
    setting (every core unless changed) for large ones. ``-1`` uses every
    available core; a positive int that many threads. See
    :doc:`/performance`.""",
    "precision": """\
precision : {None, "bf16", "fp16"}, default=None
    Mixed precision for training and inference: forward passes run under
    ``torch.autocast`` in bfloat16 or float16, while weights, optimizer
    state and losses stay float32 (``"fp16"`` adds a ``GradScaler``).
    ``None`` computes in float32. ``"bf16"`` also works on the CPU.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling, dropout and the validation
    split. With an int, fits on the CPU are repeatable. The global random
    state of torch is left untouched.""",
    "verbose": """\
verbose : int, default=0
    0 prints nothing, 1 prints a table of losses per epoch, 2 adds a
    progress bar per epoch.""",
}

# -- fitted attributes of the autoencoders ---------------------------------------------
_ATTRIBUTES = {
    "net_": """\
net_ : skorch.NeuralNet
    The fitted skorch engine; ``net_.module_`` is the torch network.""",
    "history_": """\
history_ : skorch.History
    Per-epoch record: ``history_[:, "train_loss"]`` and, with a validation
    split, ``history_[:, "valid_loss"]``.""",
    "n_epochs_": """\
n_epochs_ : int
    Complete epochs run.""",
    "stopped_early_": """\
stopped_early_ : bool
    Whether early stopping (``early_stopping=True`` or a skorch
    ``EarlyStopping`` callback) ended training.""",
    "interrupted_": """\
interrupted_ : bool
    Whether training was interrupted (``KeyboardInterrupt``); the weights
    reached are kept and a :class:`~skae.exceptions.TrainingInterruptedWarning`
    is issued. Neither flag set means ``max_epochs`` were run.""",
    "n_components_": """\
n_components_ : int
    Width of the code produced by ``transform``.""",
    "input_shape_": """\
input_shape_ : tuple of int or None
    Shape of one row as the network sees it (``input_shape`` with -1
    resolved); None for an MLP without declared shape or a custom module.""",
    "fill_values_": """\
fill_values_ : ndarray of shape (n_features_in_,)
    Mean of each column's observed cells in the first training data (0
    for a column with none): what the network sees in a missing cell.""",
    "missing_indicator_": """\
missing_indicator_ : bool
    Whether the first training data had missing cells (NaN), and the
    network therefore learned a per-column embedding for them
    (``net_.module_`` is then a ``MissingValueInput`` wrapping the network).""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during :term:`fit`.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during :term:`fit`. Defined only when `X`
    has feature names that are all strings.""",
}

#: Every shared fragment, by placeholder name.
shared_docs = {**_PARAMETERS, **_ATTRIBUTES}

#: The decorator the autoencoder estimators use.
fill_doc = Substitution(**shared_docs)

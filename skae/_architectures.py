"""Torch networks: dense (MLP), convolutional, LSTM, plain and variational.

Like :mod:`skae._modules`, this module knows nothing of scikit-learn or skorch.
Every network takes and returns *flat rows* ``(n_samples, n_features)``, the
shape scikit-learn hands estimators, and reshapes internally:

- convolutional networks see each row as an image ``(channels, height, width)``
  (C order, as ``row.reshape(input_shape)``);
- LSTM networks see each row as a sequence ``(timesteps, features_per_step)``.

An autoencoder is assembled from three parts: an encoder *body* that maps a row
to a feature vector of width ``body.out_features``, a code layer (one linear
head for :class:`EncoderDecoder`, a mean head and a log-variance head for
:class:`VariationalAutoencoder`), and a decoder that maps a code back to a row.
Each architecture is an :class:`ArchitectureSpec` in one registry
(:func:`register_architecture`, :func:`get_architecture`): it checks its
``input_shape`` and builds the body and decoder, for plain and variational
networks alike.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from numbers import Integral

import torch
from torch import nn

from ._missing import observed_mean, observed_row_sum
from ._modules import make_activation, make_linear, mlp_stack

# Log-variances outside this range mean a variance below ~5e-5 or above ~2e4:
# clamping keeps exp() finite and the KL term free of inf/NaN on constant or
# badly scaled columns.
LOGVAR_BOUNDS = (-10.0, 10.0)

# Absolute floor of a calibrated decoder variance (float32 keeps 1/x finite).
_TINY_VARIANCE = 1e-12
_LOG_2PI = math.log(2 * math.pi)

# A column whose spread is below this, relative to its magnitude, is constant.
_FLAT_SPREAD = 10 * float(torch.finfo(torch.float32).eps)


# -- MLP --------------------------------------------------------------------------------
class MLPBody(nn.Module):
    """Dense hidden layers ``n_features -> *hidden_layer_sizes``, all activated.

    With ``groups > 1`` every layer is a :class:`~skae._modules.GroupedLinear`:
    column block ``g`` of the input feeds only block ``g`` of every layer.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
        dropout: float = 0.0,
        batch_norm: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.layers = mlp_stack(
            [n_features, *hidden_layer_sizes],
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            hidden_last=True,
            groups=groups,
        )
        self.out_features = [n_features, *hidden_layer_sizes][-1]
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class MLPDecoder(nn.Module):
    """Code -> reversed hidden layers -> row (the MLP body mirrored)."""

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
        output_activation: str,
        dropout: float = 0.0,
        batch_norm: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.body = MLPBody(
            n_components,
            tuple(hidden_layer_sizes)[::-1],
            activation,
            dropout,
            batch_norm,
            groups,
        )
        self.out = make_linear(self.body.out_features, n_features, groups)
        self.out_activation = make_activation(output_activation)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.out_activation(self.out(self.body(code)))


# -- convolutional ----------------------------------------------------------------------
def _pool_kernel(height: int, width: int) -> tuple[int, int]:
    """2x2 pooling, except along a side already of length 1."""
    return (2 if height >= 2 else 1, 2 if width >= 2 else 1)


class ConvEncoder(nn.Module):
    """Convolution blocks ``Conv3x3 -> BatchNorm -> activation -> MaxPool(2)``, flattened.

    Pooling uses ``ceil_mode`` so odd sides (28 -> 14 -> 7 -> 4) lose no pixel,
    and is skipped along a side that has shrunk to 1. ``spatial_sizes`` records
    the side lengths before each block so the decoder can mirror them exactly.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        channels: Sequence[int],
        activation: str,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        in_channels, height, width = self.input_shape
        layers: list[nn.Module] = []
        self.spatial_sizes = [(height, width)]
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                make_activation(activation),
            ]
            kernel = _pool_kernel(height, width)
            if kernel != (1, 1):
                layers.append(nn.MaxPool2d(kernel, ceil_mode=True))
                height, width = math.ceil(height / kernel[0]), math.ceil(width / kernel[1])
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_channels = out_channels
            self.spatial_sizes.append((height, width))
        layers.append(nn.Flatten())
        self.layers = nn.Sequential(*layers)
        self.feature_shape = (in_channels, height, width)
        self.out_features = in_channels * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.reshape(-1, *self.input_shape))


class ConvDecoder(nn.Module):
    """Code -> dense layer -> ``Upsample -> Conv3x3 -> BatchNorm -> activation`` blocks.

    Mirrors a :class:`ConvEncoder`: each block upsamples (nearest neighbour) to
    the side lengths the matching encoder block started from, and a last 3x3
    convolution maps back to the input channels.
    """

    def __init__(
        self,
        encoder: ConvEncoder,
        n_components: int,
        channels: Sequence[int],
        activation: str,
        output_activation: str,
    ) -> None:
        super().__init__()
        channels = list(channels)
        self.dense = nn.Sequential(
            nn.Linear(n_components, encoder.out_features),
            make_activation(activation),
            nn.Unflatten(1, encoder.feature_shape),
        )
        layers: list[nn.Module] = []
        for i in reversed(range(len(channels))):
            out_channels = channels[i - 1] if i > 0 else channels[0]
            layers += [
                nn.Upsample(size=encoder.spatial_sizes[i], mode="nearest"),
                nn.Conv2d(channels[i], out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                make_activation(activation),
            ]
        input_channels = encoder.input_shape[0]
        layers += [
            nn.Conv2d(channels[0], input_channels, kernel_size=3, padding=1),
            make_activation(output_activation),
            nn.Flatten(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.layers(self.dense(code))


# -- sequences (LSTM seq2seq) -----------------------------------------------------------
class LSTMEncoder(nn.Module):
    """Stacked LSTMs over a sequence; the last hidden state of the top one is the output."""

    def __init__(
        self,
        input_shape: tuple[int, int],
        hidden_sizes: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        widths = [self.input_shape[1], *hidden_sizes]
        self.lstms = nn.ModuleList(
            nn.LSTM(w_in, w_out, batch_first=True)
            for w_in, w_out in itertools.pairwise(widths)
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = x.reshape(-1, *self.input_shape)
        for lstm in self.lstms[:-1]:
            sequence = self.dropout(lstm(sequence)[0])
        _, (hidden, _) = self.lstms[-1](sequence)
        return hidden[-1]


class LSTMDecoder(nn.Module):
    """RepeatVector decoder: the code is fed at every time step to stacked LSTMs.

    A linear layer applied at each step (Keras' ``TimeDistributed(Dense)``) maps
    the top LSTM's outputs to the features of that step.
    """

    def __init__(
        self,
        input_shape: tuple[int, int],
        n_components: int,
        hidden_sizes: Sequence[int],
        output_activation: str,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        widths = [n_components, *hidden_sizes]
        self.lstms = nn.ModuleList(
            nn.LSTM(w_in, w_out, batch_first=True)
            for w_in, w_out in itertools.pairwise(widths)
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(widths[-1], self.input_shape[1])
        self.out_activation = make_activation(output_activation)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        timesteps = self.input_shape[0]
        sequence = code.unsqueeze(1).repeat(1, timesteps, 1)  # RepeatVector
        for lstm in self.lstms:
            sequence = self.dropout(lstm(sequence)[0])
        steps = self.out_activation(self.out(sequence))
        return steps.reshape(code.shape[0], -1)


# -- the architecture registry ----------------------------------------------------------
# The decoder a spec builds may be a zero-argument function instead: the network
# calls it after creating its code layer, so that a seeded build draws the code
# layer's weights before the decoder's (the order of the MLP's weights since skae
# 0.1, which keeps a given random_state's networks as they were).
Decoder = nn.Module | Callable[[], nn.Module]


class ArchitectureSpec:
    """What one value of the estimators' ``architecture`` parameter means.

    A spec resolves and checks ``input_shape`` against the row width, names
    what an entry of ``hidden_layer_sizes`` counts (for error messages), says
    whether the architecture supports ``groups``, and builds the encoder body
    and the decoder; :class:`EncoderDecoder` and
    :class:`VariationalAutoencoder` add the code layer(s) between them.

    To add an architecture, subclass this, set the class attributes, implement
    :meth:`build` and pass an instance to :func:`register_architecture`: the
    estimators then accept ``architecture=spec.name``.

    Attributes
    ----------
    name : str
        The value of ``architecture`` that selects this spec.
    units : str
        What an entry of ``hidden_layer_sizes`` counts ("units", "channels").
    needs_hidden_layers : bool
        Whether ``hidden_layer_sizes=()`` is refused.
    supports_groups : bool
        Whether ``groups > 1`` is allowed (every width must be a multiple).
    shape : str or None
        The form of ``input_shape``, a tuple of names (``"(channels, height,
        width)"``): ``input_shape`` must have that many entries. None when any
        shape (or None) is accepted and the network ignores it.
    """

    name: str = ""
    units: str = "units"
    needs_hidden_layers: bool = True
    supports_groups: bool = False
    shape: str | None = None

    def default_input_shape(self, n_features: int) -> tuple[int, ...] | None:
        """The row shape when ``input_shape=None`` (raise if one is required)."""
        return None

    def resolve_input_shape(
        self, input_shape: Sequence[int] | None, n_features: int
    ) -> tuple[int, ...] | None:
        """The shape of one row: ``input_shape`` checked, with any -1 inferred.

        One entry may be -1 and is inferred from the row width, as in
        ``numpy.reshape``.
        """
        if input_shape is None:
            return self.default_input_shape(n_features)
        shape = tuple(input_shape)
        expected_len = None
        if self.shape is not None:  # "(a, b)": as many entries as names
            expected_len = len([n for n in self.shape.strip("()").split(",") if n.strip()])
        if expected_len is not None and len(shape) != expected_len:
            raise ValueError(
                f"architecture={self.name!r} needs input_shape={self.shape} with "
                f"{expected_len} entries; got {shape!r}."
            )
        if (
            not shape
            or not all(isinstance(d, Integral) and (d > 0 or d == -1) for d in shape)
            or sum(d == -1 for d in shape) > 1
        ):
            raise ValueError(
                "input_shape must be a tuple of positive integers (at most one of "
                f"them -1, inferred from the row width); got {input_shape!r}."
            )
        known = math.prod(d for d in shape if d != -1)
        sizes = " x ".join(str(d) for d in shape)
        if -1 in shape:
            if n_features % known:
                raise ValueError(
                    f"input_shape={shape!r} needs a row width divisible by {known}, "
                    f"but X has {n_features} features."
                )
            shape = tuple(n_features // known if d == -1 else d for d in shape)
        elif known != n_features:
            raise ValueError(
                f"input_shape={shape!r} expects rows of {known} values ({sizes}), but X "
                f"has {n_features} features."
            )
        return tuple(int(d) for d in shape)

    def check_hidden_layer_sizes(self, sizes: tuple[int, ...]) -> None:
        """Refuse hidden layer sizes the architecture cannot build."""
        if self.needs_hidden_layers and not sizes:
            raise ValueError(
                f"architecture={self.name!r} needs at least one entry in "
                f"hidden_layer_sizes (the {self.units} of each layer); got ()."
            )

    def check_groups(
        self, groups: int, n_features: int, n_components: int, sizes: tuple[int, ...]
    ) -> int:
        """``groups`` checked against the architecture and every layer's width."""
        if groups == 1:
            return 1
        if not self.supports_groups:
            names = [n for n, spec in _REGISTRY.items() if spec.supports_groups]
            wanted = " or ".join(f"architecture={n!r}" for n in names) or (
                "an architecture that supports groups"
            )
            raise ValueError(
                f"groups={groups} needs {wanted}; got architecture={self.name!r}."
            )
        widths = {"the number of columns": n_features, "n_components": n_components}
        widths.update({f"hidden width {w}": w for w in sizes})
        uneven = [f"{name} ({w})" for name, w in widths.items() if w % groups]
        if uneven:
            raise ValueError(
                f"groups={groups} splits every layer into equal blocks, but "
                f"{', '.join(uneven)} {'is' if len(uneven) == 1 else 'are'} not a multiple "
                f"of {groups}."
            )
        return groups

    def positions_per_row(self, input_shape: tuple[int, ...] | None) -> int:
        """How often a weight is applied per row (pixels, time steps); 1 for dense."""
        return 1

    def build(
        self,
        n_features: int,
        n_components: int,
        *,
        input_shape: tuple[int, ...] | None,
        hidden_layer_sizes: tuple[int, ...],
        activation: str,
        output_activation: str,
        dropout: float,
        batch_norm: bool,
        groups: int = 1,
    ) -> tuple[nn.Module, Decoder]:
        """The encoder body (with ``out_features``) and the decoder (or its builder)."""
        raise NotImplementedError


class MLPSpec(ArchitectureSpec):
    """Dense layers; the decoder mirrors the encoder's hidden layers."""

    name = "mlp"
    needs_hidden_layers = False
    supports_groups = True

    def build(
        self,
        n_features,
        n_components,
        *,
        input_shape,
        hidden_layer_sizes,
        activation,
        output_activation,
        dropout,
        batch_norm,
        groups=1,
    ):
        sizes = tuple(hidden_layer_sizes)
        body = MLPBody(n_features, sizes, activation, dropout, batch_norm, groups)

        def decoder() -> nn.Module:
            return MLPDecoder(
                n_features,
                n_components,
                sizes,
                activation,
                output_activation,
                dropout,
                batch_norm,
                groups,
            )

        return body, decoder


class ConvSpec(ArchitectureSpec):
    """Rows as images; the hidden sizes are the channels of the convolution blocks.

    The blocks always use batch normalisation.
    """

    name = "conv"
    units = "channels"
    shape = "(channels, height, width)"

    def default_input_shape(self, n_features):
        raise ValueError(
            "architecture='conv' needs input_shape=(channels, height, width), "
            "for example (1, 8, 8) for sklearn's load_digits."
        )

    def positions_per_row(self, input_shape):
        return math.prod(input_shape[1:]) if input_shape else 1

    def build(
        self,
        n_features,
        n_components,
        *,
        input_shape,
        hidden_layer_sizes,
        activation,
        output_activation,
        dropout,
        batch_norm,
        groups=1,
    ):
        sizes = tuple(hidden_layer_sizes)
        body = ConvEncoder(input_shape, sizes, activation, dropout)
        return body, ConvDecoder(body, n_components, sizes, activation, output_activation)


class LSTMSpec(ArchitectureSpec):
    """Rows as sequences; the hidden sizes are the units of the stacked encoder LSTMs.

    The decoder uses them in reverse. ``input_shape=None`` is a univariate
    sequence ``(n_features, 1)``.
    """

    name = "lstm"
    units = "LSTM units"
    shape = "(timesteps, n_features_per_step)"

    def default_input_shape(self, n_features):
        return (n_features, 1)

    def positions_per_row(self, input_shape):
        return int(input_shape[0]) if input_shape else 1

    def build(
        self,
        n_features,
        n_components,
        *,
        input_shape,
        hidden_layer_sizes,
        activation,
        output_activation,
        dropout,
        batch_norm,
        groups=1,
    ):
        sizes = tuple(hidden_layer_sizes)
        body = LSTMEncoder(input_shape, sizes, dropout)
        return body, LSTMDecoder(
            input_shape, n_components, sizes[::-1], output_activation, dropout
        )


_REGISTRY: dict[str, ArchitectureSpec] = {}

#: The registered architecture names. A live set (registration adds to it), so
#: that the estimators' ``architecture`` constraint accepts new names.
ARCHITECTURES: set[str] = set()


def register_architecture(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Make ``spec`` selectable as ``architecture=spec.name``; returns ``spec``.

    Registering a name again replaces its spec. See :class:`ArchitectureSpec`.
    """
    if not isinstance(spec, ArchitectureSpec) or not spec.name:
        raise TypeError(
            f"register_architecture needs an ArchitectureSpec with a name; got {spec!r}."
        )
    _REGISTRY[spec.name] = spec
    ARCHITECTURES.add(spec.name)
    return spec


def unregister_architecture(name: str) -> None:
    """Remove the architecture ``name`` (as registered by :func:`register_architecture`)."""
    _REGISTRY.pop(name, None)
    ARCHITECTURES.discard(name)


def get_architecture(name: str) -> ArchitectureSpec:
    """The spec registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown architecture {name!r}; expected one of {sorted(_REGISTRY)}."
        ) from None


for _spec in (MLPSpec(), ConvSpec(), LSTMSpec()):
    register_architecture(_spec)


def make_parts(
    architecture: str,
    n_features: int,
    n_components: int,
    *,
    input_shape: tuple[int, ...] | None,
    hidden_layer_sizes: Sequence[int],
    activation: str = "relu",
    output_activation: str = "identity",
    dropout: float = 0.0,
    batch_norm: bool = False,
    groups: int = 1,
) -> tuple[nn.Module, Decoder]:
    """Build the encoder body and the decoder of the registered ``architecture``."""
    return get_architecture(architecture).build(
        n_features,
        n_components,
        input_shape=input_shape,
        hidden_layer_sizes=tuple(hidden_layer_sizes),
        activation=activation,
        output_activation=output_activation,
        dropout=dropout,
        batch_norm=batch_norm,
        groups=groups,
    )


def _built(decoder: Decoder) -> nn.Module:
    return decoder if isinstance(decoder, nn.Module) else decoder()


class EncoderDecoder(nn.Module):
    """Autoencoder from an encoder body, a linear code layer and a decoder.

    Parameters
    ----------
    body : nn.Module
        Maps rows to features of width ``body.out_features``; a ``groups``
        attribute above 1 makes the code layer grouped as well.
    n_components : int
        Width of the code.
    decoder : nn.Module or callable
        Maps codes back to rows; or a function of no argument that builds it
        (called after the code layer is created).
    """

    def __init__(self, body: nn.Module, n_components: int, decoder: Decoder) -> None:
        super().__init__()
        self.body = body
        groups = getattr(body, "groups", 1)
        self.to_code = make_linear(body.out_features, n_components, groups)
        self.decoder = _built(decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.body(x))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class MLPAutoencoder(EncoderDecoder):
    """Fully connected autoencoder with a mirrored decoder.

    The encoder maps ``n_features -> *hidden_layer_sizes -> n_components`` and
    the decoder maps back through the hidden sizes in reverse. With no hidden
    layers and ``activation="identity"`` it is the linear autoencoder whose
    optimum spans the same subspace as PCA. The network the estimators build
    for ``architecture="mlp"``.

    Parameters
    ----------
    n_features : int
        Width of the input rows.
    n_components : int
        Width of the code (the bottleneck).
    hidden_layer_sizes : sequence of int
        Widths of the encoder's hidden layers, outermost first.
    activation : str
        Activation of the hidden layers (a key of ``ACTIVATIONS``).
    output_activation : str
        Activation applied to the reconstruction (``"identity"`` or ``"sigmoid"``).
    dropout : float
        Dropout probability after each hidden activation.
    batch_norm : bool
        Whether hidden layers use batch normalisation.
    groups : int
        Number of independent autoencoders side by side: column block ``g`` of
        the input is encoded into code block ``g`` and reconstructed from it
        alone. Every width must be a multiple of ``groups``.
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int] = (),
        activation: str = "relu",
        output_activation: str = "identity",
        dropout: float = 0.0,
        batch_norm: bool = False,
        groups: int = 1,
    ) -> None:
        body, decoder = _REGISTRY["mlp"].build(
            n_features,
            n_components,
            input_shape=None,
            hidden_layer_sizes=tuple(hidden_layer_sizes),
            activation=activation,
            output_activation=output_activation,
            dropout=dropout,
            batch_norm=batch_norm,
            groups=groups,
        )
        super().__init__(body, n_components, decoder)


class CalibratedGaussian(nn.Module):
    """Gaussian decoder noise whose variance is the one that fits the errors best.

    A Gaussian likelihood ``N(x | xhat, sigma^2)`` with a fixed ``sigma = 1``
    weighs reconstruction against the KL term by the scale of the data: on
    data in [0, 1] the KL term wins and the posterior collapses, on data in
    the hundreds the reconstruction term wins. A *calibrated decoder* (Rybkin,
    Daniilidis and Levine, "Simple and Effective VAE Training with Calibrated
    Decoders", ICML 2021) uses instead the variance that maximises the
    likelihood, ``sigma^2 = mean squared error`` (over the rows and features
    of each training batch), which makes the balance independent of the
    data's units. One variance shared by all features: one per feature let
    the nearly constant pixels of ``load_digits`` dominate, and the codes
    collapsed (``benchmarks/bench_vae.py``).

    The batch variance is floored at ``min_relative`` times the batch's own
    variance, so that perfectly reconstructed data cannot drive it to zero. A
    running average of it (``momentum`` per training batch, as in batch
    normalisation) is kept in the ``variance`` buffer and used in eval mode,
    so that scores are deterministic.

    Parameters
    ----------
    momentum : float, default=0.1
        Weight of the newest batch in the running variance.
    min_relative : float, default=1e-3
        Floor of the variance, relative to the data's variance in the batch.
    """

    def __init__(self, momentum: float = 0.1, min_relative: float = 1e-3) -> None:
        super().__init__()
        self.momentum = momentum
        self.min_relative = min_relative
        self.register_buffer("variance", torch.ones(()))
        self.register_buffer("n_batches", torch.zeros((), dtype=torch.long))

    def batch_variance(
        self, squared_error: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Maximum-likelihood variance of one batch (its observed cells), floored."""
        variance = observed_mean(squared_error, mask)
        if len(x) > 1:
            spread = x.var(dim=0, unbiased=False).mean().detach()
        else:
            spread = torch.zeros_like(variance)
        return torch.maximum(variance, self.min_relative * spread + _TINY_VARIANCE)

    def forward(
        self, squared_error: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-row negative log-likelihood ``sum_j -log N(x_j | xhat_j, sigma^2)``.

        With an observed-cell ``mask``, over the observed cells only (see
        :func:`~skae._missing.observed_row_sum`).
        """
        if self.training:
            variance = self.batch_variance(squared_error, x, mask)
            with torch.no_grad():
                if self.n_batches == 0:
                    self.variance.copy_(variance)
                else:
                    self.variance.lerp_(variance.detach(), self.momentum)
                self.n_batches += 1
        else:
            variance = self.variance
        variance = variance.to(squared_error.dtype)
        nll = 0.5 * (squared_error / variance + torch.log(variance) + _LOG_2PI)
        return observed_row_sum(nll, mask)


class Standardizer(nn.Module):
    """Per-feature centre and scale of the training data, fixed once set.

    The encoder reads ``(x - center) / scale`` and a Gaussian decoder's output
    is mapped back by ``y * scale + center``, so the network works in units
    of the data's own spread whatever its scale: raw pixels (0 to 16) and
    pixels divided by 16 train the same network. The values are set once,
    from the training data, by :meth:`set_from` (before the first training
    step); until then the buffers are the identity (centre 0, scale 1).
    Features with no spread keep a scale of 1.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.register_buffer("is_set", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def set_from(self, x: torch.Tensor) -> None:
        """Take the centre and scale from rows ``x`` (the training data)."""
        # In float64 on the CPU (where every device's buffers can be copied from).
        # Missing values (NaN) are left out; a column of them gets 0 and 1.
        x = x.to("cpu", torch.float64)
        center = torch.nanmean(x, dim=0).nan_to_num(0.0)
        spread = torch.nanmean((x - center) ** 2, dim=0).sqrt().nan_to_num(0.0)
        # No spread, or none float32 can resolve at the column's magnitude.
        flat = spread <= _FLAT_SPREAD * center.abs().clamp(min=1.0)
        scale = torch.where(flat, torch.ones_like(spread), spread)
        self.center.copy_(center)
        self.scale.copy_(scale)
        self.is_set.fill_(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) / self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.center


class VariationalAutoencoder(nn.Module):
    """Variational autoencoder: Gaussian posterior ``q(z|x) = N(mean, exp(log_var))``.

    ``encode`` returns the posterior mean (deterministic); ``encode_distribution``
    returns the mean and the log-variance, clamped to ``LOGVAR_BOUNDS``.

    Parameters
    ----------
    body : nn.Module
        Maps rows to features of width ``body.out_features``; a ``groups``
        attribute above 1 makes the mean and log-variance layers grouped too.
    n_components : int
        Dimension of the latent space.
    decoder : nn.Module or callable
        Maps latent points to (the mean of) rows; or a function of no argument
        that builds it.
    standardizer : Standardizer, default=None
        When given, the body reads standardised rows; with
        ``rescale_output=True`` the decoder's output is mapped back to the
        data's units (for an unbounded, Gaussian decoder).
    rescale_output : bool, default=False
        Whether ``decode`` applies ``standardizer.inverse``.
    """

    def __init__(
        self,
        body: nn.Module,
        n_components: int,
        decoder: nn.Module,
        standardizer: Standardizer | None = None,
        rescale_output: bool = False,
    ) -> None:
        super().__init__()
        self.body = body
        decoder = _built(decoder)  # before the heads: the order of skae 0.1's weights
        groups = getattr(body, "groups", 1)
        self.to_mean = make_linear(body.out_features, n_components, groups)
        self.to_log_var = make_linear(body.out_features, n_components, groups)
        self.decoder = decoder
        self.standardizer = standardizer
        self.rescale_output = rescale_output and standardizer is not None

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardizer is not None:
            x = self.standardizer(x)
        return self.body(x)

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self._features(x)
        log_var = self.to_log_var(features).clamp(*LOGVAR_BOUNDS)
        return self.to_mean(features), log_var

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_mean(self._features(x))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        out = self.decoder(code)
        return self.standardizer.inverse(out) if self.rescale_output else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class MaskedInputMLP(EncoderDecoder):
    """Dense autoencoder that reads a row with missing cells and its missing indicator.

    The encoder's input is ``[x with NaN set to 0, indicator]`` (twice the row
    width: the indicator is concatenated to the filled row), and the decoder
    reconstructs every cell of the row. On standardised columns 0 is the
    column mean, so the network sees mean imputation plus which cells it made.
    The same :class:`MLPBody` and :class:`MLPDecoder` as :class:`MLPAutoencoder`.

    Parameters
    ----------
    n_features : int
        Width of the rows (the decoder's output).
    n_components : int
        Width of the code.
    hidden_layer_sizes, activation, dropout, batch_norm
        As for :class:`MLPAutoencoder`.
    """

    handles_missing = True

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        sizes = tuple(hidden_layer_sizes)
        body = MLPBody(2 * n_features, sizes, activation, dropout, batch_norm)

        def decoder() -> nn.Module:
            return MLPDecoder(
                n_features, n_components, sizes, activation, "identity", dropout, batch_norm
            )

        super().__init__(body, n_components, decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(x)
        filled = torch.where(missing, 0.0, x)
        return super().encode(torch.cat([filled, missing.to(x.dtype)], dim=1))


# -- state dicts saved before the MLP had one layout ------------------------------------
_OLD_MLP_KEY = re.compile(
    r"^(?P<prefix>(?:inner\.)*)(?P<part>encoder|decoder)\.(?P<i>\d+)\."
)


def migrate_mlp_state(state: dict, module: nn.Module) -> dict:
    """Rename an MLP state dict saved before skae 0.2 to the layout of ``module``.

    Before, the plain MLP (``architecture="mlp"``, non-variational, and the
    imputer's :class:`MaskedInputMLP`) was two flat
    ``nn.Sequential``: ``encoder.{i}`` (hidden layers, then the code layer) and
    ``decoder.{j}`` (hidden layers, then the output layer). It is now an
    :class:`EncoderDecoder` of an :class:`MLPBody` and an :class:`MLPDecoder`,
    with the same layers in the same order: ``encoder.{i}`` becomes
    ``body.layers.{i}`` and, past the body's layers, ``to_code``;
    ``decoder.{j}`` becomes ``decoder.body.layers.{j}`` and, past them,
    ``decoder.out``. A ``MissingValueInput`` wrapper's ``inner.`` prefix is
    kept. Keys ``module`` already has, and every key of a state dict of any
    other network, are returned unchanged.
    """
    expected = module.state_dict().keys()
    renamed = {}
    for key, value in state.items():
        match = _OLD_MLP_KEY.match(key)
        target = module
        for _ in range(match["prefix"].count("inner.") if match else 0):
            target = getattr(target, "inner", None)
        if key in expected or match is None or not isinstance(target, EncoderDecoder):
            renamed[key] = value
            continue
        if match["part"] == "encoder":
            body, past = "body.layers", "to_code"
        else:
            body, past = "decoder.body.layers", "decoder.out"
        layers = target.get_submodule(body)
        if not isinstance(target.get_submodule(body.rsplit(".", 1)[0]), MLPBody):
            renamed[key] = value
            continue
        i, rest = int(match["i"]), key[match.end() :]
        new = f"{body}.{i}.{rest}" if i < len(layers) else f"{past}.{rest}"
        renamed[match["prefix"] + new] = value
    return renamed

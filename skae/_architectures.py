"""Torch networks beyond the plain MLP: convolutional, LSTM and variational.

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
:func:`make_parts` builds the body and decoder of each architecture.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from ._missing import observed_mean, observed_row_sum
from ._modules import make_activation

ARCHITECTURES = ("mlp", "conv", "lstm")

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
    """Dense hidden layers ``n_features -> *hidden_layer_sizes``, all activated."""

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_layer_sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.layers = nn.Sequential(*layers)
        self.out_features = width

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
    ) -> None:
        super().__init__()
        self.body = MLPBody(
            n_components, tuple(hidden_layer_sizes)[::-1], activation, dropout, batch_norm
        )
        self.out = nn.Linear(self.body.out_features, n_features)
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


# -- assembly ---------------------------------------------------------------------------
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
) -> tuple[nn.Module, nn.Module]:
    """Build the encoder body and the decoder of ``architecture``.

    For ``"conv"`` the hidden sizes are the channels of the convolution blocks
    (which always use batch normalisation); for ``"lstm"`` they are the units
    of the stacked encoder LSTMs (the decoder uses them in reverse).
    """
    sizes = tuple(hidden_layer_sizes)
    if architecture == "mlp":
        body = MLPBody(n_features, sizes, activation, dropout, batch_norm)
        decoder = MLPDecoder(
            n_features,
            n_components,
            sizes,
            activation,
            output_activation,
            dropout,
            batch_norm,
        )
    elif architecture == "conv":
        body = ConvEncoder(input_shape, sizes, activation, dropout)
        decoder = ConvDecoder(body, n_components, sizes, activation, output_activation)
    elif architecture == "lstm":
        body = LSTMEncoder(input_shape, sizes, dropout)
        decoder = LSTMDecoder(
            input_shape, n_components, sizes[::-1], output_activation, dropout
        )
    else:
        raise ValueError(
            f"Unknown architecture {architecture!r}; expected one of {ARCHITECTURES}."
        )
    return body, decoder


class EncoderDecoder(nn.Module):
    """Autoencoder from an encoder body, a linear code layer and a decoder.

    Parameters
    ----------
    body : nn.Module
        Maps rows to features of width ``body.out_features``.
    n_components : int
        Width of the code.
    decoder : nn.Module
        Maps codes back to rows.
    """

    def __init__(self, body: nn.Module, n_components: int, decoder: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.to_code = nn.Linear(body.out_features, n_components)
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.body(x))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


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
        Maps rows to features of width ``body.out_features``.
    n_components : int
        Dimension of the latent space.
    decoder : nn.Module
        Maps latent points to (the mean of) rows.
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
        self.to_mean = nn.Linear(body.out_features, n_components)
        self.to_log_var = nn.Linear(body.out_features, n_components)
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

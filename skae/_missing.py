"""Missing cells (NaN) as the networks see them: a fill value plus an indicator.

Torch only: this module knows nothing of scikit-learn or skorch. A missing
cell is marked by NaN in the batch itself, so batches stay plain tensors (the
fast slicing iterators in ``_data.py`` need no second tensor) and the
observed-cell mask of any batch is ``~torch.isnan(batch)``.
"""

from __future__ import annotations

import torch
from torch import nn


def observed_mask(x: torch.Tensor) -> torch.Tensor:
    """``True`` where ``x`` holds a value, ``False`` where it is missing (NaN)."""
    return ~torch.isnan(x)


def fill_missing(x: torch.Tensor, fill: torch.Tensor | float = 0.0) -> torch.Tensor:
    """``x`` with its NaN replaced by ``fill`` (a scalar or a per-column vector)."""
    return torch.where(torch.isnan(x), fill, x)


def observed_row_mean(error: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-row mean of ``error`` over the observed cells; 0 for a row with none.

    ``mask=None`` means every cell is observed (a plain mean over the columns).
    Rows are flattened first, so images and sequences work the same way.
    """
    error = error.reshape(error.shape[0], -1)
    if mask is None:
        return error.mean(dim=1)
    mask = mask.reshape(mask.shape[0], -1).to(error.dtype)
    count = mask.sum(dim=1)
    return (error * mask).sum(dim=1) / count.clamp(min=1)


def observed_row_sum(error: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-row sum of ``error`` over the columns, from the observed cells only.

    The observed cells' mean times the number of columns, so that a row with
    missing cells is on the scale of a complete row (a missing cell is neither
    good nor bad news); 0 for a row with no observed cell.
    """
    if mask is None:
        return error.reshape(error.shape[0], -1).sum(dim=1)
    width = error[0].numel() if error.shape[0] else 1
    return observed_row_mean(error, mask) * width


def observed_mean(error: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``error`` over every observed cell of the batch (0 when none is)."""
    if mask is None:
        return error.mean()
    mask = mask.to(error.dtype)
    return (error * mask).sum() / mask.sum().clamp(min=1)


class MissingValueInput(nn.Module):
    """Wrap an ``encode``/``decode`` network so that it accepts NaN in its input.

    A missing cell of column ``j`` enters the wrapped network as ``fill[j] +
    embedding[j]``: the column's fill value (its mean in the training data)
    plus a learned offset, so the missing indicator reaches the network as a
    learned per-column shift that it can tell apart from an observed mean. The
    embedding starts at 0 (plain mean imputation). Observed cells pass
    unchanged; so does the row width, so any architecture can be wrapped.

    Parameters
    ----------
    inner : nn.Module
        The network; needs ``encode`` and ``decode``.
    fill : torch.Tensor of shape (n_features,)
        Fill value of each column (finite).
    """

    handles_missing = True

    def __init__(self, inner: nn.Module, fill: torch.Tensor) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("fill", torch.as_tensor(fill, dtype=torch.float32).clone())
        self.embedding = nn.Parameter(torch.zeros_like(self.fill))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The rows as the wrapped network sees them: NaN filled, shifted."""
        shape = x.shape
        flat = x.reshape(shape[0], -1)
        filled = torch.where(torch.isnan(flat), self.fill + self.embedding, flat)
        return filled.reshape(shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.encode(self.prepare(x))

    def encode_distribution(self, x: torch.Tensor):
        """The wrapped variational network's posterior, NaN filled first."""
        return self.inner.encode_distribution(self.prepare(x))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def __getattr__(self, name: str):
        # Attributes of the wrapped network (encode_distribution for a VAE,
        # its layers) stay reachable through the wrapper.
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

"""Torch building blocks: activations and (grouped) dense layers.

This module knows nothing of scikit-learn or skorch. The networks built from
these blocks (:mod:`skae._architectures`) expose ``encode(x) -> code`` and
``decode(code) -> reconstruction``; that pair is the whole contract the
training plumbing relies on, so a user-supplied module with the same two
methods can replace the built-in ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation layer for ``name`` (a key of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}."
        ) from None


class GroupedLinear(nn.Module):
    """``groups`` independent dense layers side by side: a block-diagonal Linear.

    Input column block ``g`` (of ``in_features // groups`` columns) feeds only
    output block ``g``. The blocks are computed in one batched matrix product,
    so ``groups`` small networks train much faster than one after the other,
    where per-layer overhead rather than arithmetic dominates. Each block is
    initialised like its own ``nn.Linear``.

    Parameters
    ----------
    in_features, out_features : int
        Total widths; both must be multiples of ``groups``.
    groups : int
        Number of independent blocks.
    """

    def __init__(self, in_features: int, out_features: int, groups: int) -> None:
        super().__init__()
        if in_features % groups or out_features % groups:
            raise ValueError(
                f"GroupedLinear needs widths divisible by groups={groups}; got "
                f"{in_features} -> {out_features}."
            )
        self.groups = groups
        self.in_per_group = in_features // groups
        self.out_per_group = out_features // groups
        bound = 1 / math.sqrt(self.in_per_group)  # nn.Linear's default init
        self.weight = nn.Parameter(
            torch.empty(groups, self.in_per_group, self.out_per_group).uniform_(
                -bound, bound
            )
        )
        self.bias = nn.Parameter(
            torch.empty(groups, 1, self.out_per_group).uniform_(-bound, bound)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        blocks = x.reshape(rows, self.groups, self.in_per_group).transpose(0, 1)
        out = torch.baddbmm(self.bias, blocks, self.weight)
        return out.transpose(0, 1).reshape(rows, self.groups * self.out_per_group)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.groups * self.in_per_group}, "
            f"out_features={self.groups * self.out_per_group}, groups={self.groups}"
        )


def make_linear(in_features: int, out_features: int, groups: int = 1) -> nn.Module:
    """A dense layer: ``nn.Linear``, or a :class:`GroupedLinear` for ``groups > 1``."""
    if groups == 1:
        return nn.Linear(in_features, out_features)
    return GroupedLinear(in_features, out_features, groups)


def mlp_stack(
    widths: Sequence[int],
    *,
    activation: str,
    dropout: float = 0.0,
    batch_norm: bool = False,
    last_activation: str | None = None,
    hidden_last: bool = False,
    groups: int = 1,
) -> nn.Sequential:
    """Dense layers ``widths[0] -> widths[1] -> ... -> widths[-1]``.

    Hidden layers get ``Linear -> [BatchNorm] -> activation -> [Dropout]``; the
    last layer gets ``last_activation`` only (``None`` means a linear output),
    because the code and the reconstruction should not be squashed or dropped.
    With ``hidden_last=True`` the last layer is a hidden layer too (an encoder
    body, whose output feeds a code layer). With ``groups > 1`` every layer is
    a :class:`GroupedLinear`: ``groups`` independent stacks side by side (batch
    normalisation, activations and dropout act per column, so they keep the
    blocks independent).
    """
    layers: list[nn.Module] = []
    n_layers = len(widths) - 1
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layers.append(make_linear(w_in, w_out, groups))
        if hidden_last or i < n_layers - 1:
            if batch_norm:
                layers.append(nn.BatchNorm1d(w_out))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        elif last_activation not in (None, "identity"):
            layers.append(make_activation(last_activation))
    return nn.Sequential(*layers)

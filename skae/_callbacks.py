"""skorch callbacks and checks that keep training honest.

:class:`DivergenceGuard` stops a fit as soon as a batch loss is NaN or
infinite. It reads the loss that skorch has already copied to the host for the
history (``loss.item()``), so it adds no device synchronisation.
"""

from __future__ import annotations

import math

import torch
from skorch.callbacks import Callback

from .exceptions import TrainingDivergedError

ADVICE = (
    "Try a smaller learning rate (lr={lr!r} now), scaling X (for example with "
    "sklearn.preprocessing.StandardScaler), or clipping gradients with "
    "callbacks=[skorch.callbacks.GradientNormClipping(gradient_clip_value=1.0)]."
)


def _diverged(what: str, lr) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"Training diverged: {what}. No model was fitted (a previously fitted model "
        "is kept). " + ADVICE.format(lr=lr)
    )


class DivergenceGuard(Callback):
    """Raise :class:`~skae.exceptions.TrainingDivergedError` on a non-finite loss."""

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        history = net.history
        # skorch's History.__getitem__ copies the epoch list; plain list indexing
        # keeps this check O(1) per batch.
        record = list.__getitem__(history, -1) if isinstance(history, list) else history[-1]
        key = "train_loss" if training else "valid_loss"
        value = record["batches"][-1][key]
        if not math.isfinite(value):
            raise _diverged(
                f"the {key.replace('_', ' ')} became {value} in epoch {record['epoch']} "
                f"(batch {len(record['batches'])})",
                net.lr,
            )


def check_finite_weights(net) -> None:
    """Refuse a trained network whose parameters hold NaN or inf (one sync per fit)."""
    params = [p for p in net.module_.parameters() if p.is_floating_point()]
    if params and not bool(torch.stack([p.isfinite().all() for p in params]).all()):
        raise _diverged("the network's weights became NaN or infinite", net.lr)

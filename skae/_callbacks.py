"""skorch callbacks and checks that keep training honest.

:class:`DivergenceGuard` stops a fit at the end of the first epoch in which a
batch loss is NaN or infinite. It reads the losses already recorded in the
history, so it adds no device synchronisation.
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


def silent(*args, **kwargs) -> None:
    """A sink that prints nothing (callbacks' output when verbose=0)."""


def _diverged(what: str, lr) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"Training diverged: {what}. No model was fitted (a previously fitted model "
        "is kept). " + ADVICE.format(lr=lr)
    )


class DivergenceGuard(Callback):
    """Raise :class:`~skae.exceptions.TrainingDivergedError` on a non-finite loss.

    Checked once per epoch over the batch losses skorch recorded, so it neither
    adds a device synchronisation nor disables the engine's deferred per-epoch
    loss logging (which a per-batch hook would).
    """

    def on_epoch_end(self, net, **kwargs):
        record = net.last_epoch()  # without copying the history (skae._nets)
        for key in ("train_loss", "valid_loss"):
            values = [b[key] for b in record["batches"] if key in b]
            for number, value in enumerate(values, start=1):
                if not math.isfinite(value):
                    raise _diverged(
                        f"the {key.replace('_', ' ')} became {value} in epoch "
                        f"{record['epoch']} (batch {number})",
                        net.lr,
                    )


def check_finite_weights(net) -> None:
    """Refuse a trained network whose parameters hold NaN or inf (one sync per fit)."""
    params = [p for p in net.module_.parameters() if p.is_floating_point()]
    if params and not bool(torch.stack([p.isfinite().all() for p in params]).all()):
        raise _diverged("the network's weights became NaN or infinite", net.lr)

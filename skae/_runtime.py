"""The conditions a fit runs under: its device, its random stream, its undo.

Every skae estimator (the autoencoders and the detector) trains under the same
three rules: the ``device`` parameter is resolved to a device this machine
has (:func:`resolve_device`), torch's generators are seeded from
``random_state`` for the block and restored afterwards (:func:`seeded_torch`),
and a fit that raises leaves the estimator as it was
(:func:`state_restored_on_failure`).

This module knows nothing of the estimators, skorch or the networks.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch


def resolve_device(device: str) -> torch.device:
    """Turn the ``device`` parameter into a ``torch.device`` that exists here.

    ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. Asking for a device
    that this machine does not have raises a ``ValueError`` instead of failing
    later inside torch.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'cpu', 'cuda', "
            "'cuda:N', 'mps' or 'auto'."
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine (torch.cuda.is_available() is False). Use device='cpu' or "
                "device='auto'."
            )
        index = resolved.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} was requested but MPS is not available on this "
            "machine. Use device='cpu' or device='auto'."
        )
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device={device!r} is not supported; use 'cpu', 'cuda', 'cuda:N', "
            "'mps' or 'auto'."
        )
    return resolved


# torch's default generators are process-wide: two fits seeding them from two
# threads at once would draw from each other's streams (and fork_rng would
# restore each other's states). Seeded blocks therefore run one at a time; the
# lock is re-entrant so that code inside a seeded block (a callback fitting
# another estimator, say) can seed again in the same thread.
_SEEDED_LOCK = threading.RLock()


@contextmanager
def seeded_torch(seed: int, device: torch.device):
    """Seed torch's generators for a block and restore them afterwards.

    Weight initialisation, shuffling and dropout all draw from torch's default
    generators; forking them makes a fit repeatable from ``random_state`` without
    changing the caller's global random state. Seeded blocks of different
    threads run one after the other, so that fits in threads are exactly the
    fits run alone (inference, which draws nothing, stays concurrent).
    """
    devices = [device] if device.type == "cuda" else []
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices):
        if device.type == "cpu":
            # The CPU generator is all a CPU fit draws from. torch.manual_seed
            # would also queue the seeding of every accelerator, recording a
            # stack trace each time (2 ms a call, a tenth of a small table's fit).
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)
        yield


@contextmanager
def state_restored_on_failure(estimator):
    """Undo every attribute change of ``estimator`` if the block raises.

    A failed ``fit`` (bad input, divergence, an error in a callback, Ctrl-C
    before training starts) must leave a previously fitted estimator exactly
    as it was, or an unfitted one unfitted. (A network trained in place is
    restored by :func:`skae._nets.training_state_restored_on_failure`.)
    """
    previous_state = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(previous_state)
        raise

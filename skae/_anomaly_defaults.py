"""The default inner model of :class:`skae.AnomalyDetector`, in one place.

``AnomalyDetector(estimator=None)`` builds its autoencoder with
:func:`default_estimator`. Every choice below is a function of the training
data's shape (``n_samples``, ``n_features``) only -- never of a particular data
set -- so that the defaults carry over to tables they were not chosen on.
``benchmarks/bench_adbench.py`` measures them on 20 ADBench tables.

The rest of the recipe is in ``AnomalyDetector``'s signature: ``scaler="robust"``,
``clip=5.0``, ``distance_weight=1/3`` and ``reconstruction_score="auto"``
(balanced errors). These values follow a plain-PyTorch prototype that compared
whole configurations by their mean over those tables (see
docs/anomaly_detection.rst).
"""

from __future__ import annotations

import math

from ._autoencoder import AutoencoderTransformer

#: ``contamination="auto"`` flags rows whose anomaly score exceeds median + k * MAD
#: of the training rows' scores on a log scale (MAD scaled to a normal standard
#: deviation; ``skae._thresholds.offset_from_log_mad``). The log of the default
#: score is a combined normal score, so k is a normal quantile: 2.326 flags about
#: 1 % of clean rows (measured by ``bench_adbench.py --false-alarms``).
AUTO_MAD_K = 2.326

#: Networks in the default ensemble. They differ only in their initial weights
#: and batch order; averaging their balanced errors removes much of the
#: seed-to-seed variance of one network. They train side by side as one grouped
#: network (``AutoencoderTransformer(groups=...)``): 1.2 to 1.8 times the time
#: of one network on the ADBench tables, against 3 times one after the other.
DEFAULT_MEMBERS = 3

#: Optimisation steps (mini-batches) the default network trains for, whatever
#: the number of rows: small tables get more epochs, large ones fewer.
TRAINING_STEPS = 500
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
#: Batch normalisation in the hidden layers (measured to help on ADBench).
BATCH_NORM = True


def default_code_width(n_features: int) -> int:
    """Bottleneck width: a quarter of the features, at least 2 (and at most the width)."""
    return max(1, min(n_features, max(2, n_features // 4)))


def default_hidden_width(n_features: int) -> int:
    """One hidden layer, twice as wide as the input, at least 8 units."""
    return max(8, 2 * n_features)


def default_max_epochs(n_samples: int, batch_size: int = BATCH_SIZE) -> int:
    """Epochs that make about ``TRAINING_STEPS`` mini-batches over ``n_samples`` rows."""
    batches_per_epoch = math.ceil(n_samples / batch_size)
    return max(1, math.ceil(TRAINING_STEPS / batches_per_epoch))


def default_batch_size(n_samples: int) -> int:
    """``BATCH_SIZE``, nudged up so that no batch holds a single row.

    Batch normalisation cannot train on a batch of one row, and skae keeps the
    last, smaller batch of an epoch.
    """
    batch_size = BATCH_SIZE
    while n_samples > batch_size and n_samples % batch_size == 1:
        batch_size += 1
    return batch_size


def default_estimator(
    n_samples: int, n_features: int, random_state=None, n_members: int = 1
):
    """Return the unfitted autoencoder ``AnomalyDetector`` uses by default.

    Parameters
    ----------
    n_samples : int
        Number of training rows.
    n_features : int
        Number of columns of one member's input.
    random_state : int or None
        Seed of the network.
    n_members : int, default=1
        Independent autoencoders side by side (``groups``); the network then
        reads ``n_members * n_features`` columns, one block per member.

    Returns
    -------
    estimator : AutoencoderTransformer
        An unfitted autoencoder sized for the data.
    """
    batch_size = default_batch_size(n_samples)
    return AutoencoderTransformer(
        n_components=n_members * default_code_width(n_features),
        hidden_layer_sizes=(n_members * default_hidden_width(n_features),),
        groups=n_members,
        activation="relu",
        batch_norm=BATCH_NORM,
        lr=LEARNING_RATE,
        batch_size=batch_size,
        max_epochs=default_max_epochs(n_samples, batch_size),
        random_state=random_state,
    )

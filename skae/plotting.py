"""Plotting helpers for fitted skae estimators (matplotlib: ``pip install skae[plot]``).

Each function draws one standard autoencoder picture and returns the matplotlib
:class:`~matplotlib.axes.Axes` or :class:`~matplotlib.figure.Figure` it drew
on, so the caller can restyle or save it. Functions that draw on a single Axes
accept ``ax=None`` (draw on a new figure) or an existing Axes.

matplotlib is imported only when this module is imported; ``import skae``
never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import matplotlib.pyplot as plt
except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        "skae.plotting needs matplotlib; install it with `pip install matplotlib` "
        "or `pip install skae[plot]`."
    ) from exc

__all__ = [
    "plot_feature_errors",
    "plot_latent_space",
    "plot_loss_curve",
    "plot_reconstructions",
    "plot_score_histogram",
    "plot_vae_manifold",
]


def _new_axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _history_records(estimator_or_history) -> list[dict]:
    """The per-epoch records of a fitted estimator, a skorch History or a list of dicts."""
    history = getattr(estimator_or_history, "history_", estimator_or_history)
    if hasattr(estimator_or_history, "get_params") and not hasattr(
        estimator_or_history, "history_"
    ):
        raise ValueError(
            f"{type(estimator_or_history).__name__} is not fitted (it has no history_); "
            "call fit before plotting its loss curve."
        )
    try:
        records = list(history)
    except TypeError:
        raise TypeError(
            "plot_loss_curve expects a fitted skae estimator, a fitted AnomalyDetector, "
            "a skorch History or a list of per-epoch dicts; got "
            f"{type(estimator_or_history).__name__}."
        ) from None
    if not records or not all(isinstance(r, dict) and "train_loss" in r for r in records):
        raise ValueError(
            "plot_loss_curve needs at least one epoch record with a 'train_loss' entry."
        )
    return records


def _curves(estimator_or_history) -> list[tuple[str, list[dict]]]:
    """``(label prefix, records)`` per network: one, or one per detector member."""
    obj = estimator_or_history
    is_detector = hasattr(obj, "get_params") and "estimator" in obj.get_params(deep=False)
    if not is_detector:
        return [("", _history_records(obj))]
    members = getattr(obj, "estimators_", None)
    if members is None:
        raise ValueError(
            f"{type(obj).__name__} is not fitted (it has no estimators_); call fit "
            "before plotting the loss curves of its networks."
        )
    without = [type(m).__name__ for m in members if not hasattr(m, "history_")]
    if without:
        raise TypeError(
            f"The members of this {type(obj).__name__} ({without[0]}) record no "
            "per-epoch losses (no history_); pass an estimator trained by skae, or "
            "its history."
        )
    if len(members) == 1:
        return [("", _history_records(members[0]))]
    return [(f"member {i} ", _history_records(m)) for i, m in enumerate(members, 1)]


def plot_loss_curve(estimator_or_history, ax=None):
    """Training (and validation, when recorded) loss per epoch.

    Parameters
    ----------
    estimator_or_history : fitted skae estimator, skorch History or list of dict
        Where the per-epoch losses come from: an estimator's ``history_``, or
        the history itself (records with ``"train_loss"`` and optionally
        ``"valid_loss"``). For a fitted :class:`~skae.AnomalyDetector`, the
        curves of its networks (``estimators_``): one set of lines per member,
        labelled ``"member 1 train"`` and so on when there are several (the
        default detector trains its members as one grouped network, whose loss
        is their mean: one set of lines).
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    ax : matplotlib Axes
        One line per recorded loss, labelled ``"train"`` and ``"validation"``.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_loss_curve
    >>> X = np.random.RandomState(0).rand(100, 5)
    >>> ae = AutoencoderTransformer(max_epochs=3, validation_fraction=0.2).fit(X)
    >>> ax = plot_loss_curve(ae)
    >>> [line.get_label() for line in ax.get_lines()]
    ['train', 'validation']
    """
    curves = _curves(estimator_or_history)
    ax = _new_axes(ax)
    for prefix, records in curves:
        epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]
        ax.plot(
            epochs, [r["train_loss"] for r in records], marker=".", label=prefix + "train"
        )
        if all("valid_loss" in r for r in records):
            ax.plot(
                epochs,
                [r["valid_loss"] for r in records],
                marker=".",
                label=prefix + "validation",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Training loss")
    ax.legend()
    return ax


def _as_images(rows: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """Reshape flat rows to (n, h, w) grey or (n, h, w, 3) colour images."""
    shape = tuple(int(s) for s in image_shape)
    if int(np.prod(shape)) != rows.shape[1]:
        raise ValueError(
            f"image_shape={tuple(image_shape)} holds {int(np.prod(shape))} values but "
            f"the rows have {rows.shape[1]} features."
        )
    if len(shape) == 2:
        return rows.reshape(-1, *shape)
    if len(shape) == 3 and shape[0] == 1:  # (channels, height, width), grey
        return rows.reshape(-1, shape[1], shape[2])
    if len(shape) == 3 and shape[0] == 3:  # colour, channels first -> channels last
        return rows.reshape(-1, *shape).transpose(0, 2, 3, 1)
    raise ValueError(
        "image_shape must be (height, width), (1, height, width) or (3, height, width); "
        f"got {tuple(image_shape)}."
    )


def _to_numpy(X) -> np.ndarray:
    return np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=float)


def _show_image(ax, image: np.ndarray, vmin: float, vmax: float) -> None:
    ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(estimator, X, image_shape: Sequence[int], n_images: int = 10):
    """A row of original images over a row of their reconstructions.

    Parameters
    ----------
    estimator : fitted skae estimator
        Anything with ``reconstruct(X)`` (every skae autoencoder), or else
        ``transform`` and ``inverse_transform``.
    X : array-like of shape (n_samples, n_features)
        Flattened images; the first ``n_images`` rows are drawn.
    image_shape : tuple of int
        Shape of one image: ``(height, width)``, or ``(channels, height,
        width)`` with 1 or 3 channels (as for ``architecture="conv"``).
    n_images : int, default=10
        Number of images (columns) to draw.

    Returns
    -------
    fig : matplotlib Figure
        Two rows of ``n_images`` Axes: originals on top, reconstructions below
        (clipped to the originals' range of values).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_reconstructions
    >>> X = load_digits().data[:200] / 16
    >>> ae = AutoencoderTransformer(n_components=8, max_epochs=2).fit(X)
    >>> fig = plot_reconstructions(ae, X, image_shape=(8, 8), n_images=5)
    >>> len(fig.axes)
    10
    """
    rows = _to_numpy(X)
    if rows.ndim != 2:
        raise ValueError(
            f"X must be 2-D (rows of flattened images); got shape {rows.shape}."
        )
    if not isinstance(n_images, int | np.integer) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer; got {n_images!r}.")
    rows = rows[:n_images]
    if hasattr(estimator, "reconstruct"):
        recon = estimator.reconstruct(rows)
    else:
        recon = estimator.inverse_transform(estimator.transform(rows))
    originals = _as_images(rows, image_shape)
    reconstructions = _as_images(np.asarray(recon, dtype=float), image_shape)
    # Both rows share the originals' intensity range; reconstructions that
    # overshoot it are clipped so that they are drawn on the same scale.
    vmin, vmax = float(originals.min()), float(originals.max())
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(0.9 * n + 0.4, 2.0), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.99, wspace=0.08, hspace=0.08)
    for j in range(n):
        _show_image(axes[0, j], originals[j], vmin, vmax)
        _show_image(axes[1, j], np.clip(reconstructions[j], vmin, vmax), vmin, vmax)
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("reconstructed")
    return fig


def plot_latent_space(estimator, X, y=None, ax=None):
    """Scatter of the 2-D codes of ``X``, coloured by ``y``.

    Parameters
    ----------
    estimator : fitted transformer with 2-D output
        For example an :class:`~skae.AutoencoderTransformer` or a VAE with
        ``n_components=2`` (or a :class:`~sklearn.pipeline.Pipeline` ending in
        one).
    X : array-like of shape (n_samples, n_features)
        Rows to encode.
    y : array-like of shape (n_samples,), default=None
        Labels used to colour the points: one colour and legend entry per class
        when there are at most 20 distinct values, a colour bar otherwise.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    ax : matplotlib Axes
        Holds one scatter collection per class (or a single one).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_latent_space
    >>> X, y = load_iris(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=2, max_epochs=2).fit(X)
    >>> ax = plot_latent_space(ae, X, y)
    >>> len(ax.collections)
    3
    """
    codes = np.asarray(estimator.transform(X), dtype=float)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(
            "plot_latent_space draws 2-D codes, but the estimator produced codes of "
            f"shape {codes.shape}; fit it with n_components=2."
        )
    ax = _new_axes(ax)
    names = None
    if hasattr(estimator, "get_feature_names_out"):
        try:
            names = list(estimator.get_feature_names_out())
        except Exception:  # names are cosmetic; fall back to defaults
            names = None
    if y is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=8, alpha=0.7)
    else:
        y = np.asarray(y)
        if len(y) != len(codes):
            raise ValueError(f"y has {len(y)} labels but X has {len(codes)} rows.")
        classes = np.unique(y)
        if len(classes) <= 20:
            cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for i, label in enumerate(classes):
                mask = y == label
                ax.scatter(
                    codes[mask, 0],
                    codes[mask, 1],
                    s=8,
                    alpha=0.7,
                    color=cmap(i),
                    label=str(label),
                )
            ax.legend(markerscale=2, fontsize="small", title="label")
        else:
            points = ax.scatter(codes[:, 0], codes[:, 1], c=y, s=8, alpha=0.7)
            ax.figure.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(names[0] if names else "code 0")
    ax.set_ylabel(names[1] if names else "code 1")
    ax.set_title("Latent space")
    return ax


def plot_vae_manifold(vae, image_shape: Sequence[int], n_per_side: int = 15):
    """Decode a regular grid of 2-D codes into one mosaic of images.

    The grid covers the central 90% of a standard normal in each direction:
    ``scipy.stats.norm.ppf(linspace(0.05, 0.95, n_per_side))``, which is where a
    VAE's prior puts its mass (the classic Keras VAE picture).

    Parameters
    ----------
    vae : fitted estimator with 2-D codes
        Typically a :class:`~skae.VAETransformer` with ``n_components=2``;
        anything with ``inverse_transform`` and ``n_components_ == 2`` works.
    image_shape : tuple of int
        Shape of one decoded image: ``(height, width)`` or ``(1, height, width)``.
    n_per_side : int, default=15
        Images per row and column of the grid.

    Returns
    -------
    fig : matplotlib Figure
        A single Axes showing the ``n_per_side x n_per_side`` mosaic; axis 0
        (horizontal) is the first code, axis 1 (vertical) the second.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_vae_manifold
    >>> X = load_digits().data[:200] / 16
    >>> ae = AutoencoderTransformer(n_components=2, max_epochs=2).fit(X)
    >>> fig = plot_vae_manifold(ae, image_shape=(8, 8), n_per_side=4)
    >>> fig.axes[0].get_images()[0].get_array().shape
    (32, 32)
    """
    from scipy.stats import norm

    if not isinstance(n_per_side, int | np.integer) or n_per_side < 1:
        raise ValueError(f"n_per_side must be a positive integer; got {n_per_side!r}.")
    n_components = getattr(vae, "n_components_", None)
    if n_components is None:
        raise ValueError(
            f"{type(vae).__name__} is not fitted (no n_components_); call fit first."
        )
    if n_components != 2:
        raise ValueError(
            "plot_vae_manifold needs 2-D codes; the model has "
            f"n_components_={n_components}."
        )
    grid = norm.ppf(np.linspace(0.05, 0.95, n_per_side))
    # Row r of the mosaic (top to bottom) has the second code decreasing, so
    # the picture reads like a plot with y upwards.
    z1, z2 = np.meshgrid(grid, grid[::-1])
    codes = np.column_stack([z1.ravel(), z2.ravel()])
    decoded = np.asarray(vae.inverse_transform(codes), dtype=float)
    images = _as_images(decoded, image_shape)
    if images.ndim != 3:
        raise ValueError("plot_vae_manifold draws grey images only (one channel).")
    h, w = images.shape[1:]
    mosaic = (
        images.reshape(n_per_side, n_per_side, h, w)
        .transpose(0, 2, 1, 3)
        .reshape(n_per_side * h, n_per_side * w)
    )
    fig, ax = plt.subplots(figsize=(6, 6))
    extent = (grid[0], grid[-1], grid[0], grid[-1]) if n_per_side > 1 else None
    ax.imshow(mosaic, cmap="gray_r", extent=extent)
    ax.set_xlabel("code 0")
    ax.set_ylabel("code 1")
    ax.set_title("Decoded latent grid")
    return fig


def _threshold(detector) -> float:
    offset = getattr(detector, "offset_", None)
    if offset is None:
        raise ValueError(
            f"{type(detector).__name__} has no offset_ (is it a fitted outlier "
            "detector?); plot_score_histogram needs its threshold."
        )
    return float(offset)


def plot_score_histogram(detector, X, y=None, ax=None, *, log_scale="auto"):
    """Histogram of ``score_samples`` with the detector's threshold as a vertical line.

    Parameters
    ----------
    detector : fitted outlier detector
        A :class:`~skae.AnomalyDetector`, or any detector following the
        scikit-learn convention: ``score_samples`` (higher = more normal) and a
        threshold ``offset_`` (rows scoring below it are outliers), such as
        :class:`~sklearn.ensemble.IsolationForest`.
    X : array-like of shape (n_samples, n_features)
        Rows to score.
    y : array-like of shape (n_samples,), default=None
        Optional ground truth, 1 (or True) for anomalies and 0 for normal rows;
        when given, the two groups get separate histograms.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.
    log_scale : bool or "auto", default="auto"
        Reconstruction errors are heavy-tailed: a few rows can score a hundred
        times worse than the rest and squash everything else into one bar.
        With ``log_scale=True`` the histogram shows ``-score_samples`` (the
        anomaly score, higher = more anomalous) on a logarithmic axis, and the
        threshold at ``-offset_``. ``"auto"`` does so when every score is
        negative and they span more than two orders of magnitude.

    Returns
    -------
    ax : matplotlib Axes
        The histogram(s) and one vertical line labelled ``"threshold ..."`` at
        ``detector.offset_`` (at ``-detector.offset_`` on a log scale).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skae.plotting import plot_score_histogram
    >>> X = np.random.RandomState(0).randn(200, 3)
    >>> forest = IsolationForest(random_state=0).fit(X)
    >>> ax = plot_score_histogram(forest, X)
    >>> float(ax.get_lines()[0].get_xdata()[0]) == float(forest.offset_)
    True
    """
    scores = np.asarray(detector.score_samples(X), dtype=float)
    threshold = _threshold(detector)
    n_flagged = int(np.sum(scores < threshold))
    if log_scale == "auto":
        magnitudes = -np.append(scores, threshold)
        log_scale = bool(
            np.all(magnitudes > 0) and magnitudes.max() > 100 * magnitudes.min()
        )
    elif not isinstance(log_scale, bool):
        raise ValueError(f"log_scale must be True, False or 'auto'; got {log_scale!r}.")
    if log_scale:
        if np.any(scores >= 0) or threshold >= 0:
            raise ValueError(
                "log_scale=True needs negative scores and threshold (error-based "
                "scores); use log_scale=False."
            )
        scores, threshold = -scores, -threshold
        values = np.append(scores, threshold)
        bins = np.geomspace(values.min(), values.max(), 41)
    else:
        bins = np.histogram_bin_edges(np.append(scores, threshold), bins=40)
    ax = _new_axes(ax)
    if y is None:
        ax.hist(scores, bins=bins, alpha=0.8, label="rows")
    else:
        y = np.asarray(y)
        if len(y) != len(scores):
            raise ValueError(f"y has {len(y)} labels but X has {len(scores)} rows.")
        anomalous = y.astype(bool)
        ax.hist(scores[~anomalous], bins=bins, alpha=0.6, label="normal")
        ax.hist(scores[anomalous], bins=bins, alpha=0.6, label="anomaly")
    ax.axvline(
        threshold,
        color="black",
        linestyle="--",
        label=f"threshold ({n_flagged} of {len(scores)} flagged)",
    )
    if log_scale:
        ax.set_xscale("log")
        ax.set_xlabel("-score_samples (higher = more anomalous; log scale)")
    else:
        ax.set_xlabel("score_samples (higher = more normal)")
    ax.set_ylabel("rows")
    ax.set_title("Anomaly scores")
    ax.legend(fontsize="small")
    return ax


def plot_feature_errors(detector, x_row: Any, ax=None):
    """Horizontal bars of one row's per-feature reconstruction errors, largest on top.

    Parameters
    ----------
    detector : fitted detector with ``explain``
        A fitted :class:`~skae.AnomalyDetector` (anything whose ``explain(X)``
        returns a DataFrame of per-feature errors, one column per feature).
    x_row : array-like of shape (n_features,) or (1, n_features)
        The row to explain: a 1-D array, a pandas Series, or a one-row
        DataFrame or 2-D array.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    ax : matplotlib Axes
        One bar per feature, labelled with the feature name, sorted so that the
        feature contributing most is at the top.
    """
    import pandas as pd

    if isinstance(x_row, pd.Series):
        x_row = x_row.to_frame().T
    elif not isinstance(x_row, pd.DataFrame):
        x_row = np.asarray(x_row)
        if x_row.ndim == 1:
            x_row = x_row.reshape(1, -1)
    if x_row.ndim != 2 or x_row.shape[0] != 1:
        raise ValueError(f"x_row must be a single row; got shape {x_row.shape}.")
    if not hasattr(detector, "explain"):
        raise TypeError(
            f"{type(detector).__name__} has no explain method; plot_feature_errors "
            "needs a fitted skae.AnomalyDetector."
        )
    errors = detector.explain(x_row)
    if isinstance(errors, pd.DataFrame):
        names = [str(c) for c in errors.columns]
        values = errors.to_numpy(dtype=float)[0]
    else:
        values = np.asarray(errors, dtype=float).reshape(-1)
        names = [f"x{i}" for i in range(len(values))]
    order = np.argsort(values)  # ascending: barh draws the first bar at the bottom
    ax = _new_axes(ax)
    ax.barh([names[i] for i in order], values[order])
    ax.set_xlabel("reconstruction error")
    ax.set_ylabel("feature")
    ax.set_title(f"Per-feature error (total {values.sum():.3g})")
    return ax

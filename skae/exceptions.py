"""Exceptions and warnings that skae raises, for callers who want to catch them."""

from __future__ import annotations

__all__ = ["TrainingDivergedError", "TrainingInterruptedWarning"]


class TrainingDivergedError(ValueError):
    """Training stopped because the loss or the weights became NaN or infinite.

    A subclass of :class:`ValueError`, like scikit-learn's own divergence error
    in :class:`~sklearn.linear_model.SGDRegressor`. The estimator is left as it
    was before ``fit`` (a previously fitted model stays usable).
    """


class TrainingInterruptedWarning(UserWarning):
    """``fit`` was interrupted (KeyboardInterrupt); the weights reached are kept."""

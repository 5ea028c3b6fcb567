"""Every public skae estimator, built small and fast, for the reliability tests.

The reliability tests run over the estimators found in ``skae.__all__`` rather
than a hand-made list, so that a new estimator is covered as soon as it is
exported. Each needs one row in ``FAST_PARAMS`` (tiny network, two epochs);
a missing row makes the tests fail with a message saying so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

import skae

TINY = dict(n_components=2, hidden_layer_sizes=(4,), max_epochs=2, batch_size=16)


def _detector_params() -> dict:
    # No inner random_state: the detector seeds its inner estimator from its own
    # random_state (an explicit inner random_state would be respected instead).
    return dict(estimator=skae.AutoencoderTransformer(**TINY))


# {class name: constructor parameters, or a callable returning them}
FAST_PARAMS = {
    "AutoencoderTransformer": dict(TINY),
    "DenoisingAutoencoder": dict(TINY),
    "VAETransformer": dict(TINY),
    "AnomalyDetector": _detector_params,
    "AutoencoderImputer": dict(TINY),
}

# Methods that take rows of the training width. inverse_transform takes codes.
ROW_METHODS = (
    "transform",
    "reconstruct",
    "denoise",
    "reconstruction_error",
    "score_samples",
    "score",
    "predict",
    "decision_function",
)


def public_estimator_classes() -> list[type]:
    classes = []
    for name in skae.__all__:
        obj = getattr(skae, name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            classes.append(obj)
    return classes


CLASSES = public_estimator_classes()
CLASS_IDS = [cls.__name__ for cls in CLASSES]


def make(cls: type, random_state=0, **params) -> BaseEstimator:
    """A fast instance of ``cls``; ``params`` go to the network-training estimator."""
    if cls.__name__ not in FAST_PARAMS:
        pytest.fail(
            f"{cls.__name__} is exported by skae but has no row in "
            "tests/_skae_estimators.py FAST_PARAMS; add fast constructor parameters."
        )
    base = FAST_PARAMS[cls.__name__]
    base = base() if callable(base) else dict(base)
    est = cls(**base)
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=random_state)
    return set_training_params(est, **params)


def set_training_params(est: BaseEstimator, **params) -> BaseEstimator:
    """Set ``params`` on ``est``, or on its inner ``estimator`` for a meta-estimator."""
    own = est.get_params(deep=False)
    for key, value in params.items():
        if key in own:
            est.set_params(**{key: value})
        elif "estimator" in own and own["estimator"] is not None:
            est.set_params(**{f"estimator__{key}": value})
        else:
            raise KeyError(f"{type(est).__name__} has no parameter {key!r}")
    return est


def row_methods(est) -> list[str]:
    return [m for m in ROW_METHODS if hasattr(est, m)]


def training_data(n_samples=40, n_features=4, seed=0) -> np.ndarray:
    """Smooth low-rank data in [0, 1] that every estimator and loss accepts."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(size=(n_samples, 2))
    mixing = rng.uniform(size=(2, n_features))
    return (latent @ mixing) / mixing.sum(axis=0)


_FITTED: dict[str, BaseEstimator] = {}


def fitted(cls: type) -> BaseEstimator:
    """One fitted instance per class, shared by tests that only read it."""
    if cls.__name__ not in _FITTED:
        _FITTED[cls.__name__] = make(cls).fit(training_data())
    return _FITTED[cls.__name__]


def check_output(est, method: str, X, out) -> None:
    """Assert ``out`` is a finite result of the right shape for ``method(X)``."""
    n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
    if method == "score":
        assert np.isscalar(out) and np.isfinite(out), out
        return
    if isinstance(out, pd.DataFrame):
        # A reconstruction in the original columns of a table with categorical
        # ones (skae._tabular): numeric columns finite, categories known.
        numeric = out.select_dtypes("number")
        assert np.isfinite(numeric.to_numpy()).all(), f"{method}: non-finite values"
        others = out.drop(columns=numeric.columns)
        assert not others.isna().to_numpy().any(), f"{method}: missing categories"
    else:
        out = np.asarray(out)
        assert np.isfinite(out).all(), f"{method} returned non-finite values"
    if method == "transform":
        # The code for autoencoders, the filled rows for an imputer.
        assert out.shape == (n, len(est.get_feature_names_out()))
    elif method in ("reconstruct", "denoise", "inverse_transform"):
        assert out.shape == (n, est.n_features_in_)
    else:
        assert out.shape == (n,)
    if method == "predict":
        assert set(np.unique(out)) <= {-1, 1}
    if method == "reconstruction_error":
        assert (out >= 0).all()

"""The rough edges a new user meets first: unfitted use, int layer sizes, the README."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _skae_estimators import CLASS_IDS, CLASSES, make, training_data
from sklearn.exceptions import NotFittedError

# Methods that need no fitted model, with why.
NO_FIT_NEEDED = {
    "fit",
    "fit_transform",
    "fit_predict",
    "partial_fit",
    "get_params",
    "set_params",
    "set_output",
    "get_metadata_routing",
    "save",  # an unfitted estimator saves and loads unfitted (test_persistence)
}


def _arguments(method: str, X: np.ndarray) -> tuple:
    """Valid arguments for ``method`` of a fitted estimator (so only fitting is missing)."""
    y = np.zeros(len(X), dtype=int)
    y[:3] = 1
    return {
        "inverse_transform": (np.zeros((3, 2)),),
        "sample": (3,),
        "get_feature_names_out": (),
        "set_threshold_from_contamination": (0.1,),
        "set_threshold_from_mad": (),
        "set_threshold_from_normal": (X,),
        "set_threshold_from_labels": (X, y),
    }.get(method, (X,))


def _public_methods(cls: type) -> list[str]:
    return sorted(
        name
        for name in dir(cls)
        if not name.startswith("_")
        and callable(getattr(cls, name))
        and not name.endswith("_request")  # metadata routing
    )


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_every_public_method_before_fit_raises_not_fitted_error(cls):
    # Like PCA: an unfitted estimator says so, whatever method is called.
    X = training_data()
    # Methods behind available_if (the imputer's inverse_transform without
    # add_indicator) are left out where the instance does not offer them.
    methods = [
        m for m in _public_methods(cls) if m not in NO_FIT_NEEDED and hasattr(make(cls), m)
    ]
    assert "score_samples" in methods  # the list is not empty by accident
    for method in methods:
        est = make(cls)
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(est, method)(*_arguments(method, X))
    # The same arguments work once fitted: only the fit was missing.
    fitted = make(cls).fit(X)
    for method in methods:
        getattr(fitted, method)(*_arguments(method, X))


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_an_int_hidden_layer_sizes_is_one_hidden_layer(cls):
    # MLPRegressor(hidden_layer_sizes=64) means one hidden layer of 64 units.
    X = training_data()
    as_int = make(cls, hidden_layer_sizes=5).fit(X)
    as_tuple = make(cls, hidden_layer_sizes=(5,)).fit(X)
    np.testing.assert_array_equal(as_int.score_samples(X), as_tuple.score_samples(X))
    net = getattr(as_int, "estimator_", as_int).net_.module_
    widths = [p.shape[0] for name, p in net.named_parameters() if name.endswith("bias")]
    assert 5 in widths
    for bad in (0, -3, (5, 0)):
        with pytest.raises(ValueError, match="hidden_layer_sizes"):
            make(cls, hidden_layer_sizes=bad).fit(X)


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    # Each block may use what the blocks above it defined, nothing else.
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.M | re.S)
    assert len(blocks) >= 2
    fast = "AutoencoderTransformer(max_epochs=1, "
    blocks = [
        b.replace("AutoencoderTransformer(n_components", fast + "n_components")
        for b in blocks
    ]
    assert any(fast in b for b in blocks), "README's quickstart changed: update this test"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "pipeline.safetensors").exists()

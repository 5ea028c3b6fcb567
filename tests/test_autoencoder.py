"""Behaviour of AutoencoderTransformer: learning, scikit-learn integration, bad input."""

import io
import pickle
import re

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from skorch.exceptions import DeviceWarning
from torch import nn

from skae import AutoencoderTransformer

FAST = dict(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=0.25, random_state=0)


def pca_error(X_train, X_eval, n_components):
    pca = PCA(n_components).fit(X_train)
    return np.mean((pca.inverse_transform(pca.transform(X_eval)) - X_eval) ** 2)


# -- learning -------------------------------------------------------------------------
def test_training_loss_falls(digits):
    X_train = digits[0]
    ae = AutoencoderTransformer(n_components=8, max_epochs=10, random_state=0).fit(X_train)
    losses = ae.history_[:, "train_loss"]
    assert len(losses) == ae.n_epochs_ == 10
    assert losses[-1] < 0.5 * losses[0]


def test_linear_autoencoder_matches_pca(digits):
    X_train = digits[0]
    ae = AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(),
        activation="identity",
        lr=1e-2,
        batch_size=128,
        max_epochs=100,
        random_state=0,
    ).fit(X_train)
    ratio = ae.reconstruction_error(X_train).mean() / pca_error(X_train, X_train, 8)
    # PCA is the optimum of the linear autoencoder's objective: within a few percent.
    assert 0.99 < ratio < 1.05


def test_nonlinear_autoencoder_beats_pca_on_held_out_digits(digits):
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(
        n_components=8, hidden_layer_sizes=(128,), max_epochs=40, random_state=0
    ).fit(X_train)
    assert ae.reconstruction_error(X_test).mean() < 0.85 * pca_error(X_train, X_test, 8)


def test_sparse_penalty_shrinks_code_activity(digits):
    X_train = digits[0]
    params = dict(n_components=32, hidden_layer_sizes=(64,), max_epochs=15, random_state=0)
    dense = AutoencoderTransformer(**params).fit(X_train)
    sparse = AutoencoderTransformer(activity_l1=1e-2, **params).fit(X_train)
    dense_activity = np.abs(dense.transform(X_train)).mean()
    sparse_activity = np.abs(sparse.transform(X_train)).mean()
    assert sparse_activity < 0.3 * dense_activity


@pytest.mark.parametrize(
    "params",
    [
        dict(activation="tanh", batch_norm=True, dropout=0.1),
        dict(activation="leaky_relu", optimizer="rmsprop", weight_decay=1e-4),
        dict(activation="gelu", hidden_layer_sizes=(32, 16)),
        dict(activation="elu", optimizer="sgd", lr=0.05),
        dict(activation="sigmoid", optimizer=torch.optim.AdamW),
        dict(loss="bce"),
    ],
)
def test_architecture_and_optimizer_options_train(digits, params):
    X_train = digits[0]
    ae = AutoencoderTransformer(**{**FAST, "max_epochs": 5, **params}).fit(X_train)
    losses = ae.history_[:, "train_loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_bce_output_is_a_probability(digits):
    ae = AutoencoderTransformer(loss="bce", **FAST).fit(digits[0])
    reconstruction = ae.reconstruct(digits[1])
    assert reconstruction.min() >= 0 and reconstruction.max() <= 1


def test_early_stopping_restores_best_epoch(digits):
    X_train = digits[0]
    ae = AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(256,),
        lr=3e-2,
        max_epochs=60,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X_train)
    valid = ae.history_[:, "valid_loss"]
    assert ae.stopped_early_ and ae.n_epochs_ < 60
    # The kept weights are those of the best epoch, not the last one.
    best = int(np.argmin(valid))
    assert best < ae.n_epochs_ - 1
    # Rebuild the validation loss the model has now: the best epoch's, not the last.
    assert min(valid) < valid[-1]


def test_validation_fraction_records_valid_loss(digits):
    ae = AutoencoderTransformer(validation_fraction=0.2, **FAST).fit(digits[0])
    assert len(ae.history_[:, "valid_loss"]) == 3
    assert not ae.stopped_early_


def test_custom_module_replaces_mlp(digits):
    class Tiny(nn.Module):
        def __init__(self, n_features, n_components):
            super().__init__()
            self.enc = nn.Linear(n_features, n_components)
            self.dec = nn.Linear(n_components, n_features)

        def encode(self, x):
            return torch.tanh(self.enc(x))

        def decode(self, z):
            return self.dec(z)

    X_train = digits[0]
    by_factory = AutoencoderTransformer(n_components=5, module=Tiny, **FAST).fit(X_train)
    assert by_factory.transform(X_train).shape == (len(X_train), 5)
    assert isinstance(by_factory.net_.module_, Tiny)

    instance = Tiny(64, 3)
    before = instance.enc.weight.detach().clone()
    by_instance = AutoencoderTransformer(module=instance, **FAST).fit(X_train)
    assert by_instance.n_components_ == 3
    assert torch.equal(instance.enc.weight, before)  # the parameter is not trained


# -- repeatability, dtypes, persistence -------------------------------------------------
def test_random_state_repeats_and_leaves_global_rng_alone(digits):
    X_train = digits[0]
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = AutoencoderTransformer(dropout=0.2, **FAST).fit(X_train).transform(X_train)
    assert torch.equal(torch.rand(3), expected_next)
    b = AutoencoderTransformer(dropout=0.2, **FAST).fit(X_train).transform(X_train)
    np.testing.assert_array_equal(a, b)
    c = (
        AutoencoderTransformer(**{**FAST, "random_state": 1})
        .fit(X_train)
        .transform(X_train)
    )
    assert not np.allclose(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(digits, dtype):
    X = digits[0].astype(dtype)
    ae = AutoencoderTransformer(**FAST).fit(X)
    assert ae.transform(X).dtype == dtype
    assert ae.inverse_transform(ae.transform(X)).dtype == dtype
    assert ae.reconstruction_error(X).dtype == np.float64


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip_is_exact(digits, dump):
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(batch_norm=True, **FAST).fit(X_train)
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(ae))
    else:
        buffer = io.BytesIO()
        joblib.dump(ae, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.transform(X_test), ae.transform(X_test))
    np.testing.assert_array_equal(loaded.reconstruct(X_test), ae.reconstruct(X_test))


def test_refit_gives_fresh_model(digits):
    X_train = digits[0]
    ae = AutoencoderTransformer(**FAST)
    first = ae.fit(X_train).transform(X_train)
    second = ae.fit(X_train).transform(X_train)
    np.testing.assert_array_equal(first, second)


# -- scikit-learn integration ----------------------------------------------------------
def test_pandas_in_and_out(digits):
    columns = [f"pixel_{i}" for i in range(64)]
    X = pd.DataFrame(digits[0], columns=columns)
    ae = AutoencoderTransformer(n_components=3, **{**FAST}).set_output(transform="pandas")
    out = ae.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"autoencodertransformer{i}" for i in range(3)]
    assert list(ae.feature_names_in_) == columns
    assert out.index.equals(X.index)
    with pytest.warns(UserWarning, match="feature names"):
        ae.transform(X.to_numpy())


def test_pipeline_in_grid_search_with_two_jobs(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            (
                "ae",
                AutoencoderTransformer(
                    hidden_layer_sizes=(32,), max_epochs=5, random_state=0
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(pipe, {"ae__n_components": [4, 16]}, cv=2, n_jobs=2)
    search.fit(X_train, y_train)
    assert search.best_params_["ae__n_components"] in (4, 16)
    assert search.score(X_test, y_test) > 0.7


def test_grid_search_without_labels_uses_reconstruction_score(digits):
    search = GridSearchCV(
        AutoencoderTransformer(hidden_layer_sizes=(32,), max_epochs=20, random_state=0),
        {"n_components": [2, 16]},
        cv=2,
    ).fit(digits[0])
    # Wider codes reconstruct better, and score() is higher-is-better.
    assert search.best_params_ == {"n_components": 16}


# -- devices ---------------------------------------------------------------------------
def test_absent_device_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        AutoencoderTransformer(device="cuda", **FAST).fit(digits[0])
    with pytest.raises(ValueError, match="not a valid torch device"):
        AutoencoderTransformer(device="gpu-please", **FAST).fit(digits[0])


def test_auto_device_falls_back_to_what_exists(digits):
    ae = AutoencoderTransformer(device="auto", **FAST).fit(digits[0])
    assert ae.transform(digits[1]).shape == (len(digits[1]), 2)


def test_model_saved_from_cuda_loads_on_cpu_only_machine(digits):
    if torch.cuda.is_available():
        pytest.skip("simulates a CPU-only machine")
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(**FAST).fit(X_train)
    expected = ae.transform(X_test)
    ae.net_.device = "cuda"  # what a model fitted with device="cuda" carries
    with pytest.warns(DeviceWarning, match="no CUDA devices are available"):
        loaded = pickle.loads(pickle.dumps(ae))
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X_test), expected)


@pytest.mark.cuda
def test_cuda_fit_transform_and_cpu_round_trip(digits):
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(device="cuda", **FAST).fit(X_train)
    assert next(ae.net_.module_.parameters()).is_cuda
    codes = ae.transform(X_test)
    loaded = pickle.loads(pickle.dumps(ae))
    np.testing.assert_allclose(loaded.transform(X_test), codes, rtol=1e-5, atol=1e-6)


# -- verbosity -------------------------------------------------------------------------
def test_verbose_prints_an_epoch_table_and_quiet_prints_nothing(digits, capsys):
    AutoencoderTransformer(**FAST).fit(digits[0])
    assert capsys.readouterr().out == ""
    AutoencoderTransformer(verbose=1, **FAST).fit(digits[0])
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


def test_verbose_two_adds_a_progress_bar(digits, capsys):
    AutoencoderTransformer(verbose=2, **FAST).fit(digits[0])
    captured = capsys.readouterr()
    assert "train_loss" in captured.out
    assert "it/s" in captured.out + captured.err  # tqdm's progress line


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, message",
    [
        # NaN marks a missing cell and is accepted (tests/test_missing.py).
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "infinity"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, -np.inf]]), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones((1, 3)), "1 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "could not convert string to float"),
        (np.ones((4, 0)), "0 feature"),
        (np.array([[1e39, 0.0], [0.0, 1.0]]), "float32"),
    ],
)
def test_bad_training_input_names_the_problem(X, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(**FAST).fit(X)


def test_wrong_width_at_transform(digits):
    ae = AutoencoderTransformer(**FAST).fit(digits[0])
    with pytest.raises(ValueError, match="has 10 features, but AutoencoderTransformer"):
        ae.transform(np.ones((3, 10)))
    with pytest.raises(ValueError, match=re.escape("codes of width 2")):
        ae.inverse_transform(np.ones((3, 5)))


def test_bce_needs_data_in_unit_interval():
    with pytest.raises(
        ValueError, match=re.escape("loss='bce' needs every value of X in [0, 1]")
    ):
        AutoencoderTransformer(loss="bce", **FAST).fit(np.arange(12.0).reshape(4, 3))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_components=0), "n_components"),
        (dict(hidden_layer_sizes=(8, -1)), "hidden_layer_sizes"),
        (dict(activation="swish"), "activation"),
        (dict(lr=0), "lr"),
    ],
)
def test_bad_parameters_raise_at_fit(digits, params, message):
    ae = AutoencoderTransformer(**{**FAST, **params})  # __init__ never validates
    with pytest.raises(ValueError, match=message):
        ae.fit(digits[0])


def test_failed_refit_keeps_the_previous_model(digits):
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(**FAST).fit(X_train)
    before = ae.transform(X_test)
    bad = X_train.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ae.fit(bad)
    np.testing.assert_array_equal(ae.transform(X_test), before)
    assert ae.n_features_in_ == 64


# -- groups: independent networks side by side ------------------------------------------


def test_groups_train_independent_networks_side_by_side():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(256, 3)) @ rng.normal(size=(3, 6))
    tiled = np.hstack([X, X[rng.permutation(len(X))]]).astype(np.float32)
    ae = AutoencoderTransformer(
        n_components=4,
        hidden_layer_sizes=(16,),
        groups=2,
        batch_norm=True,
        max_epochs=40,
        batch_size=32,
        random_state=0,
    ).fit(tiled)
    layers = [m for m in ae.net_.module_.modules() if hasattr(m, "groups")]
    assert layers and all(m.groups == 2 for m in layers)
    # Block 0 of the reconstruction depends on block 0 of the input alone.
    changed = tiled.copy()
    changed[:, 6:] += 3.0
    np.testing.assert_array_equal(
        ae.reconstruct(tiled)[:, :6], ae.reconstruct(changed)[:, :6]
    )
    assert not np.allclose(ae.reconstruct(tiled)[:, 6:], ae.reconstruct(changed)[:, 6:])
    # ...and is a real autoencoder of that block: better than predicting the mean.
    error = ((ae.reconstruct(tiled)[:, :6] - tiled[:, :6]) ** 2).mean()
    assert error < tiled[:, :6].var(axis=0).mean()
    assert ae.transform(tiled).shape == (256, 4)


def test_grouped_layers_equal_separate_linear_layers():
    from skae._modules import GroupedLinear

    torch.manual_seed(0)
    layer = GroupedLinear(6, 4, groups=2)
    x = torch.randn(5, 6)
    for g in range(2):
        block = x[:, 3 * g : 3 * g + 3] @ layer.weight[g] + layer.bias[g]
        torch.testing.assert_close(layer(x)[:, 2 * g : 2 * g + 2], block)


@pytest.mark.parametrize(
    "params, width, message",
    [
        (dict(groups=2, n_components=3), 6, r"n_components \(3\) is not a multiple of 2"),
        (dict(groups=2, n_components=2), 5, r"number of columns \(5\) is not"),
        (
            dict(groups=2, n_components=2, hidden_layer_sizes=(7, 6)),
            6,
            r"hidden width 7 \(7\) is not",
        ),
        (
            dict(groups=2, architecture="lstm", n_components=2),
            6,
            "groups=2 needs architecture='mlp'",
        ),
    ],
)
def test_groups_that_do_not_divide_the_layers_raise(params, width, message):
    X = np.random.RandomState(0).normal(size=(40, width))
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(max_epochs=1, **params).fit(X)

"""Architectures for every estimator: the registry, conv, LSTM, the MLP, shape errors."""

import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skae import AutoencoderTransformer, DenoisingAutoencoder, VAETransformer, load
from skae._architectures import (
    ArchitectureSpec,
    ConvEncoder,
    LSTMEncoder,
    MaskedInputMLP,
    MLPBody,
    MLPDecoder,
    VariationalAutoencoder,
    make_parts,
    migrate_mlp_state,
    register_architecture,
    unregister_architecture,
)
from skae._modules import mlp_stack

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAETransformer]
FAST = dict(max_epochs=2, batch_size=32, random_state=0)
CONV = dict(architecture="conv", input_shape=(1, 8, 8), hidden_layer_sizes=(4,))
LSTM = dict(architecture="lstm", input_shape=(8, 8), hidden_layer_sizes=(8,))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=0.25, random_state=0)


def noisy_sine_waves(n_samples, n_steps, rng):
    t = np.arange(n_steps)
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1))
    frequency = rng.uniform(0.3, 0.6, size=(n_samples, 1))
    return np.sin(frequency * t + phase) + 0.1 * rng.standard_normal((n_samples, n_steps))


# -- they learn ---------------------------------------------------------------------------
def test_conv_autoencoder_beats_pca_on_digits(digits):
    X_train, X_test = digits[0], digits[1]
    ae = AutoencoderTransformer(
        n_components=8,
        architecture="conv",
        input_shape=(1, 8, 8),
        hidden_layer_sizes=(16,),
        lr=3e-3,
        batch_size=32,
        max_epochs=15,
        random_state=0,
    ).fit(X_train)
    pca = PCA(8).fit(X_train)
    pca_error = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
    assert ae.reconstruction_error(X_test).mean() < 0.9 * pca_error
    assert isinstance(ae.net_.module_.body, ConvEncoder)


def test_lstm_autoencoder_reconstructs_noisy_sine_waves(digits):
    rng = np.random.default_rng(0)
    X_train, X_test = noisy_sine_waves(400, 24, rng), noisy_sine_waves(100, 24, rng)
    ae = AutoencoderTransformer(
        n_components=4,
        architecture="lstm",
        input_shape=(24, 1),
        hidden_layer_sizes=(32,),
        lr=1e-2,
        batch_size=32,
        max_epochs=20,
        random_state=0,
    ).fit(X_train)
    mean_error = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    assert ae.reconstruction_error(X_test).mean() < 0.3 * mean_error
    assert isinstance(ae.net_.module_.body, LSTMEncoder)


# -- every estimator, every architecture --------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("arch", [CONV, LSTM], ids=["conv", "lstm"])
def test_architecture_fits_pickles_and_repeats(digits, Estimator, arch):
    X_train, X_test = digits[0][:300], digits[1][:50]
    est = Estimator(n_components=3, **arch, **FAST).fit(X_train)
    assert np.all(np.isfinite(est.history_[:, "train_loss"]))
    codes = est.transform(X_test)
    assert codes.shape == (50, 3)
    assert est.inverse_transform(codes).shape == (50, 64)
    assert est.input_shape_ == arch["input_shape"]
    again = Estimator(n_components=3, **arch, **FAST).fit(X_train)
    np.testing.assert_array_equal(again.transform(X_test), codes)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(X_test), codes)


@pytest.mark.parametrize(
    "input_shape", [(1, 28, 28), (3, 7, 5), (2, 1, 9)], ids=["28x28", "rgb-odd", "strip"]
)
def test_conv_handles_image_sizes(input_shape):
    n_features = int(np.prod(input_shape))
    X = np.random.default_rng(0).uniform(size=(40, n_features))
    ae = AutoencoderTransformer(
        n_components=4, architecture="conv", input_shape=input_shape,
        hidden_layer_sizes=(4, 8, 8), max_epochs=1, batch_size=16, random_state=0,
    ).fit(X)  # fmt: skip
    assert ae.reconstruct(X).shape == X.shape
    assert ae.transform(X).shape == (40, 4)


def test_input_shape_may_infer_one_side():
    X = np.random.default_rng(0).uniform(size=(30, 12))
    ae = AutoencoderTransformer(architecture="lstm", input_shape=(-1, 3), **FAST).fit(X)
    assert ae.input_shape_ == (4, 3)
    univariate = AutoencoderTransformer(architecture="lstm", **FAST).fit(X)
    assert univariate.input_shape_ == (12, 1)
    mlp = AutoencoderTransformer(**FAST).fit(X)
    assert mlp.input_shape_ is None


@pytest.mark.parametrize("Estimator", [DenoisingAutoencoder, VAETransformer])
def test_conv_estimators_in_a_grid_searched_pipeline(digits, Estimator):
    X_train, X_test, y_train, y_test = (part[:400] for part in digits)
    pipe = Pipeline(
        [("ae", Estimator(n_components=4, **CONV, **FAST)), ("clf", LogisticRegression())]
    )
    search = GridSearchCV(pipe, {"ae__n_components": [2, 4]}, cv=2).fit(X_train, y_train)
    assert search.best_params_["ae__n_components"] in (2, 4)
    assert search.predict(X_test).shape == y_test.shape


@pytest.mark.cuda
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("arch", [CONV, LSTM], ids=["conv", "lstm"])
def test_cuda_architectures(digits, Estimator, arch):
    est = Estimator(n_components=3, device="cuda", **arch, **FAST).fit(digits[0])
    assert next(est.net_.module_.parameters()).is_cuda
    cpu = pickle.loads(pickle.dumps(est))
    assert cpu.transform(digits[1]).shape == (len(digits[1]), 3)


# -- wrong shapes ------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params, n_features, message",
    [
        (CONV, 60, "input_shape=(1, 8, 8) expects rows of 64 values (1 x 8 x 8), but X "
                   "has 60 features."),
        (LSTM, 30, "input_shape=(8, 8) expects rows of 64 values (8 x 8), but X has 30 "
                   "features."),
        ({**LSTM, "input_shape": (-1, 4)}, 30,
         "input_shape=(-1, 4) needs a row width divisible by 4, but X has 30 features."),
        ({"input_shape": (5, 5)}, 30, "expects rows of 25 values (5 x 5), but X has 30"),
        ({**CONV, "input_shape": (8, 8)}, 64, "needs input_shape=(channels, height, width) "
                                              "with 3 entries; got (8, 8)"),
        ({**CONV, "input_shape": None}, 64, "architecture='conv' needs input_shape="),
        ({**CONV, "input_shape": (1, 0, 64)}, 64, "positive integers"),
        ({**LSTM, "hidden_layer_sizes": ()}, 64, "needs at least one entry in "
                                                 "hidden_layer_sizes (the LSTM units"),
        ({"architecture": "transformer"}, 64, "architecture"),
    ],
)  # fmt: skip
def test_wrong_shapes_name_expected_and_given_sizes(Estimator, params, n_features, message):
    X = np.random.default_rng(0).uniform(size=(20, n_features))
    with pytest.raises(ValueError, match=re.escape(message)):
        Estimator(**{**FAST, **params}).fit(X)


def test_wrong_width_after_fit_names_both_sizes(digits):
    ae = AutoencoderTransformer(**CONV, **FAST).fit(digits[0][:100])
    with pytest.raises(ValueError, match="X has 60 features, but AutoencoderTransformer is "
                                         "expecting 64 features"):  # fmt: skip
        ae.transform(np.ones((3, 60)))


# -- the registry: an architecture is added in one place ---------------------------------
class ShallowSpec(ArchitectureSpec):
    """Test-only: at most one tanh hidden layer, and a declared 1-D input_shape."""

    name = "test-shallow"
    units = "tanh units"
    shape = "(n_features,)"

    def build(
        self,
        n_features,
        n_components,
        *,
        hidden_layer_sizes,
        output_activation,
        dropout,
        batch_norm,
        input_shape=None,
        activation=None,
        groups=1,
    ):
        sizes = hidden_layer_sizes[:1]
        body = MLPBody(n_features, sizes, "tanh")
        return body, MLPDecoder(n_features, n_components, sizes, "tanh", output_activation)


@pytest.fixture
def shallow():
    spec = register_architecture(ShallowSpec())
    yield spec
    unregister_architecture(spec.name)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_registered_architecture_is_usable_by_name(shallow, digits, Estimator, tmp_path):
    X_train = digits[0]
    est = Estimator(
        n_components=3, architecture="test-shallow", hidden_layer_sizes=(8, 99), **FAST
    ).fit(X_train)
    assert isinstance(est.net_.module_.body.layers[1], nn.Tanh)
    assert est.net_.module_.body.out_features == 8  # one layer: the spec's choice
    assert est.transform(X_train).shape == (len(X_train), 3)
    assert est.input_shape_ is None
    est.save(tmp_path / "m.skae")
    np.testing.assert_array_equal(
        load(tmp_path / "m.skae").transform(X_train), est.transform(X_train)
    )
    # The spec's own checks, with the messages every architecture uses.
    with pytest.raises(
        ValueError,
        match=re.escape(
            "architecture='test-shallow' needs at least one entry in hidden_layer_sizes "
            "(the tanh units of each layer)"
        ),
    ):
        Estimator(architecture="test-shallow", hidden_layer_sizes=(), **FAST).fit(X_train)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "architecture='test-shallow' needs input_shape=(n_features,) with 1 entries"
        ),
    ):
        Estimator(architecture="test-shallow", input_shape=(8, 8), **FAST).fit(X_train)
    assert Estimator(architecture="test-shallow", input_shape=(-1,), **FAST).fit(
        X_train
    ).input_shape_ == (64,)


def test_groups_are_refused_by_an_architecture_without_them(shallow, digits):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "groups=2 needs architecture='mlp'; got architecture='test-shallow'."
        ),
    ):
        AutoencoderTransformer(architecture="test-shallow", groups=2, **FAST).fit(digits[0])


def test_an_unregistered_architecture_is_refused(digits):
    register_architecture(ShallowSpec())
    unregister_architecture("test-shallow")
    with pytest.raises(InvalidParameterError, match="'architecture' parameter"):
        AutoencoderTransformer(architecture="test-shallow", **FAST).fit(digits[0])
    with pytest.raises(TypeError, match="ArchitectureSpec with a name"):
        register_architecture(ArchitectureSpec())


# -- one MLP under the plain and the variational network ----------------------------------
def test_the_variational_mlp_takes_groups():
    torch.manual_seed(0)
    body, decoder = make_parts(
        "mlp", 6, 4, input_shape=None, hidden_layer_sizes=(8,), groups=2
    )
    vae = VariationalAutoencoder(body, 4, decoder).eval()
    x = torch.randn(5, 6)
    changed = x.clone()
    changed[:, 3:] += 1.0  # the second block's columns only
    with torch.no_grad():
        (mean, log_var), (mean2, log_var2) = (
            vae.encode_distribution(x),
            vae.encode_distribution(changed),
        )
        torch.testing.assert_close(mean[:, :2], mean2[:, :2])  # block 0's code
        torch.testing.assert_close(log_var[:, :2], log_var2[:, :2])
        assert not torch.allclose(mean[:, 2:], mean2[:, 2:])
        z = torch.randn(5, 4)
        z2 = z.clone()
        z2[:, 2:] += 1.0
        torch.testing.assert_close(vae.decode(z)[:, :3], vae.decode(z2)[:, :3])
        assert not torch.allclose(vae.decode(z)[:, 3:], vae.decode(z2)[:, 3:])


def _old_mlp_layout(n_features, n_components, sizes, output_activation):
    """The plain MLP's layout before it became an EncoderDecoder: two flat Sequentials."""
    old = nn.Module()
    widths = [n_features, *sizes, n_components]
    common = dict(activation="relu", batch_norm=True)
    old.encoder = mlp_stack(widths, **common)
    old.decoder = mlp_stack(widths[::-1], last_activation=output_activation, **common)
    return old


@pytest.mark.parametrize("with_missing", [False, True], ids=["dense", "missing-cells"])
def test_files_with_the_old_mlp_layer_names_still_load(
    digits, tmp_path, monkeypatch, with_missing
):
    X = digits[0][:120].copy()
    if with_missing:
        X[::5, 7] = np.nan  # the network is wrapped: keys start with "inner."
    ae = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(8, 5), batch_norm=True, loss="bce", **FAST
    ).fit(X)
    new_state = ae.net_.module_.state_dict()
    prefix = "inner." if with_missing else ""
    old_keys = [prefix + k for k in _old_mlp_layout(64, 3, (8, 5), "sigmoid").state_dict()]
    mlp_keys = [
        k
        for k in new_state
        if k.startswith(prefix)
        and k.removeprefix(prefix).split(".")[0] in ("body", "to_code", "decoder")
    ]
    # Same layers in the same order: the old file holds these tensors under old names.
    assert [new_state[k].shape for k in mlp_keys] == [
        t.shape for t in _old_mlp_layout(64, 3, (8, 5), "sigmoid").state_dict().values()
    ]
    old_state = {k: v for k, v in new_state.items() if k not in mlp_keys}
    renamed = zip(old_keys, mlp_keys, strict=True)
    old_state.update({old: new_state[new] for old, new in renamed})
    assert any(k.startswith(prefix + "encoder.6.") for k in old_state)  # the code layer

    original = type(ae)._get_persist_state

    def as_saved_by_skae_0_1(self):
        state = original(self)
        state["net_"] = {"module_state": old_state}
        return state

    monkeypatch.setattr(type(ae), "_get_persist_state", as_saved_by_skae_0_1)
    ae.save(tmp_path / "old.skae")
    monkeypatch.undo()
    loaded = load(tmp_path / "old.skae")
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    np.testing.assert_array_equal(
        loaded.inverse_transform(ae.transform(X)), ae.inverse_transform(ae.transform(X))
    )


def test_the_imputers_old_layer_names_load_and_compute_as_before():
    torch.manual_seed(0)
    old = _old_mlp_layout(2 * 4, 3, (5,), None)  # it read [filled row, indicator]
    old.decoder = mlp_stack([3, 5, 4], activation="relu", batch_norm=True)
    net = MaskedInputMLP(4, 3, (5,), batch_norm=True)
    net.load_state_dict(migrate_mlp_state(old.state_dict(), net), strict=True)
    x = torch.randn(6, 4)
    x[0, 1] = x[3, 2] = float("nan")
    missing = torch.isnan(x)
    as_before = torch.cat([torch.where(missing, 0.0, x), missing.float()], dim=1)
    with torch.no_grad():
        expected = old.eval().decoder(old.encoder(as_before))
        torch.testing.assert_close(net.eval()(x), expected, rtol=0, atol=0)

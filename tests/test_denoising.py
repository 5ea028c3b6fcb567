"""DenoisingAutoencoder: corruption in training only, denoising, integration."""

import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from torch import nn

from skae import AutoencoderTransformer, DenoisingAutoencoder
from skae._nets import corrupt

FAST = dict(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=0.25, random_state=0)


# -- the point of a denoiser --------------------------------------------------------------
def test_denoiser_beats_clean_autoencoder_on_noisy_held_out_digits(digits):
    X_train, X_test = digits[0], digits[1]
    rng = np.random.default_rng(0)
    noisy = np.clip(X_test + 0.5 * rng.standard_normal(X_test.shape), 0, 1)
    params = dict(n_components=16, hidden_layer_sizes=(64,), max_epochs=20, lr=3e-3)
    dae = DenoisingAutoencoder(
        noise_level=0.5, value_range=(0, 1), random_state=0, **params
    )
    dae.fit(X_train)
    plain = AutoencoderTransformer(random_state=0, **params).fit(X_train)
    dae_error = np.mean((dae.denoise(noisy) - X_test) ** 2)
    plain_error = np.mean((plain.reconstruct(noisy) - X_test) ** 2)
    assert dae_error < 0.8 * plain_error
    # ... and it does remove noise: far closer to the clean digits than its input.
    assert dae_error < 0.5 * np.mean((noisy - X_test) ** 2)


# -- where the noise goes -----------------------------------------------------------------
class Recorder(nn.Module):
    """Linear autoencoder that keeps every input it sees while training."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.enc = nn.Linear(n_features, n_components)
        self.dec = nn.Linear(n_components, n_features)
        self.seen_training, self.seen_eval = [], []

    def encode(self, x):
        (self.seen_training if self.training else self.seen_eval).append(x.detach().clone())
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def test_noise_is_fresh_per_batch_in_training_and_absent_at_inference():
    X = np.ones((64, 10))
    dae = DenoisingAutoencoder(
        noise="mask", noise_level=0.3, module=Recorder, max_epochs=2, batch_size=32,
        random_state=0,
    ).fit(X)  # fmt: skip
    seen = dae.net_.module_.seen_training
    assert len(seen) == 4  # 2 epochs x 2 batches
    for batch in seen:
        assert set(torch.unique(batch).tolist()) == {0.0, 1.0}
        assert 0.2 < (batch == 0).float().mean() < 0.4  # about 30% masked
    # Rows are identical, so only fresh draws can make the masks differ.
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], seen[2])
    module = dae.net_.module_
    module.seen_eval.clear()
    dae.transform(X)
    dae.denoise(X)
    assert all(torch.equal(x, torch.ones_like(x)) for x in module.seen_eval)


def test_y_is_ignored(digits):
    X_train, X_test, y_train = digits[0], digits[1], digits[2]
    with_y = DenoisingAutoencoder(**FAST).fit(X_train, y_train)
    without_y = DenoisingAutoencoder(**FAST).fit(X_train)
    np.testing.assert_array_equal(with_y.transform(X_test), without_y.transform(X_test))


@pytest.mark.parametrize(
    "kind, level, value_range",
    [("gaussian", 0.5, None), ("gaussian", 0.5, (0.0, 1.0)), ("mask", 0.25, None),
     ("salt_pepper", 0.2, None), ("salt_pepper", 0.2, (-1.0, 2.0))],
)  # fmt: skip
def test_corrupt_draws_the_declared_noise(kind, level, value_range):
    torch.manual_seed(0)
    x = torch.full((2000, 5), 0.5)
    noisy = corrupt(x, kind, level, value_range)
    changed = noisy != x
    if kind == "gaussian":
        if value_range is None:  # (clipping shrinks the spread)
            assert (noisy - x).std().item() == pytest.approx(level, rel=0.05)
        assert changed.float().mean() > 0.99
    else:
        assert changed.float().mean().item() == pytest.approx(level, abs=0.02)
        if kind == "mask":
            assert set(noisy[changed].unique().tolist()) == {0.0}
        else:
            low, high = value_range or (0.0, 1.0)
            values = noisy[changed]
            assert set(values.unique().tolist()) == {low, high}
            assert (values == low).float().mean().item() == pytest.approx(0.5, abs=0.05)
    if value_range is not None:
        assert noisy.min() >= value_range[0] and noisy.max() <= value_range[1]
    assert not torch.equal(noisy, corrupt(x, kind, level, value_range))  # fresh every call


@pytest.mark.parametrize("noise", ["gaussian", "mask", "salt_pepper"])
def test_every_noise_kind_trains(digits, noise):
    dae = DenoisingAutoencoder(noise=noise, noise_level=0.2, value_range=(0, 1), **FAST)
    losses = dae.fit(digits[0]).history_[:, "train_loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


# -- scikit-learn integration -------------------------------------------------------------
def test_grid_search_over_noise_in_a_pipeline(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("dae", DenoisingAutoencoder(n_components=8, **FAST)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(pipe, {"dae__noise_level": [0.1, 0.3]}, cv=2).fit(
        X_train, y_train
    )
    assert search.best_params_["dae__noise_level"] in (0.1, 0.3)
    assert search.score(X_test, y_test) > 0.5


def test_pickle_and_random_state(digits):
    X_train, X_test = digits[0], digits[1]
    a = DenoisingAutoencoder(**FAST).fit(X_train)
    b = DenoisingAutoencoder(**FAST).fit(X_train)
    np.testing.assert_array_equal(a.transform(X_test), b.transform(X_test))
    loaded = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(loaded.denoise(X_test), a.denoise(X_test))
    other = DenoisingAutoencoder(**{**FAST, "random_state": 1}).fit(X_train)
    assert not np.allclose(other.transform(X_test), a.transform(X_test))


@pytest.mark.cuda
def test_cuda_denoiser(digits):
    dae = DenoisingAutoencoder(device="cuda", **FAST).fit(digits[0])
    assert next(dae.net_.module_.parameters()).is_cuda
    assert dae.denoise(digits[1]).shape == digits[1].shape


# -- bad parameters -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, message",
    [
        (dict(noise="blur"), "noise"),
        (dict(noise_level=-0.1), "noise_level"),
        (dict(noise="mask", noise_level=1.5), "must be in [0, 1]; got 1.5"),
        (
            dict(value_range=(1.0, 0.0)),
            "value_range must be None or a pair (low, high) with low < high",
        ),
        (dict(value_range=(0.0,)), "value_range must be None or a pair"),
    ],
)
def test_bad_noise_parameters_raise_at_fit(digits, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DenoisingAutoencoder(**{**FAST, **params}).fit(digits[0])


# -- clip, the former name of value_range (deprecated in 0.2, removed in 0.4) ------------
def test_clip_is_a_deprecated_alias_of_value_range(digits):
    X = digits[0][:200]
    params = dict(noise="salt_pepper", noise_level=0.3, **FAST)
    new = DenoisingAutoencoder(value_range=(-1.0, 2.0), **params).fit(X)
    old = DenoisingAutoencoder(clip=(-1.0, 2.0), **params)
    with pytest.warns(FutureWarning, match=r"clip .*renamed value_range.*removed in 0\.4"):
        old.fit(X)
    # The old value is used: the same corruption, so the same network.
    assert old.net_.value_range == new.net_.value_range == (-1.0, 2.0)
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    # The parameters stay as given (get_params, clone, set_params).
    assert old.get_params()["clip"] == (-1.0, 2.0) and old.value_range is None
    assert clone(old).get_params()["clip"] == (-1.0, 2.0)
    assert new.get_params()["clip"] == "deprecated" and "clip" not in repr(new)
    with pytest.warns(FutureWarning, match="value_range"):
        DenoisingAutoencoder(**params).set_params(clip=(0, 1)).partial_fit(X)


def test_the_warning_points_at_the_callers_line(digits):
    dae = DenoisingAutoencoder(clip=(0, 1), **FAST)
    with pytest.warns(FutureWarning) as record:
        dae.fit(digits[0][:100])
    assert [w.filename for w in record] == [__file__]


@pytest.mark.parametrize("clip", [(0, 1), None])
def test_clip_and_value_range_together_are_an_error(digits, clip):
    dae = DenoisingAutoencoder(clip=clip, value_range=(0, 1), **FAST)
    with pytest.raises(
        ValueError, match="clip was renamed value_range; give value_range only"
    ):
        dae.fit(digits[0])
    assert not hasattr(dae, "net_")


def test_bad_clip_is_refused_under_its_own_name(digits):
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=re.escape("clip must be None or a pair")),
    ):
        DenoisingAutoencoder(clip=(1.0, 0.0), **FAST).fit(digits[0])
    with pytest.raises(ValueError, match="clip"):  # scikit-learn's constraint check
        DenoisingAutoencoder(clip="yes", **FAST).fit(digits[0])

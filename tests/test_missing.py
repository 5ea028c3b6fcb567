"""Missing cells (NaN, pd.NA) in the autoencoder estimators: masked loss and scores."""

import numpy as np
import pandas as pd
import pytest
import torch

from skae import AutoencoderTransformer, DenoisingAutoencoder, VAETransformer
from skae._missing import (
    MissingValueInput,
    observed_mean,
    observed_row_mean,
    observed_row_sum,
)

FAST = dict(n_components=2, hidden_layer_sizes=(8,), max_epochs=3, batch_size=32)
ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAETransformer]
IDS = [cls.__name__ for cls in ESTIMATORS]


def low_rank(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.05 * rng.normal(
        size=(n, d)
    )


def with_missing(X, rate=0.2, seed=1):
    X = X.copy()
    X[np.random.default_rng(seed).uniform(size=X.shape) < rate] = np.nan
    return X


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_twenty_percent_missing_trains_and_scores_without_nan(cls):
    X = with_missing(low_rank())
    assert 0.15 < np.isnan(X).mean() < 0.25
    est = cls(random_state=0, **FAST).fit(X)
    assert est.n_features_in_ == X.shape[1]
    assert est.missing_indicator_ and isinstance(est.net_.module_, MissingValueInput)
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    for method in ("transform", "reconstruct", "score_samples", "reconstruction_error"):
        out = getattr(est, method)(X)
        assert np.isfinite(out).all(), method
        assert out.shape[0] == X.shape[0]
    assert np.isfinite(est.score(X))
    codes = est.transform(X)
    assert est.inverse_transform(codes).shape == X.shape


def test_fill_values_are_the_observed_column_means():
    X = with_missing(low_rank())
    est = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    np.testing.assert_allclose(est.fill_values_, np.nanmean(X, axis=0), rtol=1e-5)
    complete = AutoencoderTransformer(random_state=0, **FAST).fit(low_rank())
    assert not complete.missing_indicator_
    np.testing.assert_allclose(complete.fill_values_, low_rank().mean(axis=0), rtol=1e-5)


def test_errors_are_means_over_the_observed_cells():
    X = with_missing(low_rank())
    est = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    squared = (X - est.reconstruct(X).astype(np.float64)) ** 2
    np.testing.assert_allclose(
        est.reconstruction_error(X), np.nanmean(squared, axis=1), rtol=1e-5
    )


def test_training_loss_is_the_mean_over_the_observed_cells():
    X = with_missing(low_rank()).astype(np.float32)
    est = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    net = est.net_
    batch = torch.from_numpy(X[:50])
    with torch.no_grad():
        y_pred = net.infer(batch)
        loss = float(net.get_loss(y_pred, batch))
    reconstruction = y_pred[0].numpy()
    expected = np.nanmean((reconstruction - X[:50]) ** 2)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # The gradient never reaches through a missing cell's target.
    recon = y_pred[0].clone().requires_grad_(True)
    net.get_loss((recon, y_pred[1]), batch).backward()
    assert (recon.grad.numpy()[np.isnan(X[:50])] == 0).all()


def test_a_row_with_no_observed_cell_gets_a_defined_score():
    X = with_missing(low_rank())
    X[0] = np.nan
    for cls in ESTIMATORS:
        est = cls(random_state=0, **FAST).fit(X)
        scores = est.score_samples(X)
        assert np.isfinite(scores).all()
        if cls is not VAETransformer:
            assert est.reconstruction_error(X)[0] == 0.0


def test_a_missing_cell_is_not_an_anomaly_by_itself():
    X = low_rank(n=600)
    est = AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(16,), max_epochs=30, random_state=0
    ).fit(with_missing(X, 0.2))
    test = low_rank(n=200, seed=5)
    complete = est.reconstruction_error(test)
    holed = est.reconstruction_error(with_missing(test, 0.3, seed=7))
    # Hiding cells leaves the typical error of a row about where it was...
    assert holed.mean() < 2 * complete.mean()
    # ... while one observed wrong value makes the row stand out.
    odd = test.copy()
    odd[:, 0] += 10 * test.std()
    assert np.median(est.reconstruction_error(odd)) > 5 * np.median(holed)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_an_all_missing_column(cls):
    X = with_missing(low_rank())
    X[:, 2] = np.nan
    with pytest.warns(UserWarning, match="'x2' have no observed value"):
        est = cls(random_state=0, **FAST).fit(X)
    assert est.fill_values_[2] == 0.0
    assert np.isfinite(est.score_samples(X)).all()
    assert np.isfinite(est.transform(X)).all()


def test_scoring_nan_on_a_model_fitted_on_complete_rows_uses_the_fill_values():
    X = low_rank()
    est = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    holed = with_missing(X[:20])
    filled = np.where(np.isnan(holed), est.fill_values_, holed)
    np.testing.assert_allclose(est.transform(holed), est.transform(filled), rtol=1e-6)
    assert np.isfinite(est.score_samples(holed)).all()


def test_partial_fit_switches_the_mask_on_when_a_chunk_has_missing_cells():
    X = low_rank()
    est = AutoencoderTransformer(random_state=0, **FAST)
    est.partial_fit(X[:150])
    assert not est.net_.masked_loss
    est.partial_fit(with_missing(X[150:]))
    assert est.net_.masked_loss
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    assert np.isfinite(est.score_samples(with_missing(X))).all()


def test_pandas_na_in_nullable_and_object_frames():
    X = with_missing(low_rank(n=60, d=3))
    expected = AutoencoderTransformer(random_state=0, **FAST).fit(X).transform(X)
    nullable = pd.DataFrame(X, columns=list("abc")).astype("Float64")
    assert nullable.isna().to_numpy().sum() == np.isnan(X).sum()
    objects = pd.DataFrame(
        {c: [pd.NA if np.isnan(v) else v for v in X[:, j]] for j, c in enumerate("abc")},
        dtype=object,
    )
    for frame in (nullable, objects):
        est = AutoencoderTransformer(random_state=0, **FAST).fit(frame)
        np.testing.assert_allclose(est.transform(frame), expected, rtol=1e-6)


def test_infinity_is_still_refused():
    X = with_missing(low_rank())
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        AutoencoderTransformer(**FAST).fit(X)


def test_bce_range_check_skips_missing_cells():
    X = with_missing(np.random.default_rng(0).uniform(size=(50, 4)))
    AutoencoderTransformer(loss="bce", random_state=0, **FAST).fit(X)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        AutoencoderTransformer(loss="bce", **FAST).fit(X * 2)


def test_memmap_with_missing_cells_matches_in_memory(memmap_of):
    X = with_missing(low_rank()).astype(np.float32)
    lazy = memmap_of(X)
    from_disk = AutoencoderTransformer(random_state=0, **FAST).fit(lazy)
    in_memory = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    np.testing.assert_allclose(from_disk.fill_values_, in_memory.fill_values_, rtol=1e-6)
    assert from_disk.missing_indicator_
    np.testing.assert_allclose(
        from_disk.transform(lazy), in_memory.transform(X), rtol=1e-5, atol=1e-6
    )
    assert np.isfinite(from_disk.score_samples(lazy)).all()


def test_saved_model_with_the_missing_input_round_trips(tmp_path):
    import skae

    X = with_missing(low_rank())
    est = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    est.save(tmp_path / "m.safetensors")
    loaded = skae.load(tmp_path / "m.safetensors")
    assert isinstance(loaded.net_.module_, MissingValueInput)
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))


def test_masked_reductions():
    error = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[True, False, True], [False, False, False]])
    np.testing.assert_allclose(observed_row_mean(error, mask), [2.0, 0.0])
    np.testing.assert_allclose(observed_row_sum(error, mask), [6.0, 0.0])
    np.testing.assert_allclose(observed_mean(error, mask), 2.0)
    np.testing.assert_allclose(observed_row_sum(error, None), [6.0, 15.0])

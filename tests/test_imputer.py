"""AutoencoderImputer: the imputer API, filled by a masked denoising autoencoder."""

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skae import AutoencoderImputer

FAST = dict(hidden_layer_sizes=(16,), max_epochs=5, batch_size=32, random_state=0)


def low_rank(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.05 * rng.normal(
        size=(n, d)
    )


def remove(X, rate=0.2, seed=1):
    X = X.copy()
    mask = np.random.default_rng(seed).uniform(size=X.shape) < rate
    X[mask] = np.nan
    return X, mask


def test_fills_only_the_missing_cells():
    X_missing, mask = remove(low_rank())
    out = AutoencoderImputer(**FAST).fit_transform(X_missing)
    assert out.shape == X_missing.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[~mask], X_missing[~mask])


def test_beats_column_means_on_correlated_columns():
    X = low_rank(n=600)
    X_missing, mask = remove(X, 0.2)
    imputer = AutoencoderImputer(hidden_layer_sizes=(32,), max_epochs=60, random_state=0)
    ours = imputer.fit_transform(X_missing)
    means = SimpleImputer().fit_transform(X_missing)
    rmse = np.sqrt(np.mean((ours[mask] - X[mask]) ** 2))
    baseline = np.sqrt(np.mean((means[mask] - X[mask]) ** 2))
    assert rmse < 0.5 * baseline, (rmse, baseline)


def test_new_rows_are_imputed_from_their_own_observed_cells():
    X = low_rank(n=700)
    train, test = X[:600], X[600:]
    train_missing = remove(train, 0.2)[0]
    imputer = AutoencoderImputer(hidden_layer_sizes=(32,), max_epochs=60, random_state=0)
    imputer.fit(train_missing)
    holed, mask = remove(test, 0.2, seed=4)
    ours = imputer.transform(holed)
    means = SimpleImputer().fit(train_missing).transform(holed)
    rmse = np.sqrt(np.mean((ours[mask] - test[mask]) ** 2))
    baseline = np.sqrt(np.mean((means[mask] - test[mask]) ** 2))
    assert rmse < 0.5 * baseline, (rmse, baseline)


def test_add_indicator_and_feature_names():
    X_missing, _ = remove(low_rank())
    X_missing[:, 4] = low_rank()[:, 4]  # a column without missing cells
    frame = pd.DataFrame(X_missing, columns=[f"c{j}" for j in range(6)])
    imputer = AutoencoderImputer(add_indicator=True, **FAST).fit(frame)
    out = imputer.transform(frame)
    assert out.shape == (400, 6 + 5)
    np.testing.assert_array_equal(out[:, 6:], np.isnan(X_missing)[:, [0, 1, 2, 3, 5]])
    names = imputer.get_feature_names_out()
    assert list(names[:6]) == list(frame.columns)
    assert list(names[6:]) == [f"missingindicator_c{j}" for j in (0, 1, 2, 3, 5)]
    restored = imputer.inverse_transform(out)
    np.testing.assert_array_equal(np.isnan(restored), np.isnan(X_missing))
    assert not hasattr(AutoencoderImputer(), "inverse_transform")


def test_set_output_pandas():
    X_missing, _ = remove(low_rank())
    frame = pd.DataFrame(X_missing, columns=list("abcdef"))
    out = AutoencoderImputer(**FAST).set_output(transform="pandas").fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("abcdef")
    assert not out.isna().any().any()


def test_numeric_missing_value_marker():
    X = low_rank()
    X_missing, mask = remove(X)
    marked = np.where(mask, -999.0, X_missing)
    a = AutoencoderImputer(**FAST).fit_transform(X_missing)
    b = AutoencoderImputer(missing_values=-999.0, **FAST).fit_transform(marked)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderImputer(missing_values=-999.0, **FAST).fit(X_missing)


def test_an_all_missing_column_is_dropped_or_kept_as_zero():
    X_missing, _ = remove(low_rank())
    X_missing[:, 2] = np.nan
    with pytest.warns(UserWarning, match="'x2' have no observed value.*dropped"):
        dropped = AutoencoderImputer(**FAST).fit(X_missing)
    assert dropped.transform(X_missing).shape == (400, 5)
    assert "x2" not in dropped.get_feature_names_out()
    with pytest.warns(UserWarning, match="'x2' have no observed value.*kept as 0"):
        kept = AutoencoderImputer(keep_empty_features=True, **FAST).fit(X_missing)
    out = kept.transform(X_missing)
    assert out.shape == (400, 6) and (out[:, 2] == 0).all()


def test_pandas_na():
    X_missing, _ = remove(low_rank(n=100))
    nullable = pd.DataFrame(X_missing).astype("Float64")
    expected = AutoencoderImputer(**FAST).fit_transform(X_missing)
    np.testing.assert_allclose(AutoencoderImputer(**FAST).fit_transform(nullable), expected)


def test_complete_rows_come_back_unchanged():
    X = low_rank()
    imputer = AutoencoderImputer(**FAST).fit(remove(X)[0])
    np.testing.assert_array_equal(imputer.transform(X), X)


def test_in_a_pipeline_before_a_classifier():
    X = low_rank()
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    X_missing, _ = remove(X)
    pipe = make_pipeline(AutoencoderImputer(**FAST), LogisticRegression())
    assert pipe.fit(X_missing, y).score(X_missing, y) > 0.8


def test_max_epochs_auto_gives_a_step_budget():
    X_missing, _ = remove(low_rank(n=100))
    imputer = AutoencoderImputer(hidden_layer_sizes=(4,), batch_size=50).fit(X_missing)
    assert imputer.n_epochs_ == 1000  # 3000 steps of 2 batches, capped at 1000 epochs


def test_only_squared_error():
    with pytest.raises(ValueError, match="loss='mse'"):
        AutoencoderImputer(loss="bce", **FAST).fit(remove(low_rank())[0])


def test_the_network_reads_the_missing_indicator():
    X_missing, _ = remove(low_rank())
    imputer = AutoencoderImputer(**FAST).fit(X_missing)
    first = imputer.net_.module_.body.layers[0]
    assert first.in_features == 2 * X_missing.shape[1]

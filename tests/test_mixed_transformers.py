"""DataFrames with categorical columns in the autoencoder transformers (skae._tabular)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skae
from skae import (
    AutoencoderImputer,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    VAETransformer,
)

TINY = dict(n_components=2, hidden_layer_sizes=(8,), max_epochs=3, batch_size=16)
TRANSFORMERS = [AutoencoderTransformer, DenoisingAutoencoder, VAETransformer]
per_transformer = pytest.mark.parametrize("cls", TRANSFORMERS, ids=lambda c: c.__name__)


def mixed_frame(n=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame(
        {
            "amount": a,
            "count": rng.integers(0, 5, size=n),
            "city": pd.Categorical(
                np.where(a > 0, "paris", rng.choice(["lyon", "nice"], n))
            ),
            "channel": pd.Series(rng.choice(["web", "shop"], n), dtype=object),
            "member": a > 0.5,
        }
    )


@per_transformer
def test_fit_transform_score_and_reconstruct_in_the_original_columns(cls):
    frame = mixed_frame()
    est = cls(random_state=0, **TINY).fit(frame)
    assert est.n_features_in_ == 5
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    assert est.table_["kinds"] == ["numeric"] * 2 + ["categorical"] * 3
    assert est.table_["categories"][2] == ["lyon", "nice", "paris"]
    assert est.table_["categories"][4] == ["False", "True"]
    codes = est.transform(frame)
    assert codes.shape == (60, 2) and np.isfinite(codes).all()
    assert len(est.get_feature_names_out()) == 2
    errors = est.reconstruction_error(frame)
    assert errors.shape == (60,) and np.isfinite(errors).all() and (errors >= 0).all()
    scores = est.score_samples(frame)
    assert scores.shape == (60,) and np.isfinite(scores).all()
    assert np.isfinite(est.score(frame))
    for out in (est.reconstruct(frame), est.inverse_transform(codes)):
        assert isinstance(out, pd.DataFrame)
        assert list(out.columns) == list(frame.columns)
        assert out["amount"].dtype == np.float64
        assert isinstance(out["city"].dtype, pd.CategoricalDtype)
        assert set(out["city"]) <= {"lyon", "nice", "paris"}
        assert set(out["member"]) <= {"False", "True"}
    if cls is VAETransformer:
        drawn = est.sample(4, random_state=0)
        assert isinstance(drawn, pd.DataFrame) and drawn.shape == (4, 5)


def test_reconstruction_error_is_the_mean_over_original_columns():
    frame = mixed_frame()
    est = AutoencoderTransformer(random_state=0, **TINY).fit(frame)
    Z = skae._tabular.encode_table(est, frame, reset=False)
    R = est.net_.map_batches(Z.astype(np.float32), est.net_.module_).astype(np.float64)
    per_column = skae._tabular.column_errors(est.table_, Z, R)
    assert per_column.shape == (60, 5)
    np.testing.assert_allclose(est.reconstruction_error(frame), per_column.mean(axis=1))


def test_a_well_learnt_category_is_reconstructed():
    # "city" is "paris" exactly when amount > 0: a trained network reads it back.
    frame = mixed_frame(n=300)
    est = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(16,), max_epochs=60, random_state=0
    ).fit(frame)
    rebuilt = est.reconstruct(frame)
    accuracy = np.mean((rebuilt["city"] == "paris") == (frame["city"] == "paris"))
    assert accuracy > 0.9, accuracy


@per_transformer
def test_unseen_category_scores_as_unusual_and_never_crashes(cls):
    frame = mixed_frame()
    est = cls(random_state=0, **TINY).fit(frame)
    rows = frame.head(5)
    odd = rows.astype({"channel": object}).assign(channel="phone")
    odd["city"] = pd.Categorical(["rome"] * 5)
    assert np.isfinite(est.transform(odd)).all()
    assert isinstance(est.reconstruct(odd), pd.DataFrame)
    if cls is not VAETransformer:  # its score is the ELBO of the encoded row
        assert (est.reconstruction_error(odd) > est.reconstruction_error(rows)).all()
    assert np.isfinite(est.score_samples(odd)).all()


def test_missing_cells_in_a_mixed_frame():
    frame = mixed_frame().astype({"channel": object})
    frame.loc[::7, "amount"] = np.nan
    frame.loc[::5, "channel"] = None
    est = AutoencoderTransformer(random_state=0, **TINY).fit(frame)
    assert est.missing_indicator_
    assert np.isfinite(est.reconstruction_error(frame)).all()
    assert np.isfinite(est.transform(frame)).all()


def test_partial_fit_continues_on_the_fitted_categories():
    frame = mixed_frame()
    est = AutoencoderTransformer(random_state=0, **TINY)
    est.partial_fit(frame.iloc[:30]).partial_fit(frame.iloc[30:])
    assert est.n_epochs_ == 2 and est.n_features_in_ == 5
    assert np.isfinite(est.score_samples(frame)).all()
    with pytest.raises(ValueError, match="feature names"):
        est.partial_fit(frame.rename(columns={"city": "town"}))


def test_pipeline_and_grid_search_clone_a_mixed_model():
    frame = mixed_frame()
    pipe = make_pipeline(AutoencoderTransformer(random_state=0, **TINY))
    search = GridSearchCV(pipe, {"autoencodertransformer__n_components": [1, 2]}, cv=2)
    search.fit(frame)
    assert search.best_estimator_[-1].table_["kinds"][2] == "categorical"
    assert search.transform(frame).shape[0] == 60
    fresh = clone(search.best_estimator_)
    assert not hasattr(fresh[-1], "table_")


@per_transformer
def test_save_and_load_round_trip(cls, tmp_path):
    frame = mixed_frame()
    est = cls(random_state=0, **TINY).fit(frame)
    path = tmp_path / "model.skae"
    est.save(path)
    restored = skae.load(path)
    assert restored.table_["categories"] == est.table_["categories"]
    np.testing.assert_array_equal(restored.transform(frame), est.transform(frame))
    np.testing.assert_array_equal(
        restored.reconstruction_error(frame), est.reconstruction_error(frame)
    )
    pd.testing.assert_frame_equal(restored.reconstruct(frame), est.reconstruct(frame))


@per_transformer
def test_all_numeric_frames_keep_the_array_path_bit_for_bit(cls):
    frame = mixed_frame()[["amount", "count"]].astype(np.float64)
    from_frame = cls(random_state=0, **TINY).fit(frame)
    from_array = cls(random_state=0, **TINY).fit(np.asarray(frame))
    assert from_frame.table_ is None and from_array.table_ is None
    X = np.asarray(frame)
    np.testing.assert_array_equal(from_frame.transform(frame), from_array.transform(X))
    np.testing.assert_array_equal(from_frame.reconstruct(frame), from_array.reconstruct(X))
    np.testing.assert_array_equal(
        from_frame.score_samples(frame), from_array.score_samples(X)
    )


def test_refitting_on_numbers_forgets_the_categories():
    frame = mixed_frame()
    est = AutoencoderTransformer(random_state=0, **TINY).fit(frame)
    est.fit(frame[["amount", "count"]])
    assert est.table_ is None and est.n_features_in_ == 2
    assert isinstance(est.reconstruct(frame[["amount", "count"]]), np.ndarray)


def test_object_columns_of_numbers_stay_numeric():
    frame = mixed_frame()[["amount", "count"]].astype(object)
    est = AutoencoderTransformer(random_state=0, **TINY).fit(frame)
    assert est.table_ is None


def test_sparse_input_to_a_mixed_model_is_refused_clearly():
    import scipy.sparse as sp

    est = AutoencoderTransformer(random_state=0, **TINY).fit(mixed_frame())
    with pytest.raises(TypeError, match="categorical"):
        est.transform(sp.csr_matrix(np.ones((3, 5))))


def test_bce_with_categories_is_refused_clearly():
    with pytest.raises(ValueError, match="loss='bce' cannot fit the categorical"):
        AutoencoderTransformer(loss="bce", **TINY).fit(mixed_frame())


def test_imputer_refuses_categorical_columns():
    frame = mixed_frame()
    imputer = AutoencoderImputer(random_state=0, **TINY)
    with pytest.raises(TypeError, match="categorical columns are not imputed"):
        imputer.fit(frame)
    assert not hasattr(imputer, "n_features_in_")
    # bool columns are 0/1 numbers for the imputer, as for SimpleImputer.
    numeric = frame[["amount", "count", "member"]].astype({"amount": float})
    numeric.loc[::4, "amount"] = np.nan
    filled = imputer.fit(numeric).transform(numeric)
    assert filled.shape == (60, 3) and np.isfinite(filled).all()
    with pytest.raises(TypeError, match="categorical columns are not imputed"):
        imputer.transform(frame[["amount", "count", "city"]])

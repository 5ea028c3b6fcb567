"""Sparse input (scipy matrices, sparse output of scikit-learn transformers)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skae._data as data_module
from skae import AutoencoderTransformer, DenoisingAutoencoder, VAETransformer

FAST = dict(n_components=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=32)
ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAETransformer]
IDS = [cls.__name__ for cls in ESTIMATORS]


def documents(n=3000, vocabulary=400, seed=0):
    """Random 'documents' from a Zipf-like vocabulary, two topics (offline)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocabulary)])
    weights = 1.0 / np.arange(1, vocabulary + 1)
    topics = [np.roll(weights, shift) for shift in (0, vocabulary // 2)]
    topics = [t / t.sum() for t in topics]
    docs = []
    for i in range(n):
        p = topics[i % 2]
        docs.append(" ".join(rng.choice(words, size=rng.integers(5, 30), p=p)))
    return docs


@pytest.fixture(scope="module")
def tfidf():
    return TfidfVectorizer().fit_transform(documents())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_tfidf_matrix_gives_the_dense_results(cls, tfidf):
    assert sp.issparse(tfidf) and tfidf.shape[0] == 3000
    dense = tfidf.toarray()
    on_sparse = cls(random_state=0, **FAST).fit(tfidf)
    on_dense = cls(random_state=0, **FAST).fit(dense)
    np.testing.assert_allclose(
        on_sparse.transform(tfidf), on_dense.transform(dense), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        on_sparse.score_samples(tfidf), on_dense.score_samples(dense), rtol=1e-5
    )
    assert on_sparse.n_features_in_ == tfidf.shape[1]


def test_only_one_batch_is_ever_dense(tfidf, monkeypatch):
    densified = []
    real = data_module.densify

    def spy(block):
        densified.append(block.shape[0])
        return real(block)

    monkeypatch.setattr(data_module, "densify", spy)
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(tfidf)
    assert densified and max(densified) <= FAST["batch_size"] + 1  # folded last row
    # Inference batches are capped by bytes of dense float32, whatever their size.
    monkeypatch.setattr(data_module, "SPARSE_BATCH_BYTES", 4 * tfidf.shape[1] * 100)
    for method in (ae.reconstruction_error, ae.transform):
        densified.clear()
        method(tfidf)
        assert max(densified) == 100 and sum(densified) == tfidf.shape[0]


def test_explicit_zeros_are_zeros():
    explicit = sp.random(200, 30, density=0.2, format="csr", random_state=0)
    explicit.data[::3] = 0.0  # stored entries holding 0
    pruned = explicit.copy()
    pruned.eliminate_zeros()
    assert explicit.nnz > pruned.nnz and (explicit.data == 0).any()
    a = AutoencoderTransformer(random_state=0, **FAST).fit(pruned)
    b = AutoencoderTransformer(random_state=0, **FAST).fit(explicit)
    assert not b.missing_indicator_
    np.testing.assert_array_equal(a.transform(pruned), b.transform(explicit))
    np.testing.assert_array_equal(a.score_samples(pruned), b.score_samples(explicit))
    np.testing.assert_array_equal(a.fill_values_, b.fill_values_)


def test_explicit_zeros_only():
    X = sp.csr_matrix((np.zeros(5), (np.arange(5), np.arange(5))), shape=(5, 5))
    assert X.nnz == 5
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    assert np.isfinite(ae.score_samples(X)).all()


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok"])
def test_every_scipy_format(fmt):
    X = sp.random(60, 8, density=0.3, format=fmt, random_state=0)
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    np.testing.assert_allclose(
        ae.transform(X), ae.transform(X.toarray()), rtol=1e-6, atol=1e-7
    )


def test_sparse_arrays_and_float32_keep_their_dtype():
    X = sp.csr_array(sp.random(60, 8, density=0.3, random_state=0, dtype=np.float32))
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    assert ae.transform(X).dtype == np.float32


def test_one_hot_encoder_in_a_column_transformer():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], size=200),
            "size": rng.choice(["s", "m", "l", "xl"], size=200),
            "price": rng.normal(size=200),
        }
    )
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(), ["colour", "size"]),
            ("num", StandardScaler(), ["price"]),
        ],
        sparse_threshold=1.0,  # keep the one-hot output sparse
    )
    assert sp.issparse(pre.fit_transform(frame))
    pipe = make_pipeline(pre, AutoencoderTransformer(random_state=0, **FAST)).fit(frame)
    assert pipe.transform(frame).shape == (200, 2)
    assert np.isfinite(pipe.score(frame))


def test_partial_fit_and_validation_split_on_sparse(tfidf):
    ae = AutoencoderTransformer(random_state=0, validation_fraction=0.2, **FAST)
    ae.fit(tfidf)
    assert np.isfinite(ae.history_[:, "valid_loss"]).all()
    stream = AutoencoderTransformer(random_state=0, **FAST)
    for start in range(0, 3000, 1000):
        stream.partial_fit(tfidf[start : start + 1000])
    assert stream.n_epochs_ == 3


def test_stored_nan_in_a_sparse_matrix_is_a_missing_cell():
    X = sp.random(100, 6, density=0.5, format="csr", random_state=0)
    X.data[::7] = np.nan
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    assert ae.missing_indicator_
    np.testing.assert_allclose(
        ae.reconstruction_error(X), ae.reconstruction_error(X.toarray()), rtol=1e-6
    )


def test_codes_must_be_dense():
    X = sp.random(60, 8, density=0.3, format="csr", random_state=0)
    ae = AutoencoderTransformer(random_state=0, **FAST).fit(X)
    with pytest.raises(TypeError, match=r"[Ss]parse"):
        ae.inverse_transform(sp.csr_matrix(ae.transform(X)))


def test_bce_on_sparse_checks_the_stored_values():
    X = sp.random(60, 8, density=0.3, format="csr", random_state=0)
    AutoencoderTransformer(loss="bce", random_state=0, **FAST).fit(X)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        AutoencoderTransformer(loss="bce", **FAST).fit(X * 3)

"""Property-based tests: messy input to every public estimator and method.

Each property runs over every estimator exported by skae (see
``tests/_skae_estimators.py``) and, inside hypothesis, over every method the
estimator has (``fit``, ``transform``, ``inverse_transform``, ``reconstruct``,
``reconstruction_error``, ``score_samples``, ``score`` and ``predict``,
``decision_function``, ``denoise`` where they exist). Every call either works
(finite output of the right shape) or raises ``ValueError``/``TypeError`` whose
message names the problem, raised by skae or scikit-learn -- never from inside
torch or skorch.

``EXAMPLES`` (generated cases per property and estimator) is quoted in
docs/reliability.rst; the runs are derandomized so CI sees the same cases.
"""

from __future__ import annotations

import re
import traceback

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _skae_estimators import (
    CLASS_IDS,
    CLASSES,
    check_output,
    fitted,
    make,
    row_methods,
    training_data,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skae import AnomalyDetector

EXAMPLES = 25
FIT_EXAMPLES = 15  # properties whose every case trains a network

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FIT_PROPERTY = settings(PROPERTY, max_examples=FIT_EXAMPLES)

per_estimator = pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)


def all_methods(est) -> list[str]:
    inverse = ["inverse_transform"] if hasattr(est, "inverse_transform") else []
    return ["fit", *row_methods(est), *inverse]


def width_for(est, method: str) -> int:
    """Input width ``method`` expects on the fitted estimator."""
    return est.n_components_ if method == "inverse_transform" else est.n_features_in_


def call(cls, method: str, X):
    """Call ``method`` with ``X``: ``fit`` on a fresh instance, others on a fitted one."""
    if method == "fit":
        return make(cls).fit(X)
    return getattr(fitted(cls), method)(X)


def expect_clear_error(cls, method, X, pattern, kinds=(ValueError, TypeError)):
    """``method(X)`` raises one of ``kinds`` matching ``pattern``, not from torch/skorch."""
    with pytest.raises(kinds) as info:
        call(cls, method, X)
    assert re.search(pattern, str(info.value)), f"{method}: unclear message {info.value!r}"
    innermost = traceback.extract_tb(info.tb)[-1].filename
    assert not re.search(r"[/\\](torch|skorch)[/\\]", innermost), (
        f"{method} raised from inside {innermost}: {info.value!r}"
    )


def expect_works(cls, method, X):
    out = call(cls, method, X)
    if method == "fit":
        est = out
        for m in row_methods(est):
            check_output(est, m, X, getattr(est, m)(X))
    else:
        check_output(fitted(cls), method, X, out)


def allows(est, tag: str) -> bool:
    """Whether ``est``'s scikit-learn input tags accept NaN ("allow_nan") or "sparse"."""
    return bool(getattr(est.__sklearn_tags__().input_tags, tag))


def rows(n, d, seed):
    return np.random.default_rng(seed).uniform(size=(n, d))


seeds = st.integers(0, 2**16)


@per_estimator
@given(data=st.data())
@PROPERTY
def test_nan_and_inf_are_refused(cls, data):
    # Estimators tagged allow_nan take NaN as a missing cell (tests/test_missing.py),
    # except where the input is a code (inverse_transform); infinity is refused.
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    n = data.draw(st.integers(2, 20), label="n")
    d = data.draw(st.integers(1, 6)) if method == "fit" else width_for(est, method)
    X = rows(n, d, data.draw(seeds))
    nan_is_missing = allows(est, "allow_nan") and method != "inverse_transform"
    choices = [np.inf, -np.inf] if nan_is_missing else [np.nan, np.inf, -np.inf]
    bad = data.draw(st.sampled_from(choices), label="bad")
    X[data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, d - 1))] = bad
    expect_clear_error(cls, method, X, r"NaN|[Ii]nf")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_nan_is_a_missing_cell_where_allowed(cls, data):
    est = fitted(cls)
    if not allows(est, "allow_nan"):
        pytest.skip(f"{cls.__name__} does not accept NaN")
    methods = [m for m in all_methods(est) if m != "inverse_transform"]
    method = data.draw(st.sampled_from(methods), label="method")
    n = data.draw(st.integers(2, 20), label="n")
    d = data.draw(st.integers(1, 6)) if method == "fit" else width_for(est, method)
    X = rows(n, d, data.draw(seeds))
    X[data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, d - 1))] = np.nan
    expect_works(cls, method, X)


@per_estimator
@given(data=st.data())
@PROPERTY
def test_empty_arrays_are_refused(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    no_rows = data.draw(st.booleans(), label="no_rows")
    shape = (0, width_for(est, method)) if no_rows else (data.draw(st.integers(2, 5)), 0)
    expect_clear_error(cls, method, np.zeros(shape), r"0 sample|0 feature")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_one_row(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    d = data.draw(st.integers(1, 6)) if method == "fit" else width_for(est, method)
    X = rows(1, d, data.draw(seeds))
    if method == "fit":  # an autoencoder cannot learn from one row
        expect_clear_error(cls, method, X, r"1 sample")
    else:
        expect_works(cls, method, X)


@per_estimator
@given(n=st.integers(2, 40), seed=seeds)
@FIT_PROPERTY
def test_one_column_fits_and_predicts(cls, n, seed):
    expect_works(cls, "fit", rows(n, 1, seed))


@per_estimator
@given(data=st.data())
@FIT_PROPERTY
def test_constant_columns_fit_and_predict(cls, data):
    n = data.draw(st.integers(2, 40), label="n")
    d = data.draw(st.integers(1, 5), label="d")
    X = rows(n, d, data.draw(seeds))
    columns = st.lists(st.integers(0, d - 1), min_size=1, max_size=d, unique=True)
    constant = data.draw(columns, label="constant columns")
    for j in constant:
        X[:, j] = data.draw(st.floats(0, 1), label=f"value of column {j}")
    expect_works(cls, "fit", X)


@per_estimator
@given(
    n=st.integers(2, 40),
    batch_size=st.integers(1, 20),
    batch_norm=st.booleans(),
    seed=seeds,
)
@example(n=17, batch_size=16, batch_norm=True, seed=0)  # a last batch of one row
@FIT_PROPERTY
def test_any_row_count_and_batch_size_trains(cls, n, batch_size, batch_norm, seed):
    """Including a last batch of one row, which batch normalisation cannot take."""
    X = rows(n, 3, seed)
    est = make(cls, batch_size=batch_size, batch_norm=batch_norm)
    if batch_norm and batch_size == 1:
        with pytest.raises(ValueError, match="batch_norm=True needs at least 2 rows"):
            est.fit(X)
        return
    est.fit(X)
    for method in row_methods(est):
        check_output(est, method, X, getattr(est, method)(X))


magnitudes = st.builds(
    lambda e, s: s * 10.0**e, st.integers(-30, 30), st.sampled_from([1.0, -1.0])
)


@per_estimator
@given(scale=magnitudes)
@example(scale=1e30)
@example(scale=-1e-30)
@FIT_PROPERTY
def test_huge_and_tiny_magnitudes_at_fit(cls, scale):
    """Works, or (beyond float32's safe range for squared errors) a clear refusal."""
    X = training_data() * scale
    try:
        est = make(cls).fit(X)
    except ValueError as exc:
        assert abs(scale) > 1e15 and re.search(r"magnitude|overflow", str(exc)), exc
        return
    for method in row_methods(est):
        check_output(est, method, X, getattr(est, method)(X))


@per_estimator
@given(data=st.data())
@PROPERTY
def test_huge_and_tiny_magnitudes_on_a_fitted_model(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from([m for m in all_methods(est) if m != "fit"]))
    n = data.draw(st.integers(1, 10))
    X = rows(n, width_for(est, method), data.draw(seeds)) * data.draw(magnitudes)
    try:
        out = getattr(est, method)(X)
    except ValueError as exc:
        assert re.search(r"overflow|float32", str(exc)), exc
        return
    check_output(est, method, X, out)


words = st.text(alphabet="abcdeghjklm", min_size=1, max_size=5)  # never parse as floats


@per_estimator
@given(data=st.data())
@PROPERTY
def test_string_and_complex_values_are_refused(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    n = data.draw(st.integers(2, 10))
    d = data.draw(st.integers(1, 5)) if method == "fit" else width_for(est, method)
    if data.draw(st.booleans(), label="complex"):
        X = rows(n, d, data.draw(seeds)) + 1j
        expect_clear_error(cls, method, X, r"Complex data not supported")
        return
    X = rows(n, d, data.draw(seeds)).astype(object)
    X[:, data.draw(st.integers(0, d - 1))] = data.draw(words)
    if method == "fit" and data.draw(st.booleans(), label="as DataFrame"):
        X = pd.DataFrame(X, columns=[f"c{j}" for j in range(d)])
        if cls.__name__ in ENCODES_CATEGORIES:
            # A DataFrame's text column is a categorical column for these.
            expect_works(cls, "fit", X)
            return
    expect_clear_error(cls, method, X, r"string|convert|float|dtype")


# Estimators that encode a DataFrame's categorical columns themselves (skae._tabular).
ENCODES_CATEGORIES = {
    "AnomalyDetector",
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "VAETransformer",
}
column_dtypes = st.sampled_from(["float64", "float32", "int64", "uint8", "bool", "Int64"])


@per_estimator
@given(data=st.data())
@FIT_PROPERTY
def test_mixed_dtype_dataframes(cls, data):
    n = data.draw(st.integers(2, 30), label="n")
    dtypes = data.draw(st.lists(column_dtypes, min_size=1, max_size=5), label="dtypes")
    X = rows(n, len(dtypes), data.draw(seeds))
    columns = [
        X[:, j] > 0.5 if t == "bool" else np.round(X[:, j] * 10)
        for j, t in enumerate(dtypes)
    ]
    frame = pd.DataFrame(
        {
            f"c{j}": pd.Series(c).astype(t)
            for j, (c, t) in enumerate(zip(columns, dtypes, strict=True))
        }
    )
    est = make(cls).fit(frame)
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    for method in row_methods(est):
        check_output(est, method, frame, getattr(est, method)(frame))
    bad_columns = {
        "category": pd.Categorical(["x"] * n),
        "string": pd.array(["x"] * n, dtype="string"),
        "datetime": pd.date_range("2026-01-01", periods=n),
    }
    if cls.__name__ in ENCODES_CATEGORIES:
        for kind in ("category", "string"):
            expect_works(cls, "fit", frame.assign(categorical=bad_columns.pop(kind)))
    kind = data.draw(st.sampled_from(sorted(bad_columns)), label="bad column")
    bad = frame.assign(bad=bad_columns[kind])
    expect_clear_error(cls, "fit", bad, r"string|convert|float|[Dd][Tt]ype")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_sparse_matrices_are_refused(cls, data):
    # Estimators tagged sparse take sparse rows (tests/test_sparse.py); codes
    # (inverse_transform) must still be dense.
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    n = data.draw(st.integers(2, 10))
    d = data.draw(st.integers(1, 5)) if method == "fit" else width_for(est, method)
    fmt = data.draw(st.sampled_from(["csr", "csc", "coo"]), label="format")
    X = sp.random(n, d, density=0.5, format=fmt, random_state=data.draw(seeds))
    if allows(est, "sparse") and method != "inverse_transform":
        expect_works(cls, method, X)
    else:
        expect_clear_error(cls, method, X, r"[Ss]parse.*dense")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_wrong_width_after_fit(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from([m for m in all_methods(est) if m != "fit"]))
    right = width_for(est, method)
    d = data.draw(st.integers(1, 8).filter(lambda w: w != right), label="width")
    expect_clear_error(cls, method, rows(3, d, 0), r"features")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_arrays_that_are_not_2d_are_refused(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from(all_methods(est)), label="method")
    shape = data.draw(
        st.sampled_from([(5,), (4, width_for(est, method), 2), (2, 3, 4, 1)]), label="shape"
    )
    expect_clear_error(cls, method, np.ones(shape), r"2D|dim \d")


@per_estimator
@given(data=st.data())
@PROPERTY
def test_lists_of_lists_behave_like_arrays(cls, data):
    est = fitted(cls)
    method = data.draw(st.sampled_from([m for m in all_methods(est) if m != "fit"]))
    X = rows(data.draw(st.integers(1, 6)), width_for(est, method), data.draw(seeds))
    out = getattr(est, method)(X.tolist())
    check_output(est, method, X, out)
    np.testing.assert_array_equal(out, getattr(est, method)(X))
    ragged = [*X.tolist(), X[0, :-1].tolist() or [[]]]
    expect_clear_error(cls, method, ragged, r"inhomogeneous|sequence|shape")


@per_estimator
def test_reconstruction_error_of_huge_rows_is_finite(cls):
    """Errors are computed in float64: a row of 1e30 gets about 1e60, not inf."""
    est = fitted(cls)
    if not hasattr(est, "reconstruction_error"):
        pytest.skip(f"{cls.__name__} has no reconstruction_error")
    X = np.full((2, est.n_features_in_), 1e30)
    errors = est.reconstruction_error(X)
    if isinstance(est, AnomalyDetector) and est.clip is not None:
        # A detector clips scaled values: huge rows get a bounded error, but
        # still a larger one than any training row's.
        training_errors = est.reconstruction_error(training_data())
        assert np.isfinite(errors).all() and (errors > training_errors.max()).all()
        return
    assert np.isfinite(errors).all() and (errors > 1e50).all()
    if hasattr(est, "reconstruct") and getattr(est, "loss", None) == "mse":
        # Errors in the units of X, as reconstruct's output.
        expected = ((X - est.reconstruct(X).astype(np.float64)) ** 2).mean(axis=1)
        np.testing.assert_allclose(errors, expected, rtol=1e-6)

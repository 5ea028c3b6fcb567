"""Mixed-type tables in AnomalyDetector: categories, missing cells, unseen categories."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MaxAbsScaler

from skae import AnomalyDetector, AutoencoderTransformer, _tabular, load

CITIES = {"paris": "gold", "lyon": "silver", "nice": "bronze"}
AMOUNT = {"gold": 100.0, "silver": 50.0, "bronze": 20.0}


def make_table(n, seed):
    """City decides the tier (95 %), the tier the amount, the amount the items."""
    rng = np.random.RandomState(seed)
    city = rng.choice(list(CITIES), n, p=[0.5, 0.3, 0.2])
    tier = np.array([CITIES[c] for c in city], dtype=object)
    other = rng.rand(n) < 0.05
    tier[other] = rng.choice(list(AMOUNT), other.sum())
    amount = np.array([AMOUNT[t] for t in tier]) + 5 * rng.randn(n)
    return pd.DataFrame(
        {
            "city": pd.Categorical(city),
            "tier": pd.array(tier, dtype="string"),
            "amount": amount,
            "items": amount / 10 + rng.randn(n),
            "online": rng.rand(n) < 0.3,
        }
    )


def tiny(**params):
    inner = AutoencoderTransformer(
        n_components=3,
        hidden_layer_sizes=(16,),
        max_epochs=40,
        batch_size=64,
        random_state=0,
    )
    return AnomalyDetector(inner, random_state=0, **params)


@pytest.fixture(scope="module")
def train():
    table = make_table(500, 0)
    holes = np.random.RandomState(1).rand(*table.shape) < 0.1
    holes[:, 0] = False  # keep one column whole so that rows stay informative
    return table.mask(holes)


@pytest.fixture(scope="module")
def fitted(train):
    return tiny().fit(train)


@pytest.fixture(scope="module")
def test_rows():
    """Row 0 normal, 1 an odd category pair, 2 an odd amount, 3 an unseen city."""
    rows = pd.DataFrame(
        {
            "city": ["lyon", "paris", "paris", "rome"],
            "tier": ["silver", "bronze", "gold", "silver"],
            "amount": [50.0, 20.0, 400.0, 50.0],
            "items": [5.0, 2.0, 10.0, 5.0],
            "online": [False, False, True, False],
        }
    )
    return rows.astype({"city": "category", "tier": "string"})


# -- the encoding ---------------------------------------------------------------------
def test_encoding_one_hot_centred_by_shares_with_nan_for_missing():
    frame = pd.DataFrame(
        {"c": ["a", "b", "a", None, "a"], "x": [1.0, np.nan, 3.0, 4.0, 5.0]}, dtype=object
    ).astype({"x": float})
    detector = AnomalyDetector()
    encoded = _tabular.validate(detector, frame, reset=True)
    table = detector.table_
    assert table["kinds"] == ["categorical", "numeric"]
    assert table["categories"] == [["a", "b"], []]
    assert table["shares"][0] == [0.75, 0.25]  # among the observed cells
    assert encoded.shape == (5, 3)
    np.testing.assert_allclose(encoded[0, :2], [0.25, -0.25])
    np.testing.assert_allclose(encoded[1, :2], [-0.75, 0.75])
    assert np.isnan(encoded[3, :2]).all() and np.isnan(encoded[1, 2])
    assert table["medians"][1] == 3.5  # of the observed values
    # At scoring, an unseen category has no known category: minus the shares.
    unseen = pd.DataFrame({"c": ["zzz"], "x": [2.0]})
    np.testing.assert_allclose(
        _tabular.validate(detector, unseen, reset=False), [[-0.75, -0.25, 2.0]]
    )
    np.testing.assert_allclose(_tabular.fill_row(table), [0.0, 0.0, 3.5])


def test_categories_are_compared_as_text_and_bool_is_categorical():
    frame = pd.DataFrame({"b": [True, False, True], "n": pd.array([1, 2, 1], dtype=object)})
    detector = AnomalyDetector()
    _tabular.validate(detector, frame, reset=True)
    assert detector.table_["kinds"] == ["categorical", "categorical"]
    assert detector.table_["categories"] == [["False", "True"], ["1", "2"]]
    as_strings = pd.DataFrame({"b": ["True"], "n": ["2"]})
    np.testing.assert_allclose(
        _tabular.validate(detector, as_strings, reset=False),
        _tabular.validate(detector, frame.iloc[[0]].assign(n=[2]), reset=False),
    )


def test_column_errors_squared_for_numbers_cross_entropy_for_categories():
    table = {
        "kinds": ["categorical", "numeric"],
        "categories": [["a", "b"], []],
        "shares": [[0.75, 0.25], []],
        "medians": np.array([0.0, 0.0]),
        "floor": 1 / 101,
    }
    Z = np.array(
        [
            [0.25, -0.25, 1.0],  # "a"
            [-0.75, 0.75, 1.0],  # "b"
            [-0.75, -0.25, 1.0],  # unseen
            [np.nan, np.nan, np.nan],  # missing cells
        ]
    )
    # The network predicts P(a) = 0.6, P(b) = 0.4 and 3.0 for the number.
    R = np.tile([0.6 - 0.75, 0.4 - 0.25, 3.0], (4, 1))
    errors = _tabular.column_errors(table, Z, R)
    np.testing.assert_allclose(errors[:3, 0], [-np.log(0.6), -np.log(0.4), np.log(101)])
    np.testing.assert_allclose(errors[:3, 1], 4.0)
    assert np.isnan(errors[3]).all()
    # A block reconstructed outside [0, 1] is clipped at the floor and renormalised.
    R_bad = np.array([[1.5 - 0.75, -0.5 - 0.25, 1.0]])
    p_a = 1.5 / (1.5 + 1 / 101)
    np.testing.assert_allclose(
        _tabular.column_errors(table, Z[:1], R_bad)[0, 0], -np.log(p_a)
    )


@pytest.mark.parametrize("scaler", ["robust", "standard", "minmax"])
def test_scalers_leave_the_one_hot_columns_as_they_are(train, scaler):
    detector = AnomalyDetector(scaler=scaler)
    encoded = _tabular.validate(detector, train, reset=True)
    fitted = detector._fit_scaler(encoded)
    fitted = _tabular.pass_categories_through(fitted, detector.table_)
    scaled = fitted.transform(encoded)
    one_hot = list(range(3)) + list(range(3, 6)) + [8, 9]  # city, tier, online
    np.testing.assert_array_equal(
        np.isnan(scaled[:, one_hot]), np.isnan(encoded[:, one_hot])
    )
    np.testing.assert_allclose(scaled[:, one_hot], encoded[:, one_hot])
    assert not np.allclose(scaled[:, 6], encoded[:, 6], equal_nan=True)  # amount is


# -- the fitted detector ------------------------------------------------------------
def test_explain_has_one_column_per_original_column_and_sums_to_error(fitted, train):
    errors = fitted.explain(train.iloc[:50])
    assert list(errors.columns) == list(train.columns)
    assert list(errors.index) == list(train.index[:50])
    np.testing.assert_allclose(
        errors.sum(axis=1), fitted.reconstruction_error(train.iloc[:50]), rtol=1e-6
    )
    assert np.isfinite(errors.to_numpy()).all()
    # Balanced errors: each column averages its weight over its observed training
    # cells (missing cells add nothing): its share of the encoded width, 3 for the
    # cities, 3 for the tiers, 2 for the bool, 1 for each number.
    all_errors = fitted.explain(train)
    observed = train.notna().to_numpy()
    mean_observed = all_errors.to_numpy().sum(axis=0) / observed.sum(axis=0)
    np.testing.assert_allclose(mean_observed, np.array([3, 3, 1, 1, 2]) / 10, rtol=0.05)
    np.testing.assert_allclose(
        _tabular.column_weights(fitted.table_, 5), np.array([3, 3, 1, 1, 2]) / 10
    )


def test_missing_cells_add_no_error_and_are_not_anomalies(fitted, train):
    rows = train.dropna().iloc[:40].copy()
    holes = rows.copy()
    holes.iloc[:, 2:] = np.nan  # amount, items and online missing
    errors = fitted.explain(holes)
    assert (errors[["amount", "items", "online"]].to_numpy() == 0).all()
    assert np.isfinite(fitted.score_samples(holes)).all()
    # Rows of whose values only the (consistent) city and tier are known are normal.
    assert (fitted.predict(holes) == 1).all()


def test_planted_anomalies_are_flagged_and_explained_by_their_causes(fitted, test_rows):
    # contamination="auto" is calibrated to flag about 1 % of clean rows; an
    # unseen category alone is unusual but not that extreme: flag 5 % here.
    labels = copy.deepcopy(fitted).set_threshold_from_contamination(0.05).predict(test_rows)
    assert labels[0] == 1 and (labels[1:] == -1).all()
    top = fitted.explain(test_rows).idxmax(axis=1)
    assert top[1] in ("city", "tier")  # the odd pair
    assert top[2] == "amount"  # the odd number
    assert top[3] == "city"  # the unseen category
    scores = fitted.score_samples(test_rows)
    assert scores[0] > scores[1:].max()


def test_unseen_category_scores_as_unusual_in_any_column(fitted, test_rows):
    row = test_rows.iloc[[0]]
    base = fitted.explain(row)
    for column in ("city", "tier", "online"):
        odd = row.astype({column: object}).assign(**{column: ["never seen"]})
        errors = fitted.explain(odd)
        assert errors[column].iloc[0] > 5 * base[column].iloc[0]
        assert errors.idxmax(axis=1).iloc[0] == column
        assert fitted.score_samples(odd)[0] < fitted.score_samples(row)[0]


def test_single_valued_category_trains_and_flags_another_value():
    table = make_table(200, 3).assign(shop=["main"] * 200)
    detector = tiny().fit(table)
    assert detector.table_["categories"][-1] == ["main"]
    rows = table.iloc[:20].copy()
    scores = detector.score_samples(rows)
    assert np.isfinite(scores).all()
    assert detector.explain(rows)["shop"].max() < 1e-6  # always reconstructed
    rows["shop"] = ["main"] * 19 + ["outlet"]
    assert detector.predict(rows)[-1] == -1
    assert detector.explain(rows).idxmax(axis=1).iloc[-1] == "shop"


def test_numeric_array_with_missing_cells_trains_and_scores_without_nan():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3) @ rng.randn(3, 6)
    X[rng.rand(*X.shape) < 0.2] = np.nan
    detector = tiny().fit(X)
    assert detector.table_["kinds"] == ["numeric"] * 6
    scores = detector.score_samples(X)
    errors = detector.explain(X)
    assert np.isfinite(scores).all() and np.isfinite(errors.to_numpy()).all()
    assert (errors.to_numpy()[np.isnan(X)] == 0).all()
    # A detector fitted on complete rows accepts missing cells at scoring.
    complete = tiny().fit(np.nan_to_num(X))
    assert np.isfinite(complete.score_samples(X)).all()


def test_fill_medians_of_a_large_table_come_from_a_sample(monkeypatch):
    monkeypatch.setattr(_tabular, "MEDIAN_ROWS", 200)
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 3) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    X[:, 2][rng.rand(2000) < 0.2] = np.nan
    X[:, 1][1:] = np.nan  # observed in one row: most likely not in the sample
    table = _tabular._fit_numeric(object(), X)
    full = np.nanmedian(X, axis=0)
    # Within four standard errors of a 200-row median (1.25 sd / sqrt(200)).
    error = np.abs(table["medians"] - full)[[0, 2]]
    assert (error <= 4 * 1.25 * np.array([1.0, 0.1]) / np.sqrt(200)).all()
    assert table["medians"][1] == X[0, 1]  # not observed in the sample: every row
    assert table["floor"] == 1 / 2001  # the unseen-category floor counts every row
    assert table["medians"][0] != np.median(X[:, 0])  # a sample, not every row


def test_mixed_detector_round_trips_through_save_and_load(fitted, test_rows, tmp_path):
    path = tmp_path / "mixed.skae"
    fitted.save(path)
    restored = load(path)
    np.testing.assert_allclose(
        restored.score_samples(test_rows), fitted.score_samples(test_rows), rtol=1e-6
    )
    assert restored.table_["categories"] == fitted.table_["categories"]


# -- bad input ------------------------------------------------------------------------
def test_all_missing_column_is_a_clear_error_and_fit_leaves_detector_unchanged(train):
    detector = tiny()
    with pytest.raises(ValueError, match=r"'amount'.* no observed value"):
        detector.fit(train.assign(amount=np.nan))
    assert not hasattr(detector, "table_")
    with pytest.raises(ValueError, match=r"'x1'.* no observed value"):
        tiny().fit(np.c_[np.ones(5), np.full(5, np.nan)])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t: t.assign(code=[f"id{i}" for i in range(len(t))]), "identifier or free"),
        (lambda t: t.assign(amount=np.inf), "'amount' contains infinity"),
        (
            lambda t: t.assign(when=pd.date_range("2026-01-01", periods=len(t))),
            r"'when' has dtype datetime64.*Convert it first",
        ),
    ],
)
def test_bad_tables_raise_clear_errors(train, change, match):
    with pytest.raises(ValueError, match=match):
        tiny().fit(change(train))


def test_custom_scaler_with_categories_is_a_clear_error(train):
    with pytest.raises(ValueError, match=r"scaler=<transformer>\) cannot scale categ"):
        tiny(scaler=MaxAbsScaler()).fit(train)


def test_scoring_input_is_checked_against_the_fitted_table(fitted, test_rows):
    with pytest.raises(ValueError, match=r"'amount' was numeric at fit.*'lots'"):
        fitted.score_samples(test_rows.astype({"amount": object}).assign(amount="lots"))
    with pytest.raises(ValueError, match="feature names"):
        fitted.score_samples(test_rows.rename(columns={"items": "things"}))
    with pytest.raises(ValueError, match="online"):
        fitted.score_samples(test_rows.iloc[:, :4])


def test_bool_column_reads_numbers_and_words_at_scoring():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.randn(200), "flag": rng.rand(200) < 0.3})
    detector = tiny().fit(frame)
    expected = detector.score_samples(frame)
    for spelled in (
        frame.flag.astype(int),
        frame.flag.astype(float),
        frame.flag.map({True: "true", False: "FALSE"}),
    ):
        np.testing.assert_allclose(
            detector.score_samples(frame.assign(flag=spelled)), expected
        )


def test_mostly_unseen_categories_at_scoring_warn():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.randn(200), "city": rng.choice(["Paris", "Lyon"], 200)})
    detector = tiny().fit(frame)
    with pytest.warns(UserWarning, match=r"Column 'city': 200 of 200 values were not seen"):
        detector.score_samples(frame.assign(city=frame.city.str.upper()))
    # A few unseen rows, or one new value in every row, are anomalies, not a
    # spelling problem: no warning.
    few = frame.copy()
    few.loc[:4, "city"] = "Nice"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = detector.score_samples(few)
        detector.score_samples(frame.assign(city="Nice"))
    assert (scores[:5] < np.median(scores)).all()


@pytest.mark.parametrize(
    "dates", [[f"2024-01-{i % 20 + 1:02d}" for i in range(60)], ["03/01/2024"] * 60]
)
def test_dates_written_as_text_are_a_clear_error(dates):
    frame = pd.DataFrame({"x": np.random.RandomState(0).randn(60), "when": dates})
    detector = tiny()
    with pytest.raises(ValueError, match=r"Column 'when' holds dates written as text"):
        detector.fit(frame)
    assert not hasattr(detector, "table_")
    # Text shaped like a date that is not one (a version number) is a category.
    assert _tabular.looks_like_dates(pd.Series(["1.0.12", "1.0.13"])) is None


def test_duplicate_column_names_are_refused_as_scikit_learn_does():
    frame = pd.DataFrame(np.random.RandomState(0).randn(50, 2), columns=["a", "a"])
    with pytest.raises(ValueError, match="unique column names"):
        AutoencoderTransformer(max_epochs=1).fit(frame)


def test_a_row_identifier_column_is_warned_about_at_fit():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"id": np.arange(1000, 1060), "x": rng.normal(size=60)})
    frame["count"] = rng.randint(0, 5, size=60)  # integers with repeats: a feature
    detector = AnomalyDetector(random_state=0, n_estimators=1)
    with pytest.warns(UserWarning, match="'id' looks like a row identifier"):
        detector.fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnomalyDetector(random_state=0, n_estimators=1).fit(frame.drop(columns="id"))
    with pytest.warns(UserWarning, match="'Unnamed: 0'"):
        AnomalyDetector(random_state=0, n_estimators=1).partial_fit(
            frame.rename(columns={"id": "Unnamed: 0"}).assign(**{"Unnamed: 0": 0.5})
        )


@pytest.mark.parametrize(
    "values, reason",
    [
        (np.arange(20), "monotonic integers, every value distinct"),
        (np.arange(20)[::-1] * 3.0, "monotonic integers, every value distinct"),
        (np.random.RandomState(0).permutation(20), "integers, every value distinct"),
        (np.arange(20) + 0.5, None),
        (np.r_[np.arange(19), 3], None),
        (np.arange(5), None),  # too few rows to tell
    ],
)
def test_looks_like_identifier(values, reason):
    assert _tabular.looks_like_identifier(pd.Series(values, name="c")) == reason

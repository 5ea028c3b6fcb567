"""Behaviour of AnomalyDetector: outlier API, scaling, thresholds, explanations."""

import itertools
import threading

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch
from scipy.stats import norm
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import QuantileTransformer

import skae
import skae._anomaly
import skae._data
import skae._neighbors
import skae._tabular
from skae import (
    AnomalyDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    VAETransformer,
)
from skae._thresholds import MAD_TO_STD


def tiny(**params):
    defaults = dict(
        n_components=2,
        hidden_layer_sizes=(8,),
        max_epochs=30,
        batch_size=32,
        random_state=0,
    )
    defaults.update(params)
    return AutoencoderTransformer(**defaults)


def make_data(n=300, seed=0):
    """Rows near one 2-D plane in 6-D (the same plane for every seed)."""
    mixing = np.random.RandomState(42).normal(size=(2, 6))
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n, 2))
    return latent @ mixing + 0.05 * rng.normal(size=(n, 6))


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def fitted(data):
    return AnomalyDetector(tiny(), random_state=0).fit(data)


def weights(detector):
    return {k: v.clone() for k, v in detector.estimator_.net_.module_.state_dict().items()}


# -- the outlier API -----------------------------------------------------------------


def test_predict_gives_plus_minus_one_and_matches_decision_sign(fitted, data):
    labels = fitted.predict(data)
    assert labels.dtype.kind == "i"
    assert set(np.unique(labels)) == {-1, 1}
    decision = fitted.decision_function(data)
    np.testing.assert_array_equal(labels == -1, decision < 0)
    np.testing.assert_allclose(decision, fitted.score_samples(data) - fitted.offset_)
    np.testing.assert_allclose(fitted.train_scores_, fitted.score_samples(data))
    assert fitted.estimator_.n_features_in_ == data.shape[1]


def test_score_is_minus_reconstruction_error_without_distance(data):
    detector = AnomalyDetector(tiny(max_epochs=5), distance_weight=0).fit(data)
    errors = detector.reconstruction_error(data)
    np.testing.assert_allclose(detector.score_samples(data), -errors, rtol=1e-4)
    assert np.all(errors >= 0)


def robust_z(X_train, X, clip=5.0):
    """The documented scaling, written out: median/IQR, clipped."""
    median = np.median(X_train, axis=0)
    q25, q75 = np.percentile(X_train, [25, 75], axis=0)
    return np.clip((X - median) / (q75 - q25), -clip, clip)


def test_distance_weight_one_ranks_rows_by_robust_distance(data):
    detector = AnomalyDetector(tiny(max_epochs=2), distance_weight=1).fit(data)
    distance = np.mean(robust_z(data, data) ** 2, axis=1)
    np.testing.assert_array_equal(
        np.argsort(-detector.score_samples(data)), np.argsort(distance)
    )


def test_weights_of_the_score_parts_resolve_from_auto(data):
    default = AnomalyDetector()._resolved_weights()
    assert default == pytest.approx(
        {"reconstruction": 0.1, "distance": 0.0, "neighbors": 0.8, "histogram": 0.1}
    )
    given = AnomalyDetector(tiny())._resolved_weights()
    assert given == pytest.approx(
        {"reconstruction": 2 / 3, "distance": 1 / 3, "neighbors": 0, "histogram": 0}
    )
    mixed = AnomalyDetector(distance_weight=0.5)._resolved_weights()
    assert mixed == pytest.approx(
        {"reconstruction": 0.05, "distance": 0.5, "neighbors": 0.4, "histogram": 0.05}
    )
    alone = AnomalyDetector(neighbors_weight=1)._resolved_weights()
    assert alone == {"reconstruction": 0, "distance": 0, "neighbors": 1, "histogram": 0}
    for too_much in (
        dict(distance_weight=0.5, neighbors_weight=0.7),
        dict(neighbors_weight=0.5, histogram_weight=0.6),
    ):
        detector = AnomalyDetector(tiny(max_epochs=1), **too_much)
        with pytest.raises(ValueError, match="distance_weight \\+ neighbors_weight"):
            detector.fit(data)
        assert not hasattr(detector, "offset_")


def test_histogram_weight_one_ranks_rows_by_their_columns_histograms(data):
    from skae._histograms import fit_histograms, histogram_scores

    detector = AnomalyDetector(
        tiny(max_epochs=1), distance_weight=0, histogram_weight=1
    ).fit(data)
    U = robust_z(data, data, clip=np.inf)  # the neighbour space: not clipped
    expected = histogram_scores(fit_histograms(U), U)
    np.testing.assert_allclose(
        detector._histogram_part(detector._neighbor_space(data)), expected
    )
    # score_samples falls as the histogram part rises
    order = np.argsort(expected, kind="stable")
    assert np.all(np.diff(detector.score_samples(data)[order]) <= 1e-12)
    assert detector.histograms_["log_shares"].shape == (data.shape[1], 10)


def test_a_value_in_an_empty_bin_raises_the_default_score(data):
    detector = AnomalyDetector(random_state=0).fit(data)
    row = np.median(data, axis=0, keepdims=True)
    odd = row.copy()
    column = data[:, 0]
    odd[0, 0] = column.min() + 0.95 * (column.max() - column.min())  # top bin
    hist = detector._histogram_part(detector._neighbor_space(odd))[0]
    assert hist > detector._histogram_part(detector._neighbor_space(row))[0]


def knn_mean_distance(reference, rows, k, leave_out_self=False):
    d = np.sqrt(((rows[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2))
    d = np.sort(d, axis=1)
    return d[:, 1 : k + 1].mean(axis=1) if leave_out_self else d[:, :k].mean(axis=1)


def test_neighbors_part_is_mean_distance_to_nearest_training_rows(data):
    detector = AnomalyDetector(
        tiny(max_epochs=1), distance_weight=0, neighbors_weight=1, n_neighbors=5
    ).fit(data)
    med = np.median(data, axis=0)
    q25, q75 = np.percentile(data, [25, 75], axis=0)
    U = (data - med) / (q75 - q25)  # robust scaling, not clipped
    np.testing.assert_allclose(detector.neighbors_reference_, U)
    # Training rows are scored without themselves; new rows against all.
    loo = knn_mean_distance(U, U, 5, leave_out_self=True)
    np.testing.assert_array_equal(np.argsort(-detector.train_scores_), np.argsort(loo))
    new = make_data(n=50, seed=1)
    new[0] = 5 * new[0]
    dist = knn_mean_distance(U, (new - med) / (q75 - q25), 5)
    np.testing.assert_array_equal(
        np.argsort(-detector.score_samples(new)), np.argsort(dist)
    )
    assert detector.predict(new[:1])[0] == -1


def test_unseen_category_is_far_from_every_training_row_in_the_neighbors_part(data):
    frame = pd.DataFrame(data[:, :3], columns=list("abc"))
    frame["kind"] = np.where(data[:, 0] > 0, "up", "down")
    detector = AnomalyDetector(tiny(max_epochs=1), distance_weight=0, neighbors_weight=1)
    detector.fit(frame)
    new = frame.iloc[:4].copy()
    new.loc[[0, 1], "kind"] = "sideways"  # never seen at fit
    new.loc[2, "kind"] = (
        "up" if new.loc[2, "kind"] == "down" else "down"
    )  # seen, mismatched
    parts = detector._neighbors_part(
        detector._neighbor_space(_tabular_encode(detector, new))
    )
    assert parts[0] > parts[2] and parts[1] > parts[2]
    assert min(parts[:2]) >= skae._anomaly.UNSEEN_CATEGORY_DISTANCE
    assert (detector.score_samples(new.iloc[:2]) < detector.train_scores_.min()).all()


def _tabular_encode(detector, frame):
    return skae._tabular.validate(detector, frame, reset=False)


def test_neighbors_reference_is_a_capped_random_sample(data, monkeypatch):
    monkeypatch.setattr(skae._neighbors, "MAX_REFERENCE_ROWS", 40)
    detector = AnomalyDetector(tiny(max_epochs=1), neighbors_weight=0.5, random_state=0)
    detector.fit(data)
    assert detector.neighbors_reference_.shape == (40, data.shape[1])
    # A row's score does not depend on the rows scored with it.
    scores = detector.score_samples(data)
    np.testing.assert_allclose(detector.score_samples(data[:7]), scores[:7])
    again = AnomalyDetector(tiny(max_epochs=1), neighbors_weight=0.5, random_state=0)
    np.testing.assert_array_equal(
        again.fit(data).neighbors_reference_, detector.neighbors_reference_
    )


def test_neighbor_search_shared_among_threads_gives_the_same_distances(monkeypatch):
    rng = np.random.RandomState(0)
    reference, rows = rng.randn(300, 4), rng.randn(1000, 4)
    rows[:300:7] = reference[:300:7]  # some rows are reference rows
    index = skae._neighbors.build_index(reference, 10)
    alone = skae._neighbors.mean_distances(index, reference, rows, 10)
    monkeypatch.setattr(skae._neighbors, "SEARCH_ROWS", 64)
    monkeypatch.setattr(skae._neighbors, "openmp_threads", lambda: 3)
    openmp_threads = []
    plain = index.kneighbors

    def kneighbors(*args, **kwargs):
        pools = threadpoolctl.threadpool_info()
        openmp_threads.append(
            [p["num_threads"] for p in pools if p["user_api"] == "openmp"]
        )
        return plain(*args, **kwargs)

    monkeypatch.setattr(index, "kneighbors", kneighbors)
    shared = skae._neighbors.mean_distances(index, reference, rows, 10)
    np.testing.assert_array_equal(shared, alone)
    assert len(openmp_threads) == 16  # 1,000 rows in blocks of 64
    # Each block runs on one OpenMP thread, in its own Python thread.
    assert all(counts == [1] * len(counts) for counts in openmp_threads)


def test_default_score_is_stouffer_mix_of_error_and_distance(fitted, data):
    def normal_score(train):
        """Phi^-1(1 - p) of training values, p their mid-rank right-tail share."""
        greater = (train[None, :] > train[:, None]).sum(axis=1)
        ties = (train[None, :] == train[:, None]).sum(axis=1)
        return norm.isf((greater + ties / 2 + 1) / (len(train) + 1))

    errors = fitted.reconstruction_error(data)
    distance = np.mean(robust_z(data, data) ** 2, axis=1)
    expected = -np.exp(2 / 3 * normal_score(errors) + 1 / 3 * normal_score(distance))
    np.testing.assert_allclose(fitted.score_samples(data), expected, rtol=1e-6)


def test_balanced_errors_weigh_every_feature_alike_on_training_rows(fitted, data):
    # Each feature's error is divided by its mean over the training rows, so a
    # feature the network reconstructs poorly everywhere does not dominate.
    shares = fitted.explain(data).mean(axis=0).to_numpy()
    np.testing.assert_allclose(shares, 1 / data.shape[1], rtol=1e-6)
    plain = AnomalyDetector(tiny(max_epochs=5), reconstruction_score="estimator")
    plain.fit(data)
    assert plain.feature_error_scale_ is None
    np.testing.assert_allclose(
        plain.reconstruction_error(data),
        -plain.estimator_.score_samples(plain._scale(data)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25])
def test_contamination_flags_that_share_of_training_rows(data, contamination):
    detector = AnomalyDetector(tiny(max_epochs=5), contamination=contamination)
    labels = detector.fit_predict(data)
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1 / len(data))


def test_auto_contamination_flags_rows_beyond_k_robust_log_deviations(fitted, data):
    def robust_log_z(values):
        t = np.log(values)
        median = np.median(t)
        return (t - median) / (MAD_TO_STD * np.median(np.abs(t - median)))

    w = fitted.score_weights_["distance"]
    errors = fitted.reconstruction_error(data)
    distance = np.mean(robust_z(data, data) ** 2, axis=1)
    z = ((1 - w) * robust_log_z(errors) + w * robust_log_z(distance)) / np.hypot(1 - w, w)
    flagged = np.mean(fitted.predict(data) == -1)
    share = np.clip(np.mean(z > 3.0), 0.005, 0.03)
    assert flagged == pytest.approx(share, abs=1 / len(data))


def test_auto_contamination_flags_planted_anomalies_without_knowing_their_share(data):
    rng = np.random.RandomState(1)
    # 6 of 306 rows (2 %): "auto" flags at most 3 % of the rows.
    anomalies = data[:6] + rng.choice([-3.0, 3.0], size=(6, data.shape[1]))
    X = np.vstack([data, anomalies])
    labels = AnomalyDetector(tiny(), random_state=0).fit_predict(X)
    assert np.all(labels[-6:] == -1)
    assert np.mean(labels[:-6] == -1) < 0.02


def test_planted_outlier_is_caught_and_explained():
    X = make_data(n=400, seed=1)
    outlier = X[:1].copy()
    outlier[0, 3] += 6 * X[:, 3].std()  # off the plane, along column 3 only
    X_train = np.vstack([X, outlier])
    detector = AnomalyDetector(random_state=0).fit(X_train)  # default network
    assert detector.predict(outlier)[0] == -1
    assert detector.score_samples(outlier)[0] < detector.train_scores_[:-1].min()
    explanation = detector.explain(outlier)
    assert explanation.iloc[0].idxmax() == "x3"


def test_default_estimator_is_sized_from_the_data():
    X = make_data(n=100)
    detector = AnomalyDetector(random_state=0).fit(np.hstack([X, X, X, X]))
    inner = detector.estimator_
    assert isinstance(inner, AutoencoderTransformer)
    # Three members (trained side by side as one grouped network, then one
    # fitted model each), each with a code of a quarter of the 24 columns and
    # a hidden layer twice as wide as them.
    assert detector.n_estimators_ == 3 and len(detector.estimators_) == 3
    assert all(member.groups == 1 for member in detector.estimators_)
    assert inner.n_components == 6 and inner.n_features_in_ == 24
    assert tuple(inner.hidden_layer_sizes) == (48,)
    assert detector.estimator is None


def test_default_ensemble_members_differ_and_are_averaged(data):
    detector = AnomalyDetector(random_state=0).fit(data)
    members = detector._member_squared_errors(data[:50].astype(np.float32))
    assert members.shape == (3, 50, data.shape[1])
    assert not np.allclose(members[0], members[1])
    # Each member's errors are balanced by its own training means, then averaged.
    scaled = detector._scale(data)
    balanced = (
        detector._member_squared_errors(scaled) / detector.feature_error_scale_[:, None]
    )
    np.testing.assert_allclose(
        detector.reconstruction_error(data), balanced.mean(axis=(0, 2)), rtol=1e-6
    )
    single = AnomalyDetector(n_estimators=1, random_state=0).fit(data)
    assert single.n_estimators_ == 1 and single.estimator_.groups == 1


def test_given_estimator_with_several_members_trains_differently_seeded_clones(data):
    detector = AnomalyDetector(tiny(random_state=5, max_epochs=3), n_estimators=2).fit(data)
    assert detector.n_estimators_ == 2 and len(detector.estimators_) == 2
    assert [e.random_state for e in detector.estimators_] == [5, 6]
    scaled = detector._scale(data)
    errors = [e.reconstruction_error(scaled) for e in detector.estimators_]
    assert not np.allclose(errors[0], errors[1])


def test_given_estimator_is_cloned_and_seeded(data):
    estimator = tiny(random_state=None, max_epochs=3)
    first = AnomalyDetector(estimator, random_state=3).fit(data)
    second = AnomalyDetector(estimator, random_state=3).fit(data)
    assert not hasattr(estimator, "net_")
    assert first.estimator_ is not estimator
    np.testing.assert_array_equal(first.score_samples(data), second.score_samples(data))


def test_nested_parameters_tune_in_grid_search(data):
    rng = np.random.RandomState(0)
    X = np.vstack([data, rng.uniform(-6, 6, size=(20, data.shape[1]))])
    y = np.r_[np.zeros(len(data)), np.ones(20)]

    def roc_auc(estimator, X, y):
        from sklearn.metrics import roc_auc_score

        return roc_auc_score(y, -estimator.score_samples(X))

    search = GridSearchCV(
        AnomalyDetector(tiny(max_epochs=5)),
        {"estimator__n_components": [1, 3]},
        scoring=roc_auc,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_["estimator__n_components"] in (1, 3)
    assert search.best_estimator_.estimator_.n_components_ in (1, 3)


# -- scaling -------------------------------------------------------------------------


def test_rescaling_a_column_does_not_change_scores(fitted, data):
    scaled = data.copy()
    scaled[:, 0] *= 1e6
    scaled[:, 1] = scaled[:, 1] * 1e-4 + 50
    other = AnomalyDetector(tiny(), random_state=0).fit(scaled)
    np.testing.assert_allclose(
        other.score_samples(scaled), fitted.score_samples(data), rtol=1e-3, atol=1e-6
    )


def test_extreme_value_is_clipped_not_overflowing(fitted, data):
    row = data[:1].copy()
    row[0, 2] = 1e30
    error = fitted.explain(row).iloc[0]
    assert np.isfinite(fitted.score_samples(row)).all()
    # A scaled value counts at most as clip=5 robust standard deviations.
    assert error["x2"] <= (5 + 5) ** 2 / data.shape[1]
    # Still among the 2 % most anomalous rows ("auto" flags only 0.5 % of these
    # clean training rows, so predict need not flag it).
    assert np.mean(fitted.train_scores_ < fitted.score_samples(row)[0]) < 0.02


@pytest.mark.parametrize(
    "scaler", ["standard", "minmax", None, QuantileTransformer(n_quantiles=50)]
)
def test_other_scalers(data, scaler):
    detector = AnomalyDetector(tiny(max_epochs=3), scaler=scaler).fit(data)
    assert np.isfinite(detector.score_samples(data)).all()
    if scaler is None:
        assert detector.scaler_ is None


def test_constant_columns_give_finite_scores(data):
    X = np.hstack([data, np.full((len(data), 1), 7.0), np.zeros((len(data), 1))])
    X[:3, -1] = 1.0  # mostly constant: zero interquartile range
    detector = AnomalyDetector(tiny(max_epochs=3)).fit(X)
    assert np.isfinite(detector.score_samples(X)).all()
    assert np.isfinite(detector.explain(X).to_numpy()).all()
    assert np.isfinite(detector.scaler_.scale_).all() and np.all(
        detector.scaler_.scale_ > 0
    )


def test_single_repeated_row_gives_finite_scores():
    X = np.tile([[1.0, -2.0, 3e5]], (20, 1))
    detector = AnomalyDetector(tiny(max_epochs=3)).fit(X)
    scores = detector.score_samples(X)
    assert np.isfinite(scores).all() and np.isfinite(detector.offset_)
    np.testing.assert_array_equal(detector.predict(X), 1)


# -- thresholds without retraining ---------------------------------------------------


def test_threshold_methods_change_offset_but_not_the_network(data):
    detector = AnomalyDetector(tiny(max_epochs=5), random_state=0).fit(data)
    before = weights(detector)
    inner = detector.estimator_
    y = np.zeros(len(data), dtype=int)
    y[np.argsort(detector.train_scores_)[:10]] = 1
    offsets = []
    for setter in [
        lambda d: d.set_threshold_from_contamination(0.2),
        lambda d: d.set_threshold_from_mad(k=1.0),
        lambda d: d.set_threshold_from_normal(data, false_alarm_rate=0.3),
        lambda d: d.set_threshold_from_labels(data, y),
    ]:
        assert setter(detector) is detector
        offsets.append(detector.offset_)
    assert len(set(offsets)) == len(offsets)
    assert detector.estimator_ is inner
    after = weights(detector)
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), name


def test_contamination_threshold_matches_refit(data):
    refit = AnomalyDetector(tiny(), contamination=0.1, random_state=0).fit(data)
    changed = AnomalyDetector(tiny(), random_state=0).fit(data)
    changed.set_threshold_from_contamination(0.1)
    assert changed.offset_ == pytest.approx(refit.offset_)
    np.testing.assert_array_equal(changed.predict(data), refit.predict(data))


def test_auto_threshold_comes_back_without_refitting(data):
    auto = AnomalyDetector(tiny(), random_state=0).fit(data)
    fixed = AnomalyDetector(tiny(), contamination=0.2, random_state=0).fit(data)
    assert fixed.auto_contamination_ == auto.auto_contamination_
    assert 0.005 <= auto.auto_contamination_ <= 0.03
    fixed.set_threshold_from_contamination("auto")
    assert fixed.offset_ == auto.offset_
    np.testing.assert_array_equal(fixed.predict(data), auto.predict(data))
    with pytest.raises(ValueError, match="or 'auto'; got 'AUTO'"):
        fixed.set_threshold_from_contamination("AUTO")
    fixed.auto_contamination_ = None  # as in a file saved before it was kept
    with pytest.raises(ValueError, match="refit"):
        fixed.set_threshold_from_contamination("auto")


def test_mad_threshold_is_monotone_in_k(fitted, data):
    shares = [
        np.mean(fitted.set_threshold_from_mad(k).predict(data) == -1) for k in (1, 2, 3.5)
    ]
    assert shares[0] > shares[1] >= shares[2]


@pytest.mark.parametrize("rate", [0.02, 0.1])
def test_false_alarm_rate_on_known_normal_rows(fitted, rate):
    X_normal = make_data(n=500, seed=5)
    fitted.set_threshold_from_normal(X_normal, false_alarm_rate=rate)
    assert np.mean(fitted.predict(X_normal) == -1) == pytest.approx(rate, abs=0.01)


@pytest.fixture(scope="module")
def labelled(fitted):
    rng = np.random.RandomState(2)
    normal = make_data(n=200, seed=3)
    anomalies = normal[:15] + rng.normal(scale=1.5, size=(15, 6))
    X = np.vstack([normal, anomalies])
    y = np.r_[np.zeros(200, dtype=int), np.ones(15, dtype=int)]
    return X, y


def test_labels_threshold_maximises_f1(fitted, labelled):
    X, y = labelled
    fitted.set_threshold_from_labels(X, y)
    flagged = fitted.predict(X) == -1
    best = f1_score(y, flagged)
    scores = fitted.score_samples(X)
    ordered = np.sort(scores)
    candidates = (ordered[:-1] + ordered[1:]) / 2
    assert best >= max(f1_score(y, scores < c) for c in candidates) - 1e-12
    assert best > 0.5


def test_labels_threshold_reaches_precision(fitted, labelled):
    X, y = labelled
    fitted.set_threshold_from_labels(X, y, min_precision=0.95)
    flagged = fitted.predict(X) == -1
    assert precision_score(y, flagged) >= 0.95
    recall = recall_score(y, flagged)
    # No looser threshold keeps the precision with more recall.
    scores = fitted.score_samples(X)
    ordered = np.sort(scores)
    for c in (ordered[:-1] + ordered[1:]) / 2:
        more = scores < c
        if more.any() and precision_score(y, more) >= 0.95:
            assert recall_score(y, more) <= recall


def test_labels_threshold_rejects_bad_labels(fitted, labelled):
    X, y = labelled
    with pytest.raises(ValueError, match="-1 = outlier"):
        fitted.set_threshold_from_labels(X, np.where(y == 1, -1, 1))
    with pytest.raises(ValueError, match="at least one anomaly"):
        fitted.set_threshold_from_labels(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="rows but y has"):
        fitted.set_threshold_from_labels(X, y[:-1])
    with pytest.raises(ValueError, match=r"min_precision must be .*; got 1\.5"):
        fitted.set_threshold_from_labels(X, y, min_precision=1.5)


def test_unreachable_precision_is_a_clear_error(fitted):
    X = make_data(n=40, seed=7)
    y = np.zeros(40, dtype=int)
    y[np.argmax(fitted.score_samples(X))] = 1  # the most normal row is the anomaly
    with pytest.raises(ValueError, match="No threshold reaches min_precision"):
        fitted.set_threshold_from_labels(X, y, min_precision=1.0)


def test_precision_is_a_deprecated_alias_of_min_precision(fitted, labelled):
    X, y = labelled
    offset = fitted.set_threshold_from_labels(X, y, min_precision=0.95).offset_
    positional = fitted.set_threshold_from_labels(X, y, 0.95).offset_
    with pytest.warns(FutureWarning, match=r"precision .*renamed min_precision.*0\.4"):
        old = fitted.set_threshold_from_labels(X, y, precision=0.95).offset_
    assert old == offset == positional
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=r"precision must be .*; got 1\.5"),
    ):
        fitted.set_threshold_from_labels(X, y, precision=1.5)
    with pytest.raises(ValueError, match="give min_precision only, not both"):
        fitted.set_threshold_from_labels(X, y, min_precision=0.9, precision=0.9)
    assert fitted.offset_ == old  # the refused calls changed nothing


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: d.set_threshold_from_contamination(0.9), "contamination"),
        (lambda d: d.set_threshold_from_contamination(0), "contamination"),
        (lambda d: d.set_threshold_from_mad(-1), "k must be"),
        (lambda d: d.set_threshold_from_normal(make_data(20), 1.5), "false_alarm_rate"),
    ],
)
def test_threshold_arguments_are_validated(fitted, call, match):
    offset = fitted.offset_
    with pytest.raises(ValueError, match=match):
        call(fitted)
    assert fitted.offset_ == offset


# -- explanations --------------------------------------------------------------------


def test_explain_rows_sum_to_reconstruction_error(fitted, data):
    explanation = fitted.explain(data[:20])
    assert isinstance(explanation, pd.DataFrame)
    assert explanation.shape == (20, 6)
    assert list(explanation.columns) == [f"x{i}" for i in range(6)]
    assert (explanation.to_numpy() >= 0).all()
    np.testing.assert_allclose(
        explanation.sum(axis=1).to_numpy(), fitted.reconstruction_error(data[:20])
    )


def test_explain_carries_feature_names_and_index(data):
    columns = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    frame = pd.DataFrame(data, columns=columns, index=[f"r{i}" for i in range(len(data))])
    detector = AnomalyDetector(tiny(max_epochs=3)).fit(frame)
    explanation = detector.explain(frame.iloc[5:9])
    assert list(explanation.columns) == columns
    assert list(explanation.index) == ["r5", "r6", "r7", "r8"]
    np.testing.assert_allclose(
        explanation.sum(axis=1).to_numpy(), detector.reconstruction_error(frame.iloc[5:9])
    )


class ProbabilisticScore(AutoencoderTransformer):
    """Stands in for a VAE: its score is not minus the reconstruction error."""

    def score_samples(self, X):
        return -2.0 * self.reconstruction_error(X) - 1.0


def test_score_comes_from_the_inner_estimator_and_explain_from_errors(data):
    detector = AnomalyDetector(
        ProbabilisticScore(n_components=2, max_epochs=3),
        distance_weight=0,
        reconstruction_score="estimator",
    ).fit(data)
    errors = detector.reconstruction_error(data)
    np.testing.assert_allclose(detector.score_samples(data), -2 * errors - 1, rtol=1e-4)
    np.testing.assert_allclose(detector.explain(data).sum(axis=1), errors)


def test_auto_score_uses_a_vaes_elbo_and_balanced_errors_otherwise(data):
    vae = AnomalyDetector(
        VAETransformer(
            n_components=2, hidden_layer_sizes=(8,), max_epochs=3, random_state=0
        ),
        distance_weight=0,
    ).fit(data)
    assert vae.feature_error_scale_ is None
    elbo = vae.estimator_.score_samples(vae._scale(data))
    np.testing.assert_allclose(vae.score_samples(data), elbo, rtol=1e-6)

    denoiser = AnomalyDetector(
        DenoisingAutoencoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=3),
        distance_weight=0,
    ).fit(data)
    assert denoiser.feature_error_scale_.shape == (1, data.shape[1])
    np.testing.assert_allclose(
        denoiser.score_samples(data), -denoiser.reconstruction_error(data), rtol=1e-6
    )


# -- one model per member, chunks, data larger than memory ---------------------------


def test_members_are_cut_out_of_the_grouped_network(data):
    # The grouped network the default ensemble trains, and the three plain
    # autoencoders split_grouped makes of it: member g reconstructs a row as
    # block g of the grouped network does.
    from skae._anomaly import split_grouped
    from skae._anomaly_defaults import default_estimator

    Z = AnomalyDetector(tiny()).fit(data)._scale(data)
    grouped = default_estimator(len(Z), 6, random_state=0, n_members=3)
    grouped.fit(np.hstack([Z, Z[::-1], Z]))
    members = split_grouped(grouped, 3)
    assert [type(m) for m in members] == [AutoencoderTransformer] * 3
    assert all(m.groups == 1 and m.n_features_in_ == 6 for m in members)
    blocks = np.split(grouped.reconstruct(np.tile(Z, 3)), 3, axis=1)
    for member, block in zip(members, blocks, strict=True):
        np.testing.assert_allclose(member.reconstruct(Z), block, rtol=1e-5, atol=1e-6)
        assert member.transform(Z).shape == (len(Z), grouped.n_components // 3)
    assert not np.allclose(blocks[0], blocks[1])


def test_n_members_is_a_deprecated_alias_of_n_estimators(fitted):
    with pytest.warns(FutureWarning, match="n_estimators_"):
        assert fitted.n_members_ == fitted.n_estimators_ == 1


def test_files_holding_the_grouped_network_still_load(data):
    # Files written before estimators_ held one model per member stored the
    # grouped network and n_members_; loading cuts the network up.
    from skae._anomaly_defaults import default_estimator

    new = AnomalyDetector(random_state=0).fit(data)
    grouped = default_estimator(len(data), 6, random_state=0, n_members=3)
    grouped.fit(np.tile(new._scale(data), 3))
    state = {k: v for k, v in vars(new).items() if k.endswith("_")}
    state.update(estimators_=[grouped], estimator_=grouped, n_members_=3)
    del state["n_estimators_"]
    old = AnomalyDetector(random_state=0)
    old._set_persist_state(state)
    assert old.n_estimators_ == 3 and len(old.estimators_) == 3
    expected = np.split(grouped.reconstruct(np.tile(new._scale(data), 3)), 3, axis=1)
    got = old._member_reconstructions(new._scale(data))
    for block, member in zip(expected, got, strict=True):
        np.testing.assert_allclose(member, block, rtol=1e-5, atol=1e-6)


def outputs(detector, X):
    return {
        "score_samples": detector.score_samples(X),
        "decision_function": detector.decision_function(X),
        "predict": detector.predict(X),
        "reconstruction_error": detector.reconstruction_error(X),
        "explain": detector.explain(X).to_numpy(),
    }


def assert_same_outputs(first, second):
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.fixture(scope="module")
def default_fitted(data):
    return AnomalyDetector(random_state=0).fit(data)


def test_scores_do_not_depend_on_the_chunk_size(default_fitted, data, monkeypatch):
    expected = outputs(default_fitted, data)
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 7)
    assert_same_outputs(outputs(default_fitted, data), expected)
    # Nor on the rows scored together: one row at a time gives the same.
    one_by_one = np.concatenate([default_fitted.score_samples(row[None]) for row in data])
    np.testing.assert_array_equal(one_by_one, expected["score_samples"])


def test_memmap_scores_chunk_by_chunk_like_in_memory(
    default_fitted, data, memmap_of, monkeypatch
):
    X = memmap_of(data, np.float32)
    expected = outputs(default_fitted, np.asarray(X))
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 7)
    assert_same_outputs(outputs(default_fitted, X), expected)


def test_small_memmap_fits_exactly_as_in_memory(data, memmap_of):
    X = memmap_of(data, np.float32)
    on_disk = AnomalyDetector(random_state=0).fit(X)
    in_memory = AnomalyDetector(random_state=0).fit(np.asarray(X))
    assert_same_outputs(outputs(on_disk, data), outputs(in_memory, data))


class CountingRows:
    """A lazily sliced array that records how many rows each read returns."""

    def __init__(self, X):
        self.X, self.shape, self.dtype, self.ndim = X, X.shape, X.dtype, 2
        self.reads = []

    def __getitem__(self, key):
        rows = self.X[key]
        self.reads.append(len(rows))
        return rows


@pytest.fixture
def small_chunks(monkeypatch):
    """Limits small enough for a 600-row table to take the out-of-memory path."""
    monkeypatch.setattr(skae._anomaly, "SAMPLE_ROWS", 200)
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 64)
    monkeypatch.setattr(skae._data, "CHUNK_BYTES", 6144)  # 128 to 256 rows


def with_outliers(n=600, seed=0):
    X = make_data(n=n, seed=seed)
    X[:5] += np.random.RandomState(seed).choice([-4.0, 4.0], size=(5, X.shape[1]))
    return X


def test_lazy_fit_reads_chunks_and_calibrates_on_a_sample(small_chunks):
    X = with_outliers()
    lazy = CountingRows(X)
    detector = AnomalyDetector(random_state=0).fit(lazy)
    assert max(lazy.reads) < len(X) / 2  # never the whole array at once
    assert detector.n_samples_seen_ == 600
    assert detector.train_scores_.shape == (200,)  # the calibration sample
    assert detector.feature_error_scale_.shape == (3, 6)
    assert detector.scaler_.center_ == pytest.approx(np.median(X, axis=0), abs=0.5)
    scores = detector.score_samples(lazy)
    np.testing.assert_array_equal(scores, detector.score_samples(X))
    assert np.all(detector.predict(X[:5]) == -1)
    assert np.mean(detector.predict(X[5:]) == -1) < 0.25
    # The calibration sample stands for the training rows.
    detector.set_threshold_from_contamination(0.1)
    assert abs(np.mean(scores < detector.offset_) - 0.1) < 0.05


def test_lazy_fit_with_a_given_estimator_and_bad_values(small_chunks):
    X = with_outliers()
    detector = AnomalyDetector(tiny(max_epochs=3), n_estimators=2, random_state=0)
    detector.fit(CountingRows(X))
    assert len(detector.estimators_) == 2 and detector.train_scores_.shape == (200,)
    X[400, 2] = np.nan  # beyond the sample's first chunk: found while training
    with pytest.raises(ValueError, match="NaN"):
        AnomalyDetector(tiny(max_epochs=1)).fit(CountingRows(X))
    with pytest.raises(ValueError, match="features"):
        detector.score_samples(CountingRows(X[:, :4]))


def test_partial_fit_continues_networks_and_recalibrates_on_rows_seen(small_chunks):
    X = with_outliers(n=900)
    chunks = np.array_split(np.random.RandomState(0).permutation(X), 6)
    # No neighbour part: a row of the reference scores without itself in
    # train_scores_ (tested below), which this test's equality would not see.
    detector = AnomalyDetector(random_state=0, neighbors_weight=0)
    references = []
    for _epoch in range(5):
        for chunk in chunks:
            assert detector.partial_fit(chunk) is detector
        references.append(detector.reconstruction_scale_["reference"].copy())
    assert detector.n_samples_seen_ == 5 * 900
    # Recalibrated as the networks train: the training rows' reference errors
    # move at every epoch (offset_ itself, a quantile of rank-based normal
    # scores, can repeat once the share flagged by "auto" settles).
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(references))
    assert [e.n_epochs_ for e in detector.estimators_] == [30, 30, 30]
    assert len(detector.estimators_) == 3 and detector.estimator_.groups == 1
    # The threshold is set on a uniform sample of the rows seen (200 here).
    assert detector.train_scores_.shape == (200,)
    sample = detector._calibration_rows
    assert all(np.isin(sample, part).all(axis=1).any() for part in chunks)
    np.testing.assert_allclose(detector.train_scores_, detector.score_samples(sample))
    assert np.all(detector.predict(X[:5]) == -1)
    assert np.mean(detector.predict(X[5:]) == -1) < 0.25
    # Same calls, same model.
    again = AnomalyDetector(random_state=0, neighbors_weight=0)
    for _epoch in range(5):
        for chunk in chunks:
            again.partial_fit(chunk)
    np.testing.assert_array_equal(again.score_samples(X), detector.score_samples(X))


def test_partial_fit_continues_a_fitted_detector_and_survives_failure(data):
    detector = AnomalyDetector(tiny(max_epochs=2), random_state=0).fit(data)
    before = weights(detector)
    detector.partial_fit(data)
    assert detector.estimator_.n_epochs_ == 3
    assert detector.n_samples_seen_ == 2 * len(data)
    after = weights(detector)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    scores = detector.score_samples(data)
    with pytest.raises(ValueError, match="features"):
        detector.partial_fit(data[:, :4])
    np.testing.assert_array_equal(detector.score_samples(data), scores)


def test_dask_arrays_score_like_in_memory(default_fitted, data):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = da.from_array(data, chunks=(47, 6))
    scores = X.map_blocks(default_fitted.score_samples, drop_axis=1, dtype="float64")
    np.testing.assert_array_equal(scores.compute(), default_fitted.score_samples(data))
    labels = wrappers.ParallelPostFit(estimator=default_fitted).predict(X)
    np.testing.assert_array_equal(labels.compute(), default_fitted.predict(data))
    # A dask array is also a lazily sliced array: scored chunk by chunk directly.
    np.testing.assert_array_equal(
        default_fitted.decision_function(X), default_fitted.decision_function(data)
    )


def test_verbose_reports_the_stages_of_a_fit(data, capsys):
    AnomalyDetector(tiny(max_epochs=2), verbose=1).fit(data)
    out = capsys.readouterr().out
    for stage in ("fitting the scaler", "training network", "calibrating", "done"):
        assert f"[AnomalyDetector] {stage}" in out
    AnomalyDetector(tiny(max_epochs=2)).fit(data)
    assert capsys.readouterr().out == ""


# -- bad input -----------------------------------------------------------------------


def test_bad_input_raises_clear_errors(fitted, data):
    with_inf = data.copy()
    with_inf[0, 0] = np.inf  # NaN marks a missing cell (tests/test_tabular.py)
    with pytest.raises(ValueError, match="infinity"):
        AnomalyDetector(tiny()).fit(with_inf)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(data[:, :4])
    with pytest.raises(ValueError, match="contamination"):
        AnomalyDetector(tiny(), contamination=0.7).fit(data)
    with pytest.raises(ValueError, match="scaler"):
        AnomalyDetector(tiny(), scaler="log").fit(data)
    with pytest.raises(ValueError, match="estimator"):
        AnomalyDetector(estimator="autoencoder").fit(data)
    huge = data.copy()
    huge[0, 0] = 1e300
    with pytest.raises(ValueError, match="float32"):
        AnomalyDetector(tiny(), scaler=None, clip=None).fit(huge)
    with pytest.raises(ValueError, match="minimum of 2"):
        AnomalyDetector(tiny()).fit(data[:1])
    with pytest.raises(NotFittedError):
        AnomalyDetector().explain(data)
    with pytest.raises(NotFittedError):
        AnomalyDetector().set_threshold_from_mad()


@pytest.mark.parametrize("n_estimators", ["auto", 2])
def test_ensembles_round_trip_through_save_and_load(data, tmp_path, n_estimators):
    estimator = None if n_estimators == "auto" else tiny(max_epochs=2)
    detector = AnomalyDetector(estimator, n_estimators=n_estimators, random_state=0)
    detector.fit(data)
    path = tmp_path / "detector.safetensors"
    detector.save(path)
    loaded = skae.load(path)
    assert loaded.n_estimators_ == detector.n_estimators_
    assert len(loaded.estimators_) == len(detector.estimators_)
    np.testing.assert_array_equal(loaded.score_samples(data), detector.score_samples(data))
    np.testing.assert_array_equal(loaded.explain(data[:5]), detector.explain(data[:5]))


# -- contamination="auto" on clean data (issue 11) --------------------------------------


def test_auto_contamination_flags_few_rows_of_clean_gaussian_data():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(1500, 6)) @ rng.normal(size=(6, 6))
    detector = AnomalyDetector(tiny(max_epochs=20), random_state=0).fit(X[:1000])
    train_share = np.mean(detector.predict(X[:1000]) == -1)
    fresh_share = np.mean(detector.predict(X[1000:]) == -1)
    assert 0.005 <= train_share <= 0.03
    assert fresh_share <= 0.05


def test_auto_contamination_counts_rows_far_beyond_the_bulk():
    from skae._thresholds import auto_contamination

    rng = np.random.RandomState(0)
    clean = np.exp(rng.normal(size=(2, 20_000)))  # lognormal errors and distances
    # Beyond 3 robust deviations: 0.13 % of clean rows, raised to the floor.
    assert auto_contamination(list(clean), [2 / 3, 1 / 3], 3.0) == 0.005
    assert auto_contamination(list(clean), [2 / 3, 1 / 3], 2.326) == pytest.approx(
        0.01, abs=0.003
    )
    # 2 % of rows far out in both parts: all of them are counted ...
    dirty = clean.copy()
    dirty[:, :400] *= 1000
    assert auto_contamination(list(dirty), [2 / 3, 1 / 3], 3.0) == pytest.approx(
        0.02, abs=0.003
    )
    # ... up to the ceiling.
    dirty[:, :4000] *= 1000
    assert auto_contamination(list(dirty), [2 / 3, 1 / 3], 3.0) == 0.03
    # Signed scores (no log) are used on their own scale.
    signed = rng.normal(size=20_000)
    assert auto_contamination([signed], [1.0], 2.326) == pytest.approx(0.01, abs=0.003)


def test_model_state_saved_before_the_neighbor_part_keeps_its_two_part_score(data):
    from skae._persistence import default_persist_state

    old = AnomalyDetector(tiny(max_epochs=2), distance_weight=1 / 3, neighbors_weight=0)
    old.fit(data)
    state = default_persist_state(old)
    for name in ("score_weights_", "neighbors_reference_", "neighbors_scale_"):
        state.pop(name)  # what a file written by skae 0.1 holds
    loaded = AnomalyDetector(tiny(max_epochs=2), distance_weight=1 / 3)
    loaded._set_persist_state(state)
    assert loaded.neighbors_weight == 0
    assert loaded.score_weights_ == pytest.approx(
        {"reconstruction": 2 / 3, "distance": 1 / 3, "neighbors": 0, "histogram": 0}
    )
    np.testing.assert_array_equal(loaded.score_samples(data), old.score_samples(data))


def test_model_state_saved_before_the_histogram_part_keeps_its_score(data):
    from skae._persistence import default_persist_state

    old = AnomalyDetector(random_state=0, histogram_weight=0, neighbors_weight=0.8)
    old.fit(data)
    state = default_persist_state(old)
    for name in ("histograms_", "histogram_scale_"):
        state.pop(name)  # what a file written by skae 0.2 holds
    state["score_weights_"] = {
        k: v for k, v in state["score_weights_"].items() if k != "histogram"
    }
    loaded = AnomalyDetector(random_state=0, neighbors_weight=0.8)  # "auto" histogram
    loaded._set_persist_state(state)
    assert loaded.histogram_weight == 0
    assert loaded.score_weights_["histogram"] == 0
    np.testing.assert_array_equal(loaded.score_samples(data), old.score_samples(data))


def test_sparse_input_is_scored_as_its_dense_rows(data, monkeypatch):
    import scipy.sparse as sp

    X = np.where(np.abs(data) > 0.5, data, 0.0)
    sparse = AnomalyDetector(tiny(max_epochs=2), random_state=0).fit(sp.csr_matrix(X))
    dense = AnomalyDetector(tiny(max_epochs=2), random_state=0).fit(X)
    np.testing.assert_array_equal(
        sparse.score_samples(sp.csc_matrix(X[:20])), dense.score_samples(X[:20])
    )
    monkeypatch.setattr(skae._anomaly, "MAX_DENSE_BYTES", 1000)
    with pytest.raises(TypeError, match="TruncatedSVD"):
        sparse.score_samples(sp.csr_matrix(X))


def test_chunks_shared_among_threads_score_as_one_thread(default_fitted, data, monkeypatch):
    monkeypatch.setattr(skae._anomaly, "CHUNK_ROWS", 16)
    monkeypatch.setattr(skae._anomaly, "openmp_threads", lambda: 1)
    alone = outputs(default_fitted, data)
    torch_threads_seen = []
    plain = skae._anomaly.AnomalyDetector._score_rows

    def score_rows(self, chunk):
        torch_threads_seen.append((threading.get_ident(), torch.get_num_threads()))
        return plain(self, chunk)

    monkeypatch.setattr(skae._anomaly, "openmp_threads", lambda: 3)
    monkeypatch.setattr(skae._anomaly.AnomalyDetector, "_score_rows", score_rows)
    assert_same_outputs(outputs(default_fitted, data), alone)
    # Of the 19 chunks of each call scoring rows (score_samples, and through
    # it decision_function and predict), the first here, the others in worker
    # threads on one torch thread.
    main = threading.get_ident()
    workers = [count for ident, count in torch_threads_seen if ident != main]
    assert len(torch_threads_seen) == 3 * 19
    assert len(workers) == 3 * 18
    assert set(workers) == {1}

"""Per-column histograms: the histogram part of the detector's score."""

import numpy as np
import pytest

from skae._histograms import ALPHA, N_BINS, fit_histograms, histogram_scores


def test_a_value_in_a_rare_bin_scores_higher_than_one_in_a_full_bin():
    rng = np.random.RandomState(0)
    U = rng.normal(size=(1000, 3))
    histograms = fit_histograms(U)
    common = np.zeros((1, 3))
    rare = np.array([[0.0, 0.0, U[:, 2].max() - 1e-9]])  # the top bin of column 2
    assert histogram_scores(histograms, rare)[0] > histogram_scores(histograms, common)[0]


def test_the_score_is_minus_the_sum_of_log_shares_plus_alpha():
    U = np.array([[0.0], [0.0], [0.0], [10.0]])  # 3 rows in bin 0, 1 in bin 9
    histograms = fit_histograms(U)
    scores = histogram_scores(histograms, np.array([[0.5], [9.5], [5.0]]))
    expected = -np.log(np.array([0.75, 0.25, 0.0]) + ALPHA)
    np.testing.assert_allclose(scores, expected)


def test_values_just_beyond_the_range_count_in_the_edge_bin_and_far_ones_as_the_rarest():
    U = np.r_[np.zeros(9), np.full(1, 10.0)][:, None]  # bin width 1
    histograms = fit_histograms(U)
    lowest = histogram_scores(histograms, np.array([[0.0]]))[0]
    assert histogram_scores(histograms, np.array([[-0.4]]))[0] == lowest
    rarest = -np.log(ALPHA)  # an empty bin
    assert histogram_scores(histograms, np.array([[-5.0]]))[0] == pytest.approx(rarest)
    assert histogram_scores(histograms, np.array([[1e9]]))[0] == pytest.approx(rarest)


def test_the_scores_do_not_depend_on_the_columns_units():
    rng = np.random.RandomState(1)
    U = rng.lognormal(size=(500, 4))
    rows = rng.lognormal(size=(50, 4))
    scale = np.array([1e-6, 1.0, 1e3, 1e8])
    np.testing.assert_allclose(
        histogram_scores(fit_histograms(U), rows),
        histogram_scores(fit_histograms(U * scale - 7), rows * scale - 7),
    )


def test_a_constant_column_adds_nothing():
    rng = np.random.RandomState(2)
    U = np.c_[rng.normal(size=200), np.full(200, 3.0)]
    rows = np.c_[rng.normal(size=20), rng.normal(size=20)]
    with_constant = histogram_scores(fit_histograms(U), rows)
    without = histogram_scores(fit_histograms(U[:, :1]), rows[:, :1])
    np.testing.assert_allclose(with_constant, without)


def test_the_fitted_histograms_hold_one_row_of_bins_per_column():
    histograms = fit_histograms(np.random.RandomState(3).normal(size=(50, 5)))
    assert histograms["log_shares"].shape == (5, N_BINS)
    shares = np.exp(histograms["log_shares"]) - ALPHA
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)

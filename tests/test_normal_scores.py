"""Normal scores that put the detector's reconstruction and distance parts on one scale."""

import numpy as np
import pytest
from scipy.stats import norm

from skae._normal_scores import (
    MAX_REFERENCE_VALUES,
    TAIL_SLOPE,
    fit_normal_scale,
    normal_scores,
)


def test_training_values_get_standard_normal_scores_whatever_their_units():
    rng = np.random.RandomState(0)
    errors = rng.lognormal(mean=-3, sigma=2, size=2000)  # skewed, tiny units
    for values in (errors, 1e6 * errors):
        z = normal_scores(values, fit_normal_scale(values))
        assert abs(z.mean()) < 0.01
        assert z.std() == pytest.approx(1.0, abs=0.02)


def test_the_score_is_the_mid_rank_p_value_at_training_values_interpolated_between():
    train = np.array([1.0, 2.0, 2.0, 3.0, 10.0])
    values = np.array([0.5, 1.0, 2.0, 2.5, 10.0])
    # p = (values above + half the ties + 1) / (n + 1) at the distinct values
    at = {1.0: 5.5 / 6, 2.0: 4 / 6, 3.0: 2.5 / 6, 10.0: 1.5 / 6}
    expected = norm.isf([at[1.0], at[1.0], at[2.0], np.nan, at[10.0]])
    expected[3] = (norm.isf(at[2.0]) + norm.isf(at[3.0])) / 2
    np.testing.assert_allclose(normal_scores(values, fit_normal_scale(train)), expected)


def test_the_score_is_continuous_in_the_value():
    train = np.random.RandomState(4).normal(size=300)
    scale = fit_normal_scale(train)
    nudged = normal_scores(train * (1 + 1e-7), scale) - normal_scores(train, scale)
    assert np.abs(nudged).max() < 1e-4


def test_rows_beyond_the_training_maximum_stay_ordered_but_barely_grow():
    rng = np.random.RandomState(1)
    train = rng.lognormal(size=500)
    scale = fit_normal_scale(train)
    beyond = train.max() * np.array([1.0001, 2.0, 10.0, 1e6])
    z = normal_scores(beyond, scale)
    assert np.all(np.isfinite(z)) and np.all(np.diff(z) > 0)
    top = norm.isf(1.5 / 501)  # the largest training value's score
    # One robust standard deviation of log-values further adds TAIL_SLOPE.
    assert z[-1] - top < TAIL_SLOPE * np.log(1e6) / scale["tail_unit"] + 1e-9
    assert z[0] > top


def test_constant_and_negative_scores_give_finite_ordered_scores():
    constant = np.zeros(100)
    z = normal_scores(np.array([-1.0, 0.0, 1.0]), fit_normal_scale(constant))
    assert np.all(np.isfinite(z)) and np.all(np.diff(z) >= 0) and z[2] > z[1]
    elbo_like = -np.random.RandomState(2).gamma(2.0, size=300) + 1.0  # some negative
    scale = fit_normal_scale(elbo_like)
    assert not scale["use_log"]
    z = normal_scores(np.array([elbo_like.max() + 1, elbo_like.max() + 5]), scale)
    assert np.all(np.isfinite(z)) and z[1] > z[0]


def test_large_training_sets_keep_a_bounded_reference():
    values = np.random.RandomState(3).normal(size=5 * MAX_REFERENCE_VALUES)
    scale = fit_normal_scale(values)
    assert scale["reference"].shape == (MAX_REFERENCE_VALUES,)
    # The evenly spaced quantiles of the training values (numpy's "linear").
    levels = np.linspace(0, 1, MAX_REFERENCE_VALUES)
    np.testing.assert_allclose(
        scale["reference"], np.quantile(values, levels), rtol=0, atol=1e-12
    )
    z = normal_scores(values, scale)
    assert z.std() == pytest.approx(1.0, abs=0.02)


def test_nearly_tied_training_scores_do_not_blow_up_the_tail():
    tied = np.full(200, 0.5) + np.random.RandomState(5).normal(scale=1e-12, size=200)
    scale = fit_normal_scale(tied)
    z = normal_scores(np.array([1.0, 10.0]), scale)
    top = norm.isf(1.5 / 201)
    # log(10 / 0.5) = 3 at most in units of MIN_LOG_TAIL_UNIT (0.1): 30 * TAIL_SLOPE
    assert z[1] - top <= TAIL_SLOPE * np.log(20.0) / 0.1 + 1e-6
    assert z[1] > z[0] > top

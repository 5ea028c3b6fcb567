"""scikit-learn's own estimator checks over every public estimator.

Each estimator appears once in ``FAST_ESTIMATORS`` with parameters that keep
the checks quick (tiny networks, two epochs); expected failures, if any, are
listed in ``EXPECTED_FAILURES`` with their reason.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AnomalyDetector, AutoencoderTransformer

TINY = dict(hidden_layer_sizes=(4,), max_epochs=2, batch_size=16, random_state=0)

FAST_ESTIMATORS = [
    AutoencoderTransformer(n_components=2, **TINY),
    AnomalyDetector(AutoencoderTransformer(n_components=2, **TINY), random_state=0),
]

# {estimator class name: {check name: reason}}; empty is the goal.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(FAST_ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

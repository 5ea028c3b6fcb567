"""scikit-learn's own estimator checks over every public estimator.

Each estimator appears once in ``FAST_ESTIMATORS`` with parameters that keep
the checks quick (tiny networks, two epochs), and once more in
``DEFAULT_ESTIMATORS`` at its default parameters -- what users run; expected
failures, if any, are listed in ``EXPECTED_FAILURES`` with their reason.
"""

from _skae_estimators import CLASSES, make
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import (
    AutoencoderImputer,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    VAETransformer,
)

# The fast configuration of every public estimator comes from the one registry
# of tests/_skae_estimators.py (discovered from skae.__all__); the extra
# architectures below use its network size without a code width.
TINY = dict(hidden_layer_sizes=(4,), max_epochs=2, batch_size=16, random_state=0)

FAST_ESTIMATORS = [
    *(make(cls) for cls in CLASSES),
    # Rows of any width as 1 x width images / univariate sequences.
    AutoencoderTransformer(architecture="conv", input_shape=(1, 1, -1), **TINY),
    AutoencoderTransformer(architecture="lstm", **TINY),
    DenoisingAutoencoder(noise="mask", architecture="conv", input_shape=(1, -1, 1), **TINY),
    VAETransformer(architecture="lstm", input_shape=(-1, 1), **TINY),
    AutoencoderImputer(n_components=2, add_indicator=True, **TINY),
]

# Every public estimator at its default parameters (what users run).
DEFAULT_ESTIMATORS = [cls() for cls in CLASSES]

# {estimator class name: {check name: reason}}; empty is the goal.
# The variational autoencoder's score sums float32 terms (reconstruction and KL)
# whose dense kernels differ by ~1 ulp between a batch of 10 rows and one of 20:
# on one host the fast MLP configuration gave -4.131764 against -4.131763 for 1
# row of 20 (2.4e-7 relative), every run, while it passed on others; the
# check's rtol=1e-7 is finer than float32 resolution. Non-strict xfail.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "VAETransformer": {
        "check_methods_subset_invariance": (
            "float32 dense kernels differ by ~1 ulp between batch sizes on some "
            "CPUs; the check's rtol=1e-7 is finer than float32 resolution"
        )
    }
}

# Convolution and LSTM kernels pick their float32 GEMM path by batch size, so a
# row's score can differ in the last bit (1-2 ulp, ~1.3e-7 relative) between a
# batch of 10 rows and one of 20; the check's rtol=1e-7 is below float32
# resolution. It fails or passes by luck of the data (non-strict xfail).
EXPECTED_FAILURES_BY_ARCHITECTURE: dict[str, dict[str, str]] = {
    arch: {
        "check_methods_subset_invariance": (
            "float32 conv/LSTM kernels differ by ~1 ulp between batch sizes; the "
            "check's rtol=1e-7 is finer than float32 resolution"
        )
    }
    for arch in ("conv", "lstm")
}


# At their defaults (a 64-unit hidden layer) the autoencoders' float32 dense
# kernels give a row's transform a last-bit difference (~2e-7 relative) between
# a batch of one row and one of 20, for some rows: the check's rtol=1e-7 is finer
# than float32 resolution. Measured for DenoisingAutoencoder(), VAETransformer()
# (listed for every configuration in EXPECTED_FAILURES) and AutoencoderImputer()
# (AutoencoderTransformer() passed on the same machine); non-strict xfail.
# AnomalyDetector pads its forward passes so that its scores do not depend on
# the batch, and passes.
EXPECTED_FAILURES_AT_DEFAULTS: dict[str, dict[str, str]] = {
    name: {
        "check_methods_subset_invariance": (
            "float32 dense kernels differ by ~1 ulp between a batch of 1 row and one "
            "of 20; the check's rtol=1e-7 is finer than float32 resolution"
        )
    }
    for name in (
        "AutoencoderTransformer",
        "DenoisingAutoencoder",
        "AutoencoderImputer",
    )
}


def _at_defaults(estimator) -> bool:
    return repr(estimator) == f"{type(estimator).__name__}()"


def _expected_failed_checks(estimator):
    failures = {
        **EXPECTED_FAILURES.get(type(estimator).__name__, {}),
        **EXPECTED_FAILURES_BY_ARCHITECTURE.get(getattr(estimator, "architecture", ""), {}),
    }
    if _at_defaults(estimator):
        failures.update(EXPECTED_FAILURES_AT_DEFAULTS.get(type(estimator).__name__, {}))
    return failures


@parametrize_with_checks(
    FAST_ESTIMATORS + DEFAULT_ESTIMATORS, expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

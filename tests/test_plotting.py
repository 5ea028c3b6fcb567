"""skae.plotting: each helper draws what it says, on real fitted estimators."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

import skae  # noqa: E402
from skae import AutoencoderTransformer  # noqa: E402
from skae.plotting import (  # noqa: E402
    plot_feature_errors,
    plot_latent_space,
    plot_loss_curve,
    plot_reconstructions,
    plot_score_histogram,
    plot_vae_manifold,
)

TINY = dict(hidden_layer_sizes=(8,), batch_size=32, random_state=0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


@pytest.fixture(scope="module")
def ae2(digits):
    X, _ = digits
    return AutoencoderTransformer(n_components=2, max_epochs=3, **TINY).fit(X)


def test_import_skae_does_not_import_matplotlib():
    code = "import sys, skae; assert 'matplotlib' not in sys.modules, 'imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_plot_loss_curve_draws_train_and_validation(digits):
    X, _ = digits
    ae = AutoencoderTransformer(max_epochs=4, validation_fraction=0.2, **TINY).fit(X)
    ax = plot_loss_curve(ae)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["train", "validation"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(lines[0].get_ydata(), ae.history_[:, "train_loss"])
    np.testing.assert_allclose(lines[1].get_ydata(), ae.history_[:, "valid_loss"])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_plot_loss_curve_accepts_history_and_given_axes(ae2):
    _, ax = plt.subplots()
    returned = plot_loss_curve(ae2.history_, ax=ax)
    assert returned is ax
    # No validation split: only the training curve.
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    records = [{"train_loss": 2.0}, {"train_loss": 1.0}]
    ax = plot_loss_curve(records)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [2.0, 1.0])


def test_plot_loss_curve_refuses_unfitted_and_garbage():
    with pytest.raises(ValueError, match="not fitted"):
        plot_loss_curve(AutoencoderTransformer())
    with pytest.raises(ValueError, match="train_loss"):
        plot_loss_curve([{"valid_loss": 1.0}])
    with pytest.raises(TypeError, match="expects"):
        plot_loss_curve(3.0)


def test_plot_reconstructions_shows_originals_over_reconstructions(digits, ae2):
    X, _ = digits
    fig = plot_reconstructions(ae2, X, image_shape=(8, 8), n_images=6)
    assert len(fig.axes) == 12
    top, bottom = fig.axes[:6], fig.axes[6:]  # axes are stored row-major
    for j in range(6):
        (original,) = top[j].get_images()
        (recon,) = bottom[j].get_images()
        np.testing.assert_allclose(original.get_array(), X[j].reshape(8, 8))
        np.testing.assert_allclose(
            recon.get_array(),
            np.clip(ae2.reconstruct(X[j : j + 1]).reshape(8, 8), 0, 1),
            rtol=1e-5,
            atol=1e-6,
        )
    assert fig.axes[0].get_ylabel() == "original"
    assert fig.axes[6].get_ylabel() == "reconstructed"
    # Channels-first shape, as used by architecture="conv", gives the same picture.
    fig = plot_reconstructions(ae2, X, image_shape=(1, 8, 8), n_images=2)
    assert fig.axes[0].get_images()[0].get_array().shape == (8, 8)


def test_plot_reconstructions_checks_shape(digits, ae2):
    X, _ = digits
    with pytest.raises(ValueError, match="holds 49 values"):
        plot_reconstructions(ae2, X, image_shape=(7, 7))
    with pytest.raises(ValueError, match="n_images"):
        plot_reconstructions(ae2, X, image_shape=(8, 8), n_images=0)


def test_plot_latent_space_one_scatter_per_class(digits, ae2):
    X, y = digits
    ax = plot_latent_space(ae2, X, y)
    assert len(ax.collections) == 10
    n_points = sum(c.get_offsets().shape[0] for c in ax.collections)
    assert n_points == len(X)
    codes = ae2.transform(X)
    np.testing.assert_allclose(ax.collections[3].get_offsets(), codes[y == 3], rtol=1e-6)
    assert ax.get_xlabel() == "autoencodertransformer0"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        str(i) for i in range(10)
    ]


def test_plot_latent_space_without_labels_and_continuous_labels(digits, ae2):
    X, _ = digits
    ax = plot_latent_space(ae2, X)
    assert len(ax.collections) == 1 and ax.get_legend() is None
    ax = plot_latent_space(ae2, X, y=np.linspace(0, 1, len(X)))
    assert len(ax.collections) == 1
    assert len(ax.figure.axes) == 2  # the colour bar


def test_plot_latent_space_refuses_wide_codes(digits):
    X, y = digits
    ae = AutoencoderTransformer(n_components=3, max_epochs=1, **TINY).fit(X)
    with pytest.raises(ValueError, match="n_components=2"):
        plot_latent_space(ae, X, y)


def test_plot_vae_manifold_decodes_the_normal_grid(ae2):
    fig = plot_vae_manifold(ae2, image_shape=(8, 8), n_per_side=5)
    (image,) = fig.axes[0].get_images()
    mosaic = np.asarray(image.get_array())
    assert mosaic.shape == (40, 40)
    grid = norm.ppf(np.linspace(0.05, 0.95, 5))
    # Top-left tile: first code smallest, second code largest.
    top_left = ae2.inverse_transform(np.array([[grid[0], grid[-1]]])).reshape(8, 8)
    np.testing.assert_allclose(mosaic[:8, :8], top_left, rtol=1e-5, atol=1e-6)
    bottom_right = ae2.inverse_transform(np.array([[grid[-1], grid[0]]])).reshape(8, 8)
    np.testing.assert_allclose(mosaic[-8:, -8:], bottom_right, rtol=1e-5, atol=1e-6)


def test_plot_vae_manifold_needs_two_codes(digits):
    X, _ = digits
    ae = AutoencoderTransformer(n_components=3, max_epochs=1, **TINY).fit(X)
    with pytest.raises(ValueError, match="n_components_=3"):
        plot_vae_manifold(ae, image_shape=(8, 8))
    with pytest.raises(ValueError, match="not fitted"):
        plot_vae_manifold(AutoencoderTransformer(), image_shape=(8, 8))


def test_plot_score_histogram_threshold_line_and_groups():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(190, 3), rng.randn(10, 3) + 6])
    y = np.r_[np.zeros(190), np.ones(10)]
    forest = IsolationForest(contamination=0.05, random_state=0).fit(X)
    ax = plot_score_histogram(forest, X, y)
    (line,) = ax.get_lines()
    assert line.get_xdata()[0] == pytest.approx(forest.offset_)
    n_flagged = int(np.sum(forest.score_samples(X) < forest.offset_))
    assert line.get_label() == f"threshold ({n_flagged} of 200 flagged)"
    # Two histograms (normal, anomaly) whose bar heights count the rows.
    heights = [[p.get_height() for p in c] for c in ax.containers]
    assert len(heights) == 2
    assert sum(heights[0]) == 190 and sum(heights[1]) == 10
    assert ax.get_xlabel().startswith("score_samples")
    assert ax.get_xscale() == "linear"  # IsolationForest's scores are not heavy-tailed
    ax = plot_score_histogram(forest, X)
    assert len(ax.containers) == 1 and sum(p.get_height() for p in ax.containers[0]) == 200


class _ErrorScores:
    """A fitted detector in the skae convention: score = -error, heavy-tailed errors."""

    def __init__(self, errors, offset):
        self.errors = np.asarray(errors, dtype=float)
        self.offset_ = offset

    def score_samples(self, X):
        return -self.errors[np.asarray(X, dtype=int).ravel()]


def test_plot_score_histogram_log_scale_for_heavy_tails():
    errors = np.r_[np.linspace(0.01, 0.05, 95), [1.0, 2.0, 3.0, 5.0, 8.0]]
    detector = _ErrorScores(errors, offset=-0.5)
    rows = np.arange(100).reshape(-1, 1)
    ax = plot_score_histogram(detector, rows)  # auto: spans > 100x
    assert ax.get_xscale() == "log"
    assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(0.5)
    assert ax.get_lines()[0].get_label() == "threshold (5 of 100 flagged)"
    assert ax.get_xlabel().startswith("-score_samples")
    assert sum(p.get_height() for p in ax.containers[0]) == 100
    ax = plot_score_histogram(detector, rows, log_scale=False)
    assert ax.get_xscale() == "linear"
    assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="log_scale"):
        plot_score_histogram(detector, rows, log_scale="yes")


def test_plot_score_histogram_needs_a_threshold(ae2, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="offset_"):
        plot_score_histogram(ae2, X)


class _ErrorExplainer:
    """A minimal detector for the bar plot: per-feature squared errors of an autoencoder."""

    def __init__(self, autoencoder, columns):
        self.autoencoder = autoencoder
        self.columns = columns

    def explain(self, X):
        X = np.asarray(X, dtype=float)
        errors = (X - self.autoencoder.reconstruct(X)) ** 2
        return pd.DataFrame(errors, columns=self.columns)


def test_plot_feature_errors_sorted_bars(digits, ae2):
    X, _ = digits
    columns = [f"pixel_{i}" for i in range(64)]
    explainer = _ErrorExplainer(ae2, columns)
    ax = plot_feature_errors(explainer, X[0])
    bars = ax.containers[0]
    values = [b.get_width() for b in bars]
    expected = explainer.explain(X[:1]).iloc[0]
    assert len(values) == 64
    assert values == sorted(values)  # largest at the top
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == expected.idxmax()
    assert values[-1] == pytest.approx(expected.max())
    # A one-row DataFrame or Series works the same.
    frame = pd.DataFrame(X[:1], columns=columns)
    ax = plot_feature_errors(explainer, frame.iloc[0])
    assert len(ax.containers[0]) == 64
    with pytest.raises(ValueError, match="single row"):
        plot_feature_errors(explainer, X[:2])
    with pytest.raises(TypeError, match="explain"):
        plot_feature_errors(ae2, X[0])


def test_plots_with_anomaly_detector(digits):
    X, y = digits
    detector = skae.AnomalyDetector(
        AutoencoderTransformer(n_components=4, max_epochs=3, **TINY), random_state=0
    ).fit(X)
    ax = plot_score_histogram(detector, X, y == 0)
    # On a log axis the histogram shows -score_samples, so the line sits at -offset_.
    threshold = -detector.offset_ if ax.get_xscale() == "log" else detector.offset_
    assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(threshold)
    ax = plot_feature_errors(detector, X[0])
    values = sorted(b.get_width() for b in ax.containers[0])
    assert sum(values) == pytest.approx(detector.reconstruction_error(X[:1])[0], rel=1e-4)


def test_plot_loss_curve_of_a_detector_draws_its_members(digits):
    X, _ = digits
    one = skae.AnomalyDetector(
        AutoencoderTransformer(n_components=2, max_epochs=3, **TINY), random_state=0
    ).fit(X)
    ax = plot_loss_curve(one)
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    np.testing.assert_allclose(
        ax.get_lines()[0].get_ydata(), one.estimator_.history_[:, "train_loss"]
    )
    two = skae.AnomalyDetector(
        AutoencoderTransformer(
            n_components=2, max_epochs=2, validation_fraction=0.2, **TINY
        ),
        n_estimators=2,
        random_state=0,
    ).fit(X)
    ax = plot_loss_curve(two)
    assert [line.get_label() for line in ax.get_lines()] == [
        "member 1 train",
        "member 1 validation",
        "member 2 train",
        "member 2 validation",
    ]
    for line, member in zip(ax.get_lines()[::2], two.estimators_, strict=True):
        np.testing.assert_allclose(line.get_ydata(), member.history_[:, "train_loss"])
    with pytest.raises(ValueError, match=r"AnomalyDetector is not fitted.*estimators_"):
        plot_loss_curve(skae.AnomalyDetector())

"""VAETransformer with default parameters on the inputs a new user gives it.

2-D codes of scikit-learn's ``load_digits`` (1797 rows, 64 pixels), every other
parameter at its default, for four versions of the same data: pixels / 16 (in
[0, 1]), the same with ``loss="bce"``, the raw pixels (0 to 16) and the
standardised pixels. For each fit it prints

* the standard deviation of the codes (``transform``) in each dimension: a
  VAE's codes should follow the N(0, I) prior, about 1;
* the 10-nearest-neighbour accuracy of the codes by 3-fold cross-validation;
* how confident a random forest trained on the real digits is about 300
  samples from the prior (mean largest class probability), next to its
  confidence about uniform noise over the data's range.

Baselines measured in the same run: PCA's 2-D codes (10-NN accuracy), and
what skae's VAE did before: a Gaussian decoder with unit variance, reading the
rows as given (``--baselines unit``).

    PYTHONPATH=. python benchmarks/bench_vae.py [--seeds 0 1 2] [--baselines pca unit]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skae import VAETransformer
from skae._architectures import VariationalAutoencoder


class UnitVarianceVAE(VAETransformer):
    """skae before this benchmark: unit-variance Gaussian decoder, rows as given."""

    def _build_module(self, n_features):
        body, decoder = self._module_parts(n_features)
        return VariationalAutoencoder(body, self.n_components, decoder)


def inputs() -> dict:
    X, y = load_digits(return_X_y=True)
    return {
        "pixels/16": (X / 16, "mse"),
        "pixels/16, bce": (X / 16, "bce"),
        "raw pixels": (X, "mse"),
        "standardised": (StandardScaler().fit_transform(X), "mse"),
    }, y


def knn_accuracy(codes: np.ndarray, y: np.ndarray) -> float:
    return float(cross_val_score(KNeighborsClassifier(10), codes, y, cv=3).mean())


def sample_confidence(vae, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float]:
    judge = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
    samples = vae.sample(300, random_state=seed)
    noise = np.random.default_rng(seed).uniform(X.min(), X.max(), size=samples.shape)
    return (
        float(judge.predict_proba(samples).max(axis=1).mean()),
        float(judge.predict_proba(noise).max(axis=1).mean()),
    )


def measure(cls, X, y, loss, seed) -> dict:
    start = time.perf_counter()
    vae = cls(n_components=2, loss=loss, random_state=seed).fit(X)
    seconds = time.perf_counter() - start
    codes = vae.transform(X)
    confidence, noise = sample_confidence(vae, X, y, seed)
    return {
        "std": codes.std(axis=0),
        "knn": knn_accuracy(codes, y),
        "conf": confidence,
        "noise": noise,
        "elbo": vae.score(X),
        "s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--baselines", nargs="*", default=["pca", "unit"], choices=["pca", "unit"]
    )
    args = parser.parse_args()
    data, y = inputs()
    models = [("calibrated (default)", VAETransformer)]
    if "unit" in args.baselines:
        models.append(("before: unit variance", UnitVarianceVAE))
    header = (
        f"{'input':<16}{'model':<22}{'seed':>5}{'code std':>14}{'10-NN':>7}"
        f"{'conf':>6}{'noise':>7}{'ELBO':>9}{'fit s':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, (X, loss) in data.items():
        if "pca" in args.baselines:
            acc = knn_accuracy(PCA(2).fit_transform(X), y)
            print(f"{name:<16}{'PCA':<22}{'':>5}{'':>14}{acc:>7.3f}")
        for label, cls in models:
            if loss == "bce" and cls is UnitVarianceVAE:
                continue  # the Bernoulli decoder has no variance
            for seed in args.seeds:
                r = measure(cls, X, y, loss, seed)
                std = ", ".join(f"{s:.2f}" for s in r["std"])
                print(
                    f"{name:<16}{label:<22}{seed:>5}{std:>14}{r['knn']:>7.3f}"
                    f"{r['conf']:>6.2f}{r['noise']:>7.2f}{r['elbo']:>9.1f}{r['s']:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""Unsupervised anomaly detection on ADBench tables: skae against the usual baselines.

Protocol (ADBench's, as in ``shared/data/adbench/README.md``), for every table,
every *variant* of it and every seed:

1. rows are capped at ``--max-rows`` (10,000) by a stratified subsample;
2. a stratified 70/30 train/test split;
3. each method is fitted on the train part *without labels* (anomalies
   included) and scores the test part; raw features are given to every method
   (each does its own scaling, if any);
4. ROC-AUC and average precision of the anomaly scores on the test part, and
   the wall-clock seconds of fit + score.

Variants (``--variants``):

* ``original``: the table as distributed.
* ``rare1`` / ``rare5``: every normal row is kept and the anomalies are
  subsampled (seeded) to 1 % / 5 % of the rows -- the regime users are in.
  At least ``MIN_RARE_ANOMALIES`` (5) anomalies are kept, of which at least
  ``MIN_TEST_ANOMALIES`` (3) go to the test part (the rest, possibly 2, to the
  training part), so that ROC-AUC is defined; on tables with fewer than about
  500 normal rows the 1 % variant therefore holds more than 1 % anomalies
  (the report prints each variant's median share). The split is stratified
  otherwise.
* ``small``: a small table, as users often bring: ``SMALL_ROWS`` (200) rows
  at most, of which 5 % anomalies (at least 5; split as the rare variants),
  drawn (seeded) from the table -- where an autoencoder can memorise its
  training rows.
* ``local``, ``global``, ``dependency``, ``cluster``: ADBench's four synthetic
  anomaly types (Han et al., 2022, section 4.2; ``data_generator.py`` of
  ADBench), generated from the table's normal rows only, as many synthetic
  normal rows as the table has normal rows and as many anomalies as it has
  anomalies:

  - ``local``, ``cluster``, ``global``: a Gaussian mixture is fitted to the
    normal rows (number of components 1-9 chosen by BIC; fitted on at most
    ``GMM_FIT_ROWS`` rows) and sampled for the normal rows. Local anomalies
    are sampled from the same mixture with every covariance scaled by
    ``alpha=5``; clustered anomalies from the mixture with every mean scaled
    by ``alpha=5``; global anomalies uniformly, column by column, between
    ``min * 1.1`` and ``max * 1.1`` of the synthetic normal rows (ADBench's
    ``percentage=0.1``). As in ADBench this acts on the raw columns.
  - ``dependency``: ADBench fits a vine copula (``copulas.VineCopula``) to the
    normal rows and draws the anomalies from independent per-column Gaussian
    KDEs. The vine copula package is not a dependency here, so this is an
    *approximation*: normal rows are drawn from a **Gaussian copula** (the
    correlation of the columns' normal scores) with the columns' empirical
    marginals, anomalies from the same marginals drawn **independently**; both
    add the same Gaussian-KDE jitter (Scott's bandwidth) to the marginal
    draws, so that only the dependence differs. As in ADBench, at most 50
    columns (a seeded random subset) are kept.

* ``bundled``: three tables of ADBench's classical family that are *not* among
  the 20 development tables, rebuilt from data scikit-learn ships, the way
  ODDS built them (every row of the normal classes, the anomaly class
  subsampled, seeded): ``wine`` (``load_wine``: classes 1 and 2 normal, 10 rows
  of class 0; 129 x 13, as ODDS' Wine), ``wdbc`` (``load_breast_cancer``: the
  357 benign rows and 10 malignant ones; 367 x 30, as ODDS' WDBC) and
  ``digits0`` (``load_digits``: digits 1-9 normal, 48 zeros, the 2.9 % of
  ODDS' optdigits; 1,665 x 64). Nothing was tuned on them: they confirm, on
  data the defaults were not chosen on, what the development halves say. They
  need no ``--data-dir`` and are reported as their own half.
* ``classes``: more tables nobody tuned on, by one rule: each class of
  scikit-learn's multi-class tables ``load_wine``, ``load_iris`` and
  ``load_digits`` in turn is the anomaly class (``wine0``-``wine2``,
  ``iris0``-``iris2``, ``digits0``-``digits9``), every row of the other
  classes normal, a fixed number of the anomaly class's rows drawn (seeded):
  10 for wine (ODDS' Wine: 10 of 129), 8 for iris (the same share), 48 for
  digits (ODDS' optdigits: 2.9 %). ``wine0`` and ``digits0`` are the
  ``bundled`` wine and digits0. Reported as their own half.

Tables are split into two fixed halves by the parity of their ADBench number
(``7_Cardiotocography`` is odd); defaults are chosen on one half and
confirmed on the other. Per half, variant and synthetic type the report gives
each method's mean ROC-AUC and AP, the best baseline's mean next to skae's,
the share of tables where skae >= IsolationForest, the tables where skae is
below 0.6 while the best baseline is above 0.8, and mean fit+score seconds.

Methods (all at their default settings, seeded with the split's seed):

* ``skae``: ``skae.AnomalyDetector()`` (``--skae-params`` passes keyword
  arguments, as JSON, for experiments);
* ``iforest``: ``sklearn.ensemble.IsolationForest``;
* PyOD's ``KNN``, ``ECOD``, ``COPOD``, ``HBOS``, ``LOF``, ``OCSVM``,
  ``AutoEncoder`` and ``VAE`` (skipped with a message when PyOD is not
  installed: ``pip install "skae[benchmark]"``);
* ``pca``: PCA reconstruction error (standardised columns, components keeping
  90% of the variance; not counted as a baseline, as before).

Baseline results are cached (``--cache``, by default
``benchmarks/.cache/adbench_baselines.csv``, git-ignored), keyed by table,
variant, seed, method and row cap, so that a rerun computes only skae (which
is never cached) and the baselines not yet in the cache. Generated synthetic
tables are cached next to it. ``--no-cache`` recomputes everything.

``--cost`` instead times fit + score of skae and PyOD's AutoEncoder on wide
tables (100, 500 and 2,000 columns: the digits table plus Gaussian noise
columns) and on 10,000 x 1,000 Gaussian rows.

Run ``python benchmarks/bench_adbench.py`` from the repository root; the data
default to ``../shared/data/adbench`` next to the repository
(``--data-dir``). Torch and BLAS run single-threaded unless ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"
)
DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache" / "adbench_baselines.csv"
BASELINES = (
    "iforest",
    "knn",
    "ecod",
    "copod",
    "hbos",
    "lof",
    "ocsvm",
    "pyod_ae",
    "pyod_vae",
)
METHODS = ("skae", *BASELINES, "pca")
LABELS = {
    "skae": "skae AnomalyDetector",
    "iforest": "IsolationForest",
    "knn": "PyOD KNN",
    "ecod": "PyOD ECOD",
    "copod": "PyOD COPOD",
    "hbos": "PyOD HBOS",
    "lof": "PyOD LOF",
    "ocsvm": "PyOD OCSVM",
    "pyod_ae": "PyOD AutoEncoder",
    "pyod_vae": "PyOD VAE",
    "pca": "PCA recon. error",
}
SYNTHETIC = ("local", "global", "dependency", "cluster")
VARIANTS = ("original", "rare1", "rare5", "small", *SYNTHETIC, "bundled", "classes")
BUNDLED = ("wine", "wdbc", "digits0")
#: ``classes``: each class of scikit-learn's multi-class tables in turn as the
#: anomaly class, with a fixed number of its rows (ODDS' Wine has 10 of 129,
#: its optdigits 2.9 %, and iris, the same share as Wine).
CLASS_ANOMALIES = {"wine": 10, "iris": 8, "digits": 48}
CLASS_TABLES = {"wine": 3, "iris": 3, "digits": 10}
CLASSES = tuple(f"{name}{c}" for name, n in CLASS_TABLES.items() for c in range(n))
#: Variants built from data scikit-learn ships (no ``--data-dir``), each its own half.
SHIPPED = ("bundled", "classes")
RARE_SHARE = {"rare1": 0.01, "rare5": 0.05}
SMALL_ROWS = 200
SMALL_SHARE = 0.05
MIN_RARE_ANOMALIES = 5
MIN_TEST_ANOMALIES = 3
GMM_FIT_ROWS = 2_000
ALPHA = 5.0  # ADBench's alpha for local and clustered anomalies
PERCENTAGE = 0.1  # ADBench's percentage for global anomalies
MAX_DEPENDENCY_COLUMNS = 50


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="tables to run (file stems such as 4_breastw, or the part after the "
        "number such as breastw); default: every .npz in --data-dir",
    )
    parser.add_argument(
        "--halves",
        nargs="+",
        choices=("odd", "even"),
        default=["odd", "even"],
        help="keep the tables whose ADBench number is odd / even",
    )
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=["original", "rare1", "rare5"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--variant-seeds",
        nargs="+",
        type=int,
        help="seeds of the rare and synthetic variants (default: --seeds)",
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS[:-1]))
    parser.add_argument("--max-rows", type=int, default=10_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch/BLAS threads of every method (default 1; users get every core)",
    )
    parser.add_argument(
        "--skae-params",
        type=json.loads,
        default={},
        help="JSON keyword arguments of AnomalyDetector, e.g. '{\"distance_weight\": 0}'",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="run no baseline: use the cached ones; (table, variant, seed) "
        "cases lacking one of them are left out of the summary",
    )
    parser.add_argument(
        "--cost",
        action="store_true",
        help="time skae and PyOD AutoEncoder on wide tables instead",
    )
    parser.add_argument(
        "--false-alarms",
        action="store_true",
        help='share of clean rows contamination="auto" flags, instead',
    )
    parser.add_argument(
        "--per-table", action="store_true", help="also print the per-table means"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write results: .csv (one row per table, variant, method and seed) or "
        ".md (the summary tables)",
    )
    return parser.parse_args(argv)


# Thread counts must be set before numpy/torch load their libraries.
if __name__ == "__main__":
    _ARGS = parse_args()
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = str(_ARGS.threads)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.special import ndtr, ndtri  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skae import AnomalyDetector  # noqa: E402

# A method maps (X_train, X_test, seed) to anomaly scores of X_test (higher = worse).
Method = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


# -- methods ---------------------------------------------------------------------
def make_skae(params: dict) -> Method:
    def run(X_train, X_test, seed):
        detector = AnomalyDetector(random_state=seed, **params).fit(X_train)
        return -detector.score_samples(X_test)

    return run


def run_iforest(X_train, X_test, seed):
    return -IsolationForest(random_state=seed).fit(X_train).score_samples(X_test)


def run_pca(X_train, X_test, seed):
    pca = make_pipeline(StandardScaler(), PCA(n_components=0.9, random_state=seed))
    pca.fit(X_train)
    Z = pca[0].transform(X_test)
    reconstruction = pca[1].inverse_transform(pca[1].transform(Z))
    return ((Z - reconstruction) ** 2).sum(axis=1)


def pyod_method(kind: str) -> Method | None:
    try:
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.copod import COPOD
        from pyod.models.ecod import ECOD
        from pyod.models.hbos import HBOS
        from pyod.models.knn import KNN
        from pyod.models.lof import LOF
        from pyod.models.ocsvm import OCSVM
        from pyod.models.vae import VAE
    except ImportError:
        return None
    classes = {
        "knn": KNN,
        "ecod": ECOD,
        "copod": COPOD,
        "hbos": HBOS,
        "lof": LOF,
        "ocsvm": OCSVM,
        "pyod_ae": AutoEncoder,
        "pyod_vae": VAE,
    }
    model_class = classes[kind]

    def run(X_train, X_test, seed):
        if kind in ("pyod_ae", "pyod_vae"):
            torch.manual_seed(seed)
            model = model_class(random_state=seed, verbose=0)
        else:
            model = model_class()
        model.fit(X_train)
        return model.decision_function(X_test)  # PyOD: higher = more anomalous

    return run


# -- tables and their variants ------------------------------------------------------
def half_of(path: Path) -> str:
    return "odd" if int(path.stem.split("_", 1)[0]) % 2 else "even"


def find_datasets(
    data_dir: Path, names: Sequence[str] | None, halves: Sequence[str] = ("odd", "even")
) -> list[Path]:
    if not data_dir.is_dir():
        sys.exit(
            f"--data-dir {data_dir} does not exist; point it at the ADBench .npz files."
        )
    paths = sorted(data_dir.glob("*.npz"), key=lambda p: int(p.stem.split("_", 1)[0]))
    if names:
        chosen = []
        for name in names:
            matches = [p for p in paths if name in (p.stem, p.stem.split("_", 1)[-1])]
            if not matches:
                sys.exit(f"no table named {name!r} in {data_dir}")
            chosen.extend(matches)
        paths = chosen
    return [p for p in paths if half_of(p) in halves]


def load_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(path)
    return data["X"].astype(np.float64), data["y"].astype(int)


def cap_rows(X, y, max_rows: int, seed: int):
    if len(X) > max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, stratify=y, random_state=seed
        )
    return X, y


def rare_split(X, y, share: float, seed: int, max_rows: int):
    """Every normal row (capped), anomalies subsampled to ``share`` of the rows."""
    rng = np.random.RandomState(seed)
    normal = np.flatnonzero(y == 0)
    anomalies = np.flatnonzero(y == 1)
    if len(normal) > max_rows:
        normal = rng.choice(normal, int(max_rows * (1 - share)), replace=False)
    n_anomalies = max(round(share * len(normal) / (1 - share)), MIN_RARE_ANOMALIES)
    n_anomalies = min(n_anomalies, len(anomalies))
    anomalies = rng.permutation(anomalies)[:n_anomalies]
    n_test = max(MIN_TEST_ANOMALIES, round(0.3 * n_anomalies))
    normal = rng.permutation(normal)
    n_test_normal = round(0.3 * len(normal))
    train = np.concatenate([normal[n_test_normal:], anomalies[n_test:]])
    test = np.concatenate([normal[:n_test_normal], anomalies[:n_test]])
    train, test = rng.permutation(train), rng.permutation(test)
    return X[train], X[test], y[test], float(y[np.concatenate([train, test])].mean())


def _fit_mixture(X: np.ndarray, seed: int) -> GaussianMixture:
    rng = np.random.RandomState(seed)
    fit_rows = X if len(X) <= GMM_FIT_ROWS else X[rng.choice(len(X), GMM_FIT_ROWS, False)]
    best, best_bic = None, np.inf
    for n_components in range(1, 10):
        if n_components > len(fit_rows) // 2:
            break
        for reg_covar in (1e-6, 1e-3, 1e-1):
            try:
                gm = GaussianMixture(
                    n_components, reg_covar=reg_covar, random_state=seed
                ).fit(fit_rows)
                bic = gm.bic(fit_rows)
                break
            except (ValueError, np.linalg.LinAlgError):
                continue
        else:
            continue
        if bic < best_bic:
            best, best_bic = gm, bic
    return best


def _marginal_sampler(column: np.ndarray, rng: np.random.RandomState):
    """Draws from a column's empirical distribution plus Gaussian-KDE jitter."""
    values = np.sort(column)
    bandwidth = 1.06 * values.std() * len(values) ** (-1 / 5)  # Scott's rule

    def draw(u: np.ndarray) -> np.ndarray:
        return np.quantile(values, u) + bandwidth * rng.normal(size=u.shape)

    return draw


def synthesize(X_normal: np.ndarray, n_anomalies: int, kind: str, seed: int):
    """ADBench's realistic synthetic anomalies (see the module docstring)."""
    rng = np.random.RandomState(seed)
    n_normal = len(X_normal)
    if kind in ("local", "cluster", "global"):
        gm = _fit_mixture(X_normal, seed)
        normal = gm.sample(n_normal)[0]
        if kind == "local":
            gm.covariances_ = ALPHA * gm.covariances_
            anomalies = gm.sample(n_anomalies)[0]
        elif kind == "cluster":
            gm.means_ = ALPHA * gm.means_
            anomalies = gm.sample(n_anomalies)[0]
        else:
            low = normal.min(axis=0) * (1 + PERCENTAGE)
            high = normal.max(axis=0) * (1 + PERCENTAGE)
            anomalies = rng.uniform(low, high, size=(n_anomalies, normal.shape[1]))
    elif kind == "dependency":
        X = X_normal
        if X.shape[1] > MAX_DEPENDENCY_COLUMNS:
            columns = rng.choice(X.shape[1], MAX_DEPENDENCY_COLUMNS, replace=False)
            X = X[:, np.sort(columns)]
        keep = X.std(axis=0) > 0
        X = X[:, keep]
        ranks = (np.argsort(np.argsort(X, axis=0), axis=0) + 0.5) / n_normal
        correlation = np.corrcoef(ndtri(ranks), rowvar=False)
        correlation = np.atleast_2d(correlation)
        samplers = [_marginal_sampler(X[:, j], rng) for j in range(X.shape[1])]
        w, V = np.linalg.eigh(correlation)
        root = V * np.sqrt(np.maximum(w, 0))
        latent = rng.normal(size=(n_normal, X.shape[1])) @ root.T
        u_normal = ndtr(latent)
        u_anomaly = rng.uniform(size=(n_anomalies, X.shape[1]))
        normal = np.column_stack([s(u_normal[:, j]) for j, s in enumerate(samplers)])
        anomalies = np.column_stack([s(u_anomaly[:, j]) for j, s in enumerate(samplers)])
    else:
        raise ValueError(kind)
    X_out = np.vstack([normal, anomalies])
    y_out = np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]
    order = rng.permutation(len(X_out))
    return X_out[order], y_out[order]


def load_bundled(name: str, seed: int):
    """``(X_train, X_test, y_test, anomaly_share)`` of a ``bundled`` table."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    if name == "wine":
        data, anomaly_class, n_anomalies = load_wine(), 0, CLASS_ANOMALIES["wine"]
    elif name == "wdbc":
        data, anomaly_class, n_anomalies = load_breast_cancer(), 0, 10  # 0: malignant
    elif name == "digits0":
        data, anomaly_class, n_anomalies = load_digits(), 0, CLASS_ANOMALIES["digits"]
    else:
        raise ValueError(name)
    return class_split(data, anomaly_class, n_anomalies, seed)


def load_classes(name: str, seed: int):
    """``(X_train, X_test, y_test, anomaly_share)`` of a ``classes`` table."""
    from sklearn.datasets import load_digits, load_iris, load_wine

    source, anomaly_class = name.rstrip("0123456789"), int(name[-1])
    loaders = {"wine": load_wine, "iris": load_iris, "digits": load_digits}
    return class_split(loaders[source](), anomaly_class, CLASS_ANOMALIES[source], seed)


def class_split(data, anomaly_class: int, n_anomalies: int, seed: int):
    """Every row of the other classes, ``n_anomalies`` of ``anomaly_class`` (seeded),
    split 70/30 stratified."""
    rng = np.random.RandomState(seed)
    normal = np.flatnonzero(data.target != anomaly_class)
    anomalies = rng.choice(
        np.flatnonzero(data.target == anomaly_class), n_anomalies, replace=False
    )
    rows = np.concatenate([normal, anomalies])
    X = data.data[rows].astype(np.float64)
    y = (data.target[rows] == anomaly_class).astype(int)
    X_train, X_test, _, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    return X_train, X_test, y_test, float(y.mean())


def shipped_sources(variants) -> list:
    """``(name, half, variant, loader)`` of the tables built from scikit-learn's data."""
    sources = []
    if "bundled" in variants:
        for name in BUNDLED:
            sources.append((name, "bundled", "bundled", partial(load_bundled, name)))
    if "classes" in variants:
        for name in CLASSES:
            sources.append((name, "classes", "classes", partial(load_classes, name)))
    return sources


def load_variant(path: Path, variant: str, seed: int, max_rows: int, cache_dir=None):
    """``(X_train, X_test, y_test, anomaly_share)`` of one table, variant and seed."""
    X, y = load_table(path)
    if variant in RARE_SHARE:
        return rare_split(X, y, RARE_SHARE[variant], seed, max_rows)
    if variant == "small":
        return rare_split(X, y, SMALL_SHARE, seed, min(max_rows, SMALL_ROWS))
    X, y = cap_rows(X, y, max_rows, seed)
    if variant in SYNTHETIC:
        stored = None
        if cache_dir is not None:
            stored = cache_dir / f"{path.stem}-{variant}-{seed}-{max_rows}.npz"
        if stored is not None and stored.exists():
            data = np.load(stored)
            X, y = data["X"], data["y"]
        else:
            X, y = synthesize(X[y == 0], int(y.sum()), variant, seed)
            if stored is not None:
                stored.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(stored, X=X, y=y)
    X_train, X_test, _, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    return X_train, X_test, y_test, float(y.mean())


# -- running ------------------------------------------------------------------------
KEY = ["dataset", "variant", "seed", "method", "max_rows"]


def read_cache(path: Path) -> pd.DataFrame:
    if path.exists():
        return pd.read_csv(path)
    return pd.DataFrame(columns=[*KEY, "roc_auc", "average_precision", "seconds"])


def build_methods(names: Sequence[str], skae_params: dict) -> dict[str, Method]:
    methods: dict[str, Method] = {}
    for kind in names:
        if kind == "skae":
            methods[kind] = make_skae(skae_params)
        elif kind in ("iforest", "pca"):
            methods[kind] = globals()[f"run_{kind}"]
        else:
            method = pyod_method(kind)
            if method is None:
                print(
                    f"PyOD is not installed: skipping {kind} "
                    '(pip install "skae[benchmark]" to include it).'
                )
                continue
            methods[kind] = method
    return methods


def run_one(method: Method, X_train, X_test, y_test, seed) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = np.asarray(method(X_train, X_test, seed), dtype=np.float64)
    seconds = time.perf_counter() - start
    if not np.all(np.isfinite(scores)):
        scores = np.nan_to_num(scores, nan=0.0, posinf=1e300, neginf=-1e300)
    return {
        "roc_auc": roc_auc_score(y_test, scores),
        "average_precision": average_precision_score(y_test, scores),
        "seconds": seconds,
    }


def benchmark(args: argparse.Namespace) -> pd.DataFrame:
    methods = build_methods(args.methods, args.skae_params)
    use_cache = not args.no_cache
    cache = read_cache(args.cache) if use_cache else read_cache(Path("/nonexistent"))
    cached = {tuple(r[k] for k in KEY): r for r in cache.to_dict("records")}  # key -> row
    cache_dir = args.cache.parent / "synthetic" if use_cache else None
    variant_seeds = args.variant_seeds or args.seeds
    # One untimed call each: first-call costs (imports, torch's warm-up) are
    # not part of a method's fit + score time.
    warm = np.random.RandomState(0).normal(size=(64, 4))
    for method in methods.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            method(warm[:48], warm[48:], 0)
    # One source per (table, variant): its name, half and a loader of a seed's split.
    sources = []
    on_disk = [v for v in args.variants if v not in SHIPPED]
    if on_disk:
        for path in find_datasets(args.data_dir, args.datasets, args.halves):
            for variant in on_disk:

                def loader(seed, path=path, variant=variant):
                    return load_variant(path, variant, seed, args.max_rows, cache_dir)

                sources.append((path.stem, half_of(path), variant, loader))
    sources += shipped_sources(args.variants)
    rows = []
    for stem, half, variant, loader in sources:
        seeds = args.seeds if variant == "original" else variant_seeds
        for seed in seeds:
            split = None
            done = []
            for kind, method in methods.items():
                key = (stem, variant, seed, kind, args.max_rows)
                if kind != "skae" and key in cached:
                    row = dict(cached[key])
                elif kind != "skae" and args.cached_only:
                    continue
                else:
                    if split is None:
                        split = loader(seed)
                    X_train, X_test, y_test, share = split
                    row = dict(zip(KEY, key, strict=True), share=share)
                    row.update(run_one(method, X_train, X_test, y_test, seed))
                    if kind != "skae" and use_cache:
                        args.cache.parent.mkdir(parents=True, exist_ok=True)
                        pd.DataFrame([row]).to_csv(
                            args.cache,
                            mode="a",
                            header=not args.cache.exists(),
                            index=False,
                        )
                        cached[key] = row
                row["half"] = half
                rows.append(row)
                done.append(row)
            print(
                f"{stem} {variant} seed {seed}: "
                + ", ".join(f"{r['method']} {r['roc_auc']:.3f}" for r in done),
                flush=True,
            )
    return pd.DataFrame(rows)


# -- reporting ----------------------------------------------------------------------
def complete_cases(results: pd.DataFrame) -> pd.DataFrame:
    """Keep the (table, variant, seed) cases that every method was run on."""
    case = ["dataset", "variant", "seed"]
    n_methods = results["method"].nunique()
    counts = results.groupby(case)["method"].transform("nunique")
    kept = results[counts == n_methods]
    dropped = results[counts < n_methods].groupby(case).ngroups
    if dropped:
        print(f"left out {dropped} (table, variant, seed) cases lacking a method")
    return kept


def per_table(results: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds: one row per (variant, half, dataset, method)."""
    return (
        results.groupby(["variant", "half", "dataset", "method"], sort=False)[
            ["roc_auc", "average_precision", "seconds", "share"]
        ]
        .mean()
        .reset_index()
    )


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, half): each method's mean ROC-AUC, AP and seconds,
    the best baseline, and skae's wins and failures against them."""
    tables = per_table(results)
    present = [m for m in METHODS if m in set(tables["method"])]
    baselines = [m for m in BASELINES if m in present]
    out = []
    groups = [(v, h) for v in VARIANTS for h in ("odd", "even", "all")]
    groups = [(v, h) for v, h in groups if v not in SHIPPED] + [(v, v) for v in SHIPPED]
    for variant, half in groups:
        part = tables[tables["variant"] == variant]
        if half not in ("all", *SHIPPED):
            part = part[part["half"] == half]
        if part.empty:
            continue
        wide = part.pivot(index="dataset", columns="method")
        row = {
            "variant": variant,
            "half": half,
            "tables": len(wide),
            "share": float(part["share"].median()),
        }
        for m in present:
            row[f"{m} auc"] = wide[("roc_auc", m)].mean()
            row[f"{m} ap"] = wide[("average_precision", m)].mean()
            row[f"{m} s"] = wide[("seconds", m)].mean()
        if baselines:
            means = {m: row[f"{m} auc"] for m in baselines}
            best = max(means, key=means.get)
            row["best baseline"] = best
            row["best auc"] = means[best]
            row["best ap"] = max(row[f"{m} ap"] for m in baselines)
        if "skae" in present and baselines:
            skae = wide[("roc_auc", "skae")]
            table_best = wide[[("roc_auc", m) for m in baselines]].max(axis=1)
            if "iforest" in present:
                row["skae>=iforest"] = float((skae >= wide[("roc_auc", "iforest")]).mean())
            failures = wide.index[(skae < 0.6) & (table_best > 0.8)]
            row["failures"] = ", ".join(failures) if len(failures) else "-"
            if "pyod_ae" in present:
                slower = wide.index[
                    wide[("seconds", "skae")] > wide[("seconds", "pyod_ae")]
                ]
                row["slower than pyod_ae"] = ", ".join(slower) if len(slower) else "-"
        out.append(row)
    return pd.DataFrame(out)


def format_summary(summary: pd.DataFrame) -> str:
    present = [m for m in METHODS if f"{m} auc" in summary.columns]
    lines = []
    header = ["variant", "half", "n", "anom."] + [m for m in present]
    if "best auc" in summary.columns:
        header += ["best baseline"]
    if "skae>=iforest" in summary.columns:
        header += ["skae>=IF"]
    lines.append("ROC-AUC (mean over tables of the mean over seeds):")
    lines.append(" ".join(f"{h:>9}" for h in header))
    for _, r in summary.iterrows():
        cells = [r["variant"], r["half"], str(r["tables"]), f"{r['share']:.3f}"]
        cells += [f"{r[f'{m} auc']:.3f}" for m in present]
        if "best auc" in summary.columns:
            cells.append(f"{r['best baseline']} {r['best auc']:.3f}")
        if "skae>=iforest" in summary.columns:
            cells.append(f"{r['skae>=iforest']:.0%}")
        lines.append(" ".join(f"{c:>9}" for c in cells))
    lines.append("\nAverage precision:")
    lines.append(" ".join(f"{h:>9}" for h in header[: 4 + len(present)]))
    for _, r in summary.iterrows():
        cells = [r["variant"], r["half"], str(r["tables"]), f"{r['share']:.3f}"]
        cells += [f"{r[f'{m} ap']:.3f}" for m in present]
        lines.append(" ".join(f"{c:>9}" for c in cells))
    lines.append("\nFit + score seconds (mean per table):")
    lines.append(" ".join(f"{h:>9}" for h in header[: 4 + len(present)]))
    for _, r in summary.iterrows():
        cells = [r["variant"], r["half"], str(r["tables"]), f"{r['share']:.3f}"]
        cells += [f"{r[f'{m} s']:.2f}" for m in present]
        lines.append(" ".join(f"{c:>9}" for c in cells))
    if "failures" in summary.columns:
        lines.append("\nTables where skae < 0.6 while the best baseline > 0.8:")
        for _, r in summary[summary["half"] != "all"].iterrows():
            lines.append(f"  {r['variant']:>10} {r['half']:>4}: {r['failures']}")
    if "slower than pyod_ae" in summary.columns:
        lines.append("\nTables where skae's fit+score is slower than PyOD AutoEncoder's:")
        for _, r in summary[summary["half"] != "all"].iterrows():
            lines.append(f"  {r['variant']:>10} {r['half']:>4}: {r['slower than pyod_ae']}")
    return "\n".join(lines)


def to_markdown(summary: pd.DataFrame) -> str:
    present = [m for m in METHODS if f"{m} auc" in summary.columns]
    header = ["variant", "half", "tables"] + [LABELS[m] for m in present]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for _, r in summary.iterrows():
        cells = [r["variant"], r["half"], str(r["tables"])]
        cells += [f"{r[f'{m} auc']:.3f}" for m in present]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- cost on wide tables ------------------------------------------------------------
def _timed(method: Method, X_train, X_test, seed) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = method(X_train, X_test, seed)
    return scores, time.perf_counter() - start


#: Development tables projected to wide ones by ``--cost`` (rare5 variant).
PROJECTED_TABLES = ("35_SpamBase", "7_Cardiotocography", "20_letter")


def project(X_train, X_test, width: int, seed: int):
    """A random Gaussian projection of standardised rows to ``width`` columns:
    distances are kept (Johnson-Lindenstrauss), so the anomalies stay anomalous."""
    scaler = StandardScaler().fit(X_train)
    R = np.random.RandomState(seed).normal(size=(X_train.shape[1], width))
    R /= np.sqrt(X_train.shape[1])
    return scaler.transform(X_train) @ R, scaler.transform(X_test) @ R


def cost(args: argparse.Namespace) -> int:
    """Fit + score seconds of skae and PyOD AutoEncoder as the columns grow.

    Two kinds of wide tables: digits plus Gaussian noise columns and a
    10,000 x 1,000 Gaussian table (seconds only), and random projections of
    development tables (rare5 variant, seed 0) to 100, 500 and 2,000 columns,
    where the ROC-AUC is reported too -- also for skae with the full
    ``TRAINING_STEPS`` on every width (``skae_full``), as if wide tables did
    not train for fewer steps.
    """
    from sklearn.datasets import load_digits

    import skae._anomaly_defaults as defaults

    methods = build_methods(["skae", "pyod_ae"], args.skae_params)

    def skae_full_steps(X_train, X_test, seed):
        saved = defaults.WIDE_FEATURES
        defaults.WIDE_FEATURES = 1 << 30
        try:
            return methods["skae"](X_train, X_test, seed)
        finally:
            defaults.WIDE_FEATURES = saved

    methods["skae_full"] = skae_full_steps
    digits = load_digits().data  # 1,797 x 64
    rng = np.random.RandomState(0)
    cases = []
    for width in (100, 500, 2_000):
        noise = rng.normal(size=(len(digits), width - digits.shape[1]))
        X = np.hstack([digits, noise])
        cases.append(
            (
                f"digits + noise, {width} cols",
                *train_test_split(X, test_size=0.3, random_state=0),
                None,
            )
        )
    X = rng.normal(size=(10_000, 1_000))
    cases.append(
        (
            "Gaussian 10,000 x 1,000",
            *train_test_split(X, test_size=0.3, random_state=0),
            None,
        )
    )
    for name in PROJECTED_TABLES:
        path = args.data_dir / f"{name}.npz"
        if not path.exists():
            continue
        X_train, X_test, y_test, _ = load_variant(path, "rare5", 0, args.max_rows)
        for width in (100, 500, 2_000):
            cases.append(
                (
                    f"{name} rare5 -> {width} cols",
                    *project(X_train, X_test, width, 0),
                    y_test,
                )
            )
    warm = np.random.RandomState(1).normal(size=(200, 8))
    for method in methods.values():  # imports and first calls out of the timings
        _timed(method, warm[:150], warm[150:], 0)
    print(f"{'table':>34} {'rows':>6} " + " ".join(f"{m:>16}" for m in methods))
    for name, X_train, X_test, y_test in cases:
        cells = []
        for method in methods.values():
            scores, seconds = _timed(method, X_train, X_test, 0)
            auc = "" if y_test is None else f" ({roc_auc_score(y_test, scores):.3f})"
            cells.append(f"{seconds:.2f}s{auc}")
        rows = len(X_train) + len(X_test)
        print(f"{name:>34} {rows:>6} " + " ".join(f"{c:>16}" for c in cells), flush=True)
    return 0


# -- false alarms of contamination="auto" on clean data ------------------------------
def false_alarms(args: argparse.Namespace) -> int:
    """Share of clean rows ``contamination="auto"`` flags.

    Clean data: Gaussian rows (correlated columns), and the *normal* rows of
    every development table (anomalies removed; rows capped at 3,000). The
    detector is fitted on 70 % of the clean rows; the report gives the share
    of those training rows and of the 30 % held-out clean rows it flags, next
    to IsolationForest(contamination="auto").
    """
    rng = np.random.RandomState(0)
    cases = []
    for n, d in ((500, 5), (2_000, 20)):
        mixing = rng.normal(size=(d, d))
        cases.append((f"Gaussian {n}x{d}", rng.normal(size=(n, d)) @ mixing))
    for path in find_datasets(args.data_dir, args.datasets, args.halves):
        X, y = load_table(path)
        X = X[y == 0]
        if len(X) > 3_000:
            X = X[rng.choice(len(X), 3_000, replace=False)]
        cases.append((path.stem, X))
    print(f"{'clean table':>22} {'skae train':>10} {'held out':>9} {'IF train':>9}")
    shares = []
    for name, X in cases:
        X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detector = AnomalyDetector(random_state=0, **args.skae_params).fit(X_train)
            forest = IsolationForest(random_state=0).fit(X_train)
        row = (
            np.mean(detector.predict(X_train) == -1),
            np.mean(detector.predict(X_test) == -1),
            np.mean(forest.predict(X_train) == -1),
        )
        shares.append(row)
        print(f"{name:>22} {row[0]:>10.3f} {row[1]:>9.3f} {row[2]:>9.3f}", flush=True)
    low, high = np.min(shares, axis=0), np.max(shares, axis=0)
    print(
        f"{'range':>22} {low[0]:.3f}-{high[0]:.3f} {low[1]:.3f}-{high[1]:.3f} "
        f"{low[2]:.3f}-{high[2]:.3f}"
    )
    return 0


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.false_alarms:
        return false_alarms(args)
    if args.cost:
        print(f"fit + score seconds, {args.threads} thread(s), load {os.getloadavg()}")
        return cost(args)
    print(
        f"ADBench protocol: seeds {args.seeds}, rows capped at {args.max_rows}, "
        f"{args.threads} thread(s), variants {args.variants}, data from "
        f"{args.data_dir}, skae params {args.skae_params}"
    )
    results = benchmark(args)
    if results.empty:
        print("nothing was run")
        return 1
    results = complete_cases(results)
    summary = summarise(results)
    if args.per_table:
        with pd.option_context("display.width", 250, "display.max_rows", 1000):
            table = per_table(results).pivot(
                index=["variant", "dataset"], columns="method", values="roc_auc"
            )
            print(table.round(3).to_string())
    print()
    print(format_summary(summary))
    if args.output is not None:
        if args.output.suffix == ".md":
            args.output.write_text(to_markdown(summary) + "\n")
        else:
            results.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(_ARGS))

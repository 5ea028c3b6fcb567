"""Unsupervised anomaly detection on ADBench tables: skae against the usual baselines.

Protocol (ADBench's, as in ``shared/data/adbench/README.md``), for every table
and every seed:

1. rows are capped at ``--max-rows`` (10,000) by a stratified subsample;
2. a stratified 70/30 train/test split;
3. each method is fitted on the train part *without labels* (anomalies
   included) and scores the test part; raw features are given to every method
   (each does its own scaling, if any);
4. ROC-AUC and average precision of the anomaly scores on the test part, and
   the wall-clock seconds of fit + score.

Methods (all at their default settings, seeded with the split's seed):

* ``skae``: ``skae.AnomalyDetector()``;
* ``iforest``: ``sklearn.ensemble.IsolationForest``;
* ``pyod_ae`` / ``pyod_vae``: PyOD's ``AutoEncoder`` and ``VAE`` (skipped with a
  message when PyOD is not installed: ``pip install "skae[benchmark]"``);
* ``pca``: PCA reconstruction error (standardised columns, components keeping
  90% of the variance).

Run ``python benchmarks/bench_adbench.py`` from the repository root; the data
default to ``../shared/data/adbench`` next to the repository
(``--data-dir``). Torch and BLAS run single-threaded unless ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"
)
METHODS = ("skae", "iforest", "pyod_ae", "pyod_vae", "pca")
LABELS = {
    "skae": "skae AnomalyDetector",
    "iforest": "IsolationForest",
    "pyod_ae": "PyOD AutoEncoder",
    "pyod_vae": "PyOD VAE",
    "pca": "PCA recon. error",
}


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
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--max-rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads")
    parser.add_argument(
        "--output",
        type=Path,
        help="write results: .csv (one row per dataset, method and seed) or .md "
        "(the per-dataset table of means)",
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
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skae import AnomalyDetector  # noqa: E402

# A method maps (X_train, X_test, seed) to anomaly scores of X_test (higher = worse).
Method = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def run_skae(X_train, X_test, seed):
    return -AnomalyDetector(random_state=seed).fit(X_train).score_samples(X_test)


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
        if kind == "pyod_ae":
            from pyod.models.auto_encoder import AutoEncoder as model_class
        else:
            from pyod.models.vae import VAE as model_class
    except ImportError:
        return None

    def run(X_train, X_test, seed):
        model = model_class(random_state=seed, verbose=0)
        model.fit(X_train)
        return model.decision_function(X_test)  # PyOD: higher = more anomalous

    return run


def load_split(path: Path, seed: int, max_rows: int):
    data = np.load(path)
    X, y = data["X"].astype(np.float64), data["y"].astype(int)
    if len(X) > max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, stratify=y, random_state=seed
        )
    X_train, X_test, _, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    return X_train, X_test, y_test


def find_datasets(data_dir: Path, names: Sequence[str] | None) -> list[Path]:
    if not data_dir.is_dir():
        sys.exit(
            f"--data-dir {data_dir} does not exist; point it at the ADBench .npz files."
        )
    paths = sorted(data_dir.glob("*.npz"))
    if not names:
        return paths
    chosen = []
    for name in names:
        matches = [p for p in paths if name in (p.stem, p.stem.split("_", 1)[-1])]
        if not matches:
            sys.exit(f"no table named {name!r} in {data_dir}")
        chosen.extend(matches)
    return chosen


def benchmark(args: argparse.Namespace) -> pd.DataFrame:
    methods: dict[str, Method] = {}
    for kind in args.methods:
        if kind.startswith("pyod"):
            method = pyod_method(kind)
            if method is None:
                print(
                    f"PyOD is not installed: skipping {kind} "
                    '(pip install "skae[benchmark]" to include it).'
                )
                continue
            methods[kind] = method
        else:
            methods[kind] = globals()[f"run_{kind}"]
    rows = []
    for path in find_datasets(args.data_dir, args.datasets):
        for seed in args.seeds:
            X_train, X_test, y_test = load_split(path, seed, args.max_rows)
            for kind, method in methods.items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores = np.asarray(method(X_train, X_test, seed), dtype=np.float64)
                seconds = time.perf_counter() - start
                if not np.all(np.isfinite(scores)):
                    print(f"  {kind} gave non-finite scores on {path.stem} seed {seed}")
                    scores = np.nan_to_num(scores, nan=0.0, posinf=1e300, neginf=-1e300)
                rows.append(
                    {
                        "dataset": path.stem,
                        "method": kind,
                        "seed": seed,
                        "roc_auc": roc_auc_score(y_test, scores),
                        "average_precision": average_precision_score(y_test, scores),
                        "seconds": seconds,
                    }
                )
            done = [r for r in rows if r["dataset"] == path.stem and r["seed"] == seed]
            print(
                f"{path.stem} seed {seed}: "
                + ", ".join(f"{r['method']} {r['roc_auc']:.3f}" for r in done),
                flush=True,
            )
    return pd.DataFrame(rows)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset means over seeds (columns: method x metric) plus a MEAN row."""
    means = results.groupby(["dataset", "method"], sort=False)[
        ["roc_auc", "average_precision", "seconds"]
    ].mean()
    table = means.unstack("method")
    table = table.reorder_levels([1, 0], axis=1)
    order = [m for m in METHODS if m in results["method"].unique()]
    table = table[
        [(m, c) for m in order for c in ("roc_auc", "average_precision", "seconds")]
    ]
    table.loc["MEAN"] = table.mean()
    return table


def to_markdown(table: pd.DataFrame) -> str:
    methods = list(dict.fromkeys(m for m, _ in table.columns))
    header = "| dataset | " + " | ".join(f"{LABELS[m]} ROC-AUC | AP | s" for m in methods)
    lines = [header + " |", "|---" * (1 + 3 * len(methods)) + "|"]
    for dataset, row in table.iterrows():
        cells = []
        for m in methods:
            cells += [
                f"{row[(m, 'roc_auc')]:.3f}",
                f"{row[(m, 'average_precision')]:.3f}",
                f"{row[(m, 'seconds')]:.2f}",
            ]
        name = f"**{dataset}**" if dataset == "MEAN" else dataset
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    print(
        f"ADBench protocol: seeds {args.seeds}, rows capped at {args.max_rows}, "
        f"{args.threads} thread(s), data from {args.data_dir}"
    )
    results = benchmark(args)
    if results.empty:
        print("nothing was run")
        return 1
    table = summary(results)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("\nROC-AUC / average precision / fit+score seconds, mean over seeds:")
        print(table.round(3).to_string())
    if args.output is not None:
        if args.output.suffix == ".md":
            args.output.write_text(to_markdown(table) + "\n")
        else:
            results.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(_ARGS))

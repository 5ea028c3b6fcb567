"""Imputation quality: AutoencoderImputer against scikit-learn's imputers.

Tables: eight from ADBench (``../shared/data/adbench``, relative to the
repository root; ``--adbench`` to point elsewhere, skipped when absent) and
four bundled with scikit-learn. Each table is standardised (complete data,
``StandardScaler``), capped at ``--max-rows`` rows (random, seed 0), and 10 %
and 30 % of its cells are removed completely at random (seeds fixed per table
and rate). Every imputer is fitted on the table with holes and fills them.

Printed per table and rate:

- RMSE on the removed cells, in standardised units (lower is better);
- the 5-fold cross-validated accuracy of a logistic regression on the
  imputed table (ADBench: normal vs anomaly; scikit-learn: the class, the
  target's median split for diabetes);

then the mean rank of each imputer over all table/rate pairs (1 = best).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_imputer.py
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderImputer

ADBENCH = [
    "4_breastw",
    "7_Cardiotocography",
    "18_Ionosphere",
    "22_magic.gamma",
    "29_Pima",
    "30_satellite",
    "35_SpamBase",
    "47_yeast",
]
RATES = (0.1, 0.3)


def imputers(seed: int) -> dict:
    return {
        "SimpleImputer": SimpleImputer(),
        "KNNImputer": KNNImputer(),
        "IterativeImputer": IterativeImputer(max_iter=10, random_state=seed),
        "AutoencoderImputer": AutoencoderImputer(random_state=seed),
    }


def load_tables(adbench: Path, max_rows: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    tables = {}
    if adbench.is_dir():
        for name in ADBENCH:
            path = adbench / f"{name}.npz"
            if path.exists():
                data = np.load(path)
                tables[name] = (data["X"].astype(np.float64), data["y"].astype(int))
    else:
        print(f"(no ADBench tables at {adbench}: scikit-learn tables only)")
    for name in ("breast_cancer", "wine", "digits", "diabetes"):
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        if name == "diabetes":
            y = (y > np.median(y)).astype(int)
        tables[name] = (X.astype(np.float64), y)
    out = {}
    rng = np.random.default_rng(0)
    for name, (X, y) in tables.items():
        if len(X) > max_rows:
            keep = np.sort(rng.choice(len(X), max_rows, replace=False))
            X, y = X[keep], y[keep]
        X = X[:, X.std(axis=0) > 0]  # constant columns carry nothing to impute
        out[name] = (StandardScaler().fit_transform(X), y)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--adbench", type=Path, default=root / "../shared/data/adbench")
    parser.add_argument("--max-rows", type=int, default=1000)
    parser.add_argument("--tables", nargs="*", help="only these tables")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: these small networks gain nothing from more, "
        "and on a loaded machine extra threads wait on each other)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tables = load_tables(args.adbench, args.max_rows)
    if args.tables:
        tables = {k: v for k, v in tables.items() if k in args.tables}
    names = list(imputers(0))
    rmse_rows, accuracy_rows, seconds = [], [], {n: 0.0 for n in names}
    header = f"{'table':<20}{'rate':>5} " + " ".join(f"{n[:-7]:>12}" for n in names)
    print("RMSE on the removed cells (standardised units) | CV accuracy")
    print(header + " |" + " ".join(f"{n[:-7]:>12}" for n in names))
    for t, (name, (X, y)) in enumerate(tables.items()):
        for r, rate in enumerate(RATES):
            seed = 100 * t + r
            holes = np.random.default_rng(seed).uniform(size=X.shape) < rate
            X_missing = np.where(holes, np.nan, X)
            rmse, accuracy = [], []
            for imputer_name, imputer in imputers(seed).items():
                start = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    filled = imputer.fit_transform(X_missing)
                seconds[imputer_name] += time.process_time() - start
                rmse.append(float(np.sqrt(np.mean((filled[holes] - X[holes]) ** 2))))
                classifier = LogisticRegression(max_iter=1000)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    accuracy.append(cross_val_score(classifier, filled, y, cv=5).mean())
            rmse_rows.append(rmse)
            accuracy_rows.append(accuracy)
            print(
                f"{name:<20}{rate:>5.0%} "
                + " ".join(f"{v:>12.3f}" for v in rmse)
                + " |"
                + " ".join(f"{v:>12.3f}" for v in accuracy),
                flush=True,
            )
    rmse_ranks = np.mean([rankdata(row) for row in rmse_rows], axis=0)
    accuracy_ranks = np.mean([rankdata(-np.asarray(row)) for row in accuracy_rows], axis=0)
    mean_rmse = np.mean(rmse_rows, axis=0)
    mean_accuracy = np.mean(accuracy_rows, axis=0)
    print(f"\n{len(rmse_rows)} table/rate pairs")
    print(
        f"{'imputer':<20}{'mean RMSE':>10}{'RMSE rank':>10}{'mean acc':>10}"
        f"{'acc rank':>10}{'CPU s':>8}"
    )
    for i, n in enumerate(names):
        print(
            f"{n:<20}{mean_rmse[i]:>10.3f}{rmse_ranks[i]:>10.2f}{mean_accuracy[i]:>10.3f}"
            f"{accuracy_ranks[i]:>10.2f}{seconds[n]:>8.0f}"
        )
    ours, simple = names.index("AutoencoderImputer"), names.index("SimpleImputer")
    worse = sum(row[ours] > row[simple] for row in rmse_rows)
    print(
        f"AutoencoderImputer worse than SimpleImputer on {worse} of {len(rmse_rows)} pairs"
    )


if __name__ == "__main__":
    main()

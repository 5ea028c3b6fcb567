"""Weights of AnomalyDetector's score parts, measured on the ADBench protocol.

How the default weights (``skae._anomaly_defaults.NEIGHBORS_WEIGHT`` and
``HISTOGRAM_WEIGHT``) were chosen: for every table, variant and seed of
``bench_adbench.py`` the default detector is fitted once, and its four parts
-- the balanced reconstruction error, the distance from the column medians,
the neighbour distance and the per-column histograms -- are computed for the
training and the test rows. Weighted Stouffer mixes of their normal scores
(``skae._normal_scores``, against the training rows, as the detector does)
are then evaluated without refitting, and their mean ROC-AUC per variant and
half is printed beside the baselines of the same cases, read from
``bench_adbench.py``'s cache (run it first to fill the cache: ``python
benchmarks/bench_adbench.py --variants original rare1 rare5 small``; add
``bundled`` or ``classes`` to both to see tables the weights were not chosen
on).

    python benchmarks/bench_score_parts.py                      # the recipes below
    python benchmarks/bench_score_parts.py --grid 0.1           # every mix, steps of 0.1
    python benchmarks/bench_score_parts.py --variants bundled --seeds 0 1 2 3 4 5 6 7 8 9
    python benchmarks/bench_score_parts.py --variants classes --seeds 0 1 2 3 4

With ``--grid`` it prints the mixes whose worst margin to the best baseline
is largest, chosen on the odd half and on the even half separately (a choice
should hold on both).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import warnings
from pathlib import Path

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_adbench as B

from skae import AnomalyDetector
from skae._normal_scores import fit_normal_scale, normal_scores

#: Named mixes (weights of "reconstruction", "distance", "neighbors").
RECIPES = {
    "default before the histogram part (0.2 + 0.8 neighbours)": {
        "reconstruction": 0.2,
        "neighbors": 0.8,
    },
    "default (0.1 + 0.8 neighbours + 0.1 histograms)": {
        "reconstruction": 0.1,
        "neighbors": 0.8,
        "histogram": 0.1,
    },
    "0.1 + 0.7 neighbours + 0.2 histograms": {
        "reconstruction": 0.1,
        "neighbors": 0.7,
        "histogram": 0.2,
    },
    "0.1 + 0.6 neighbours + 0.3 histograms": {
        "reconstruction": 0.1,
        "neighbors": 0.6,
        "histogram": 0.3,
    },
    "0.1 + 0.9 neighbours": {"reconstruction": 0.1, "neighbors": 0.9},
    "neighbours alone": {"neighbors": 1.0},
    "histograms alone": {"histogram": 1.0},
    "reconstruction alone": {"reconstruction": 1.0},
}


def parts_of(detector: AnomalyDetector, X: np.ndarray) -> dict[str, np.ndarray]:
    """The four parts of the detector's score of the rows ``X``."""
    Z = detector._scale(X)
    U = detector._neighbor_space(X)
    return {
        "reconstruction": detector._reconstruction_part(Z),
        "distance": detector._distance_part(Z),
        "neighbors": detector._neighbors_part(U),
        "histogram": detector._histogram_part(U),
    }


def collect(args: argparse.Namespace) -> list[dict]:
    """One fit per (table, variant, seed): the parts of train and test rows."""
    cases = []
    sources = []  # (table, half, variant, loader of a seed's split)
    on_disk = [v for v in args.variants if v not in B.SHIPPED]
    if on_disk:
        for path in B.find_datasets(args.data_dir, args.datasets, args.halves):
            for variant in on_disk:

                def loader(seed, path=path, variant=variant):
                    synthetic = args.cache.parent / "synthetic"
                    return B.load_variant(path, variant, seed, args.max_rows, synthetic)

                sources.append((path.stem, B.half_of(path), variant, loader))
    sources += B.shipped_sources(args.variants)
    for stem, half, variant, loader in sources:
        for seed in args.seeds:
            X_train, X_test, y_test, _ = loader(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detector = AnomalyDetector(random_state=seed).fit(X_train)
                train = parts_of(detector, X_train)
                test = parts_of(detector, X_test)
            normal = {
                name: normal_scores(test[name], fit_normal_scale(train[name]))
                for name in train
            }
            cases.append(
                dict(
                    dataset=stem,
                    variant=variant,
                    seed=seed,
                    half=half,
                    y=y_test,
                    normal=normal,
                )
            )
            print(f"{stem} {variant} seed {seed}", flush=True)
    return cases


def evaluate(cases: list[dict], recipes: dict, cache: pd.DataFrame) -> pd.DataFrame:
    """Mean ROC-AUC per (variant, half) of each recipe and each cached baseline."""
    rows = []
    for case in cases:
        for name, weights in recipes.items():
            score = sum(w * case["normal"][part] for part, w in weights.items() if w > 0)
            rows.append(
                dict(
                    dataset=case["dataset"],
                    variant=case["variant"],
                    seed=case["seed"],
                    method=name,
                    roc_auc=roc_auc_score(case["y"], score),
                )
            )
    results = pd.DataFrame(rows)
    keys = set(zip(results.dataset, results.variant, results.seed, strict=True))
    base = cache[
        [k in keys for k in zip(cache.dataset, cache.variant, cache.seed, strict=True)]
    ]
    base = base[base.max_rows == max_rows_of(base)]
    everything = pd.concat([results, base[results.columns]], ignore_index=True)
    half = {case["dataset"]: case["half"] for case in cases}
    everything["half"] = everything.dataset.map(half)
    per_table = everything.groupby(["variant", "half", "dataset", "method"]).roc_auc.mean()
    per_table = per_table.unstack("method")
    baselines = [m for m in per_table.columns if m not in recipes]
    per_table = per_table.dropna(subset=baselines)
    means = per_table.groupby(level=[0, 1]).mean()
    means["best baseline"] = means[baselines].max(axis=1)
    means["best is"] = means[baselines].idxmax(axis=1)
    return means[[*recipes, "best baseline", "best is"]]


def max_rows_of(base: pd.DataFrame) -> int:
    return int(base.max_rows.mode().iloc[0]) if len(base) else 10_000


def grid(step: float) -> dict:
    """Every mix of the four parts' weights in steps of ``step``, summing to 1."""
    weights = np.round(np.arange(0, 1 + 1e-9, step), 6)
    recipes = {}
    for wr, wd, wh in itertools.product(weights, weights, weights):
        wk = round(1 - wr - wd - wh, 6)
        if wk >= -1e-9:
            name = f"rec {wr:g} / med {wd:g} / nbr {max(wk, 0):g} / hist {wh:g}"
            recipes[name] = {
                "reconstruction": wr,
                "distance": wd,
                "neighbors": max(wk, 0),
                "histogram": wh,
            }
    return recipes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=B.DEFAULT_DATA_DIR)
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--halves", nargs="+", default=["odd", "even"])
    parser.add_argument(
        "--variants", nargs="+", default=["original", "rare1", "rare5", "small"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-rows", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=B.DEFAULT_CACHE)
    parser.add_argument("--grid", type=float, help="also every mix, in steps of this")
    args = parser.parse_args()
    if not args.cache.exists():
        print(f"No baseline cache at {args.cache}: run bench_adbench.py first.")
        return 1
    cache = B.read_cache(args.cache)
    cases = collect(args)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print("\nMean ROC-AUC (over tables of the mean over seeds):")
    print(evaluate(cases, RECIPES, cache).round(3).T.to_string())
    if args.grid:
        recipes = grid(args.grid)
        means = evaluate(cases, recipes, cache)
        margin = means[list(recipes)].sub(means["best baseline"], axis=0)
        halves = margin.index.get_level_values("half")
        for half in ("odd", "even"):
            if half not in halves:
                continue
            other_half = "even" if half == "odd" else "odd"
            rows = margin.xs(half, level="half")
            worst = rows.min().sort_values(ascending=False)
            print(f"\nBest worst-margin mixes chosen on the {half} half:")
            for name in worst.index[:6]:
                line = f"  {name:>40}: worst margin {worst[name]:+.3f} here"
                if other_half in halves:
                    other = margin.xs(other_half, level="half")[name].min()
                    line += f", {other:+.3f} on the other half"
                for shipped in B.SHIPPED:
                    if shipped in halves:
                        mean = means[name].xs(shipped, level="half").iloc[0]
                        line += f"; {shipped} mean {mean:.3f}"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AnomalyDetector on raw mixed-type tables vs IsolationForest behind one-hot encoding.

Generated tables (offline, fixed seeds) of customers with three categorical
columns, a bool and five numeric columns, 10 % of the cells missing at random,
and two kinds of planted anomalies in the rows to score:

* ``category``: a region/segment pair that (almost) never occurs, with numbers
  typical of the segment -- every value is common, only the combination is odd;
* ``number``: spend out of line with income (three to five times the usual
  ratio), every other value typical.

skae's ``AnomalyDetector`` gets the raw DataFrame (categories as strings, NaN
for missing cells). IsolationForest gets scikit-learn's usual preprocessing:
``OneHotEncoder(handle_unknown="ignore")`` for the categories and the bool,
``SimpleImputer(strategy="median")`` for the numbers. The same pipeline in
front of ``AnomalyDetector`` (squared error on the scaled one-hot columns,
imputed cells scored like observed ones) shows what the built-in handling of
categories and missing cells adds. All train on normal rows only and are
scored by ROC-AUC, for each kind of anomaly against the normal
test rows and for both together.

Run::

    PYTHONPATH=. python benchmarks/bench_mixed_tables.py [--seeds 0 1 2] [--rows 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skae import AnomalyDetector

REGIONS = ["north", "south", "east", "west", "centre"]
SEGMENTS = ["student", "family", "retired", "business"]
# Each region has one usual segment (80 %) and a second one (18 %); 2 % anywhere.
USUAL = {
    "north": ("business", "family"),
    "south": ("retired", "family"),
    "east": ("student", "business"),
    "west": ("family", "student"),
    "centre": ("business", "retired"),
}
INCOME = {"student": 15.0, "family": 45.0, "retired": 30.0, "business": 80.0}
CATEGORICAL = ["region", "segment", "channel", "member"]
MEMBER_SPEND = 12.0  # members spend more than this


def make_rows(n: int, rng: np.random.RandomState) -> pd.DataFrame:
    """Normal customers."""
    region = rng.choice(REGIONS, n)
    draw = rng.rand(n)
    segment = np.where(
        draw < 0.8,
        [USUAL[r][0] for r in region],
        np.where(draw < 0.98, [USUAL[r][1] for r in region], rng.choice(SEGMENTS, n)),
    )
    income = np.array([INCOME[s] for s in segment]) * np.exp(0.25 * rng.randn(n))
    spend = 0.3 * income * np.exp(0.15 * rng.randn(n))
    channel = rng.choice(["web", "store", "phone"], n, p=[0.5, 0.35, 0.15])
    visits = np.where(channel == "store", 8.0, 3.0) + rng.poisson(2, n)
    age = np.array([{"student": 22, "retired": 70}.get(s, 45) for s in segment]) + 6 * (
        rng.randn(n)
    )
    return pd.DataFrame(
        {
            "region": region,
            "segment": segment,
            "channel": channel,
            "member": spend > MEMBER_SPEND,
            "income": income.round(1),
            "spend": spend.round(2),
            "visits": visits,
            "age": age.round(),
            "tenure": np.maximum(0, (age - 18) * rng.rand(n)).round(),
        }
    )


def plant_category(rows: pd.DataFrame, rng: np.random.RandomState) -> pd.DataFrame:
    """Region/segment pairs that are never usual (2 % of normal rows have them)."""
    rows = rows.copy()
    for i in rows.index:
        unusual = [s for s in SEGMENTS if s not in USUAL[rows.at[i, "region"]]]
        segment = rng.choice(unusual)
        # The numbers follow the new segment: only the pair is odd.
        rows.at[i, "segment"] = segment
        rows.at[i, "income"] = round(INCOME[segment] * np.exp(0.25 * rng.randn()), 1)
        rows.at[i, "spend"] = round(
            0.3 * rows.at[i, "income"] * np.exp(0.15 * rng.randn()), 2
        )
        rows.at[i, "age"] = {"student": 22, "retired": 70}.get(segment, 45) + round(
            6 * rng.randn()
        )
        rows.at[i, "tenure"] = max(0, round((rows.at[i, "age"] - 18) * rng.rand()))
    rows["member"] = rows["spend"] > MEMBER_SPEND
    return rows


def plant_number(rows: pd.DataFrame, rng: np.random.RandomState) -> pd.DataFrame:
    """Spend three to five times the usual share of income."""
    rows = rows.copy()
    rows["spend"] = (rows["spend"] * rng.uniform(3, 5, len(rows))).round(2)
    rows["member"] = rows["spend"] > MEMBER_SPEND
    return rows


def punch_holes(rows: pd.DataFrame, share: float, rng: np.random.RandomState):
    holes = rng.rand(*rows.shape) < share
    return rows.astype({"member": object}).mask(holes)


def make_dataset(n_train: int, seed: int):
    rng = np.random.RandomState(seed)
    train = make_rows(n_train, rng)
    normal = make_rows(n_train // 2, rng)
    n_planted = max(20, n_train // 40)
    category = plant_category(make_rows(n_planted, rng), rng)
    number = plant_number(make_rows(n_planted, rng), rng)
    test = pd.concat([normal, category, number], ignore_index=True)
    kind = np.array(
        ["normal"] * len(normal) + ["category"] * n_planted + ["number"] * n_planted
    )
    return punch_holes(train, 0.1, rng), punch_holes(test, 0.1, rng), kind


def one_hot_pipeline(model):
    numeric = [c for c in make_rows(2, np.random.RandomState(0)) if c not in CATEGORICAL]
    encode = ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                CATEGORICAL,
            ),
            ("numbers", SimpleImputer(strategy="median"), numeric),
        ]
    )
    return make_pipeline(encode, model)


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as text for the one-hot pipeline (missing stays NaN)."""
    frame = frame.copy()
    for c in CATEGORICAL:
        frame[c] = frame[c].map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=2000, help="training rows")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        train, test, kind = make_dataset(args.rows, seed)
        for name, model, X_train, X_test in [
            ("skae AnomalyDetector", AnomalyDetector(random_state=seed), train, test),
            (
                "IsolationForest+one-hot",
                one_hot_pipeline(IsolationForest(random_state=seed)),
                as_strings(train),
                as_strings(test),
            ),
            (
                "AnomalyDetector+one-hot",
                one_hot_pipeline(AnomalyDetector(random_state=seed)),
                as_strings(train),
                as_strings(test),
            ),
        ]:
            start = time.perf_counter()
            scores = -model.fit(X_train).score_samples(X_test)
            seconds = time.perf_counter() - start
            row = {"seed": seed, "method": name, "fit+score s": seconds}
            for which in ("category", "number"):
                keep = (kind == "normal") | (kind == which)
                row[which] = roc_auc_score(kind[keep] == which, scores[keep])
            row["both"] = roc_auc_score(kind != "normal", scores)
            results.append(row)
            print(
                f"seed {seed}  {name:<24} ROC-AUC category {row['category']:.3f}  "
                f"number {row['number']:.3f}  both {row['both']:.3f}  ({seconds:.1f} s)",
                flush=True,
            )
    table = pd.DataFrame(results).groupby("method")[
        ["category", "number", "both", "fit+score s"]
    ]
    print()
    print(f"mean over seeds {args.seeds}, {args.rows} training rows, 10 % cells missing")
    print(table.mean().round(3).to_string())


if __name__ == "__main__":
    main()

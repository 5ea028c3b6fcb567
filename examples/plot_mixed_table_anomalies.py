"""
Anomalies in a mixed-type table with missing cells
==================================================

Real tables mix numbers, categories and flags, and have holes.
:class:`~skae.AnomalyDetector` takes such a DataFrame as it is: categorical,
string and bool columns are one-hot encoded inside the detector, missing cells
(NaN, ``None``) are filled for the network and left out of the errors, and
:meth:`~skae.AnomalyDetector.explain` gives one contribution per *original*
column. No preprocessing pipeline is needed.

We generate a table of customers in which the region decides the usual
segment, the segment the income, and the income the spend. 10 % of the cells
are missing. Among the rows to score we plant three kinds of anomalies:

* an odd **category combination**: a segment that is rare in the
  customer's region, with numbers that fit the segment;
* an odd **number**: spend four times the usual share of income;
* an **unseen category**: a sales channel that never occurred in training.

Then we check that ``explain`` points at the planted cause of each.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skae import AnomalyDetector, AutoencoderTransformer
from skae.plotting import plot_feature_errors, plot_score_histogram

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
rng = np.random.RandomState(0)

USUAL = {"north": "business", "south": "retired", "east": "student", "west": "family"}
INCOME = {"student": 15.0, "family": 45.0, "retired": 30.0, "business": 80.0}


def customers(n, segment=None):
    region = rng.choice(list(USUAL), n)
    if segment is None:  # the region's usual segment, 3 % another one
        segment = np.array([USUAL[r] for r in region], dtype=object)
        other = rng.rand(n) < 0.03
        segment[other] = rng.choice(list(INCOME), other.sum())
    income = np.array([INCOME[s] for s in segment]) * np.exp(0.2 * rng.randn(n))
    spend = 0.3 * income * np.exp(0.1 * rng.randn(n))
    return pd.DataFrame(
        {
            "region": region,
            "segment": segment,
            "channel": rng.choice(["web", "store", "phone"], n, p=[0.5, 0.35, 0.15]),
            "member": spend > 12,
            "income": income.round(1),
            "spend": spend.round(2),
            "visits": rng.poisson(4, n).astype(float),
        }
    )


def with_holes(table, share=0.1):
    return table.astype({"member": object}).mask(rng.rand(*table.shape) < share)


train = with_holes(customers(1500))
normal = customers(300)

# Odd pairs: a segment that is not the region's usual one (numbers fit the segment).
segments = rng.choice(list(INCOME), 15)
pairs = customers(15, segment=segments)
pairs["region"] = [rng.choice([r for r in USUAL if USUAL[r] != s]) for s in segments]
# Odd numbers: spend four times the usual share of income.
numbers = customers(15)
numbers["spend"] *= 4
numbers["member"] = numbers["spend"] > 12
# An unseen channel.
unseen = customers(15).assign(channel="fax")

test = pd.concat([normal, pairs, numbers, unseen], ignore_index=True)
kind = np.repeat(
    ["normal", "category pair", "number", "unseen category"], [300, 15, 15, 15]
)
test = with_holes(test)
print(train.head())
print(f"{train.isna().mean().mean():.0%} of the training cells are missing")

# %%
# Fit on the raw DataFrame
# ------------------------
# ``table_`` records how each column is read: its kind and, for a categorical
# column, the categories seen at fit.
# The default inner model (``None``: three networks sized from the data); a
# smaller one in the documentation's fast build.
inner = None
if FAST:
    inner = AutoencoderTransformer(
        n_components=4, hidden_layer_sizes=(32,), max_epochs=15, random_state=0
    )
detector = AnomalyDetector(inner, random_state=0).fit(train)
for column, kind_, categories in zip(
    train.columns, detector.table_["kinds"], detector.table_["categories"], strict=True
):
    print(f"{column:>8}: {kind_:<11} {categories}")

# %%
# Scores
# ------
# Planted rows score far below the normal ones, each kind of them.
scores = detector.score_samples(test)
for which in ["category pair", "number", "unseen category"]:
    keep = (kind == "normal") | (kind == which)
    auc = roc_auc_score(kind[keep] == which, -scores[keep])
    flagged = np.mean(detector.predict(test[kind == which]) == -1)
    print(f"{which:>16}: ROC-AUC {auc:.3f}, {flagged:.0%} flagged")
print(f"normal rows flagged: {np.mean(detector.predict(test[kind == 'normal']) == -1):.0%}")
plot_score_histogram(detector, test, kind != "normal")
plt.show()

# %%
# Does ``explain`` find the planted causes?
# -----------------------------------------
# For each kind of anomaly, how often each column is the largest contributor to
# a planted row's error. Odd pairs should point at ``region`` or ``segment``,
# odd numbers at ``spend`` (or ``income``, the other side of the broken ratio,
# or ``member``, which follows spend),
# unseen channels at ``channel``. Missing cells never contribute: their error
# is 0.
top = detector.explain(test).idxmax(axis=1)
counts = pd.crosstab(pd.Series(kind, name="planted"), top.rename("top column"))
counts = counts.drop(index="normal")
print(counts)
ax = counts.T.plot.bar(figsize=(7, 4), rot=0)
ax.set_ylabel("planted rows")
ax.set_title("Column with the largest error, per kind of planted anomaly")
plt.tight_layout()
plt.show()

# %%
# The most anomalous row of each kind
# -----------------------------------
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
for ax, which in zip(axes, ["category pair", "number", "unseen category"], strict=True):
    row = test.iloc[[np.flatnonzero(kind == which)[np.argmin(scores[kind == which])]]]
    plot_feature_errors(detector, row, ax=ax)
    ax.set_title(which)
fig.tight_layout()
plt.show()

# %%
# Missing cells are not anomalies
# -------------------------------
# The same normal rows with half of their cells removed: the removed cells add
# nothing, and the rows are not flagged for it.
complete = normal.iloc[:100]
holed = complete.astype({"member": object}).mask(rng.rand(*complete.shape) < 0.5)
errors = detector.explain(holed).to_numpy()
print(f"error of the removed cells: {errors[holed.isna().to_numpy()].max():.1f}")
print(
    f"flagged: {np.mean(detector.predict(complete) == -1):.0%} of the complete rows, "
    f"{np.mean(detector.predict(holed) == -1):.0%} with half of their cells missing"
)

# %%
# Against IsolationForest behind a one-hot pipeline
# -------------------------------------------------
# IsolationForest needs the usual preprocessing: one-hot encoding of the
# categories (unknown ones ignored) and imputation of the numbers. It sees each
# column alone, so a combination of common values or a ratio between two
# columns is hard for it to isolate. ``benchmarks/bench_mixed_tables.py``
# compares the two over several seeds.
categorical = ["region", "segment", "channel", "member"]
numeric = ["income", "spend", "visits"]


def as_text(frame):
    return frame.assign(
        **{c: frame[c].map(lambda v: v if pd.isna(v) else str(v)) for c in categorical}
    )


forest = make_pipeline(
    ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
            ("numbers", SimpleImputer(strategy="median"), numeric),
        ]
    ),
    IsolationForest(random_state=0),
).fit(as_text(train))
forest_scores = forest.score_samples(as_text(test))
is_planted = kind != "normal"
print(f"AnomalyDetector ROC-AUC: {roc_auc_score(is_planted, -scores):.3f}")
print(f"IsolationForest ROC-AUC: {roc_auc_score(is_planted, -forest_scores):.3f}")

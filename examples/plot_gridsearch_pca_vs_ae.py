"""
Choosing between PCA and an autoencoder with GridSearchCV
=========================================================

Whether an autoencoder beats PCA as a preprocessing step depends on the data
and on what comes after it. Because both are scikit-learn transformers, the
choice itself can be a hyper-parameter: the grid below searches over *which*
reducer sits in the pipeline and over its ``n_components``, scored by the
accuracy of the classifier at the end.
"""

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 60

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

pipeline = Pipeline(
    [
        ("reduce", PCA()),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=2000)),
    ]
)
autoencoder = AutoencoderTransformer(
    hidden_layer_sizes=(128,), max_epochs=EPOCHS, random_state=0
)
param_grid = {
    "reduce": [PCA(), autoencoder],
    "reduce__n_components": [4, 8] if FAST else [4, 8, 16],
}
search = GridSearchCV(pipeline, param_grid, cv=3).fit(X_train, y_train)

# %%
# The results table
# -----------------
results = pd.DataFrame(search.cv_results_)
results["reducer"] = results["param_reduce"].map(lambda est: type(est).__name__)
table = results[
    [
        "reducer",
        "param_reduce__n_components",
        "mean_test_score",
        "std_test_score",
        "mean_fit_time",
        "rank_test_score",
    ]
].rename(columns={"param_reduce__n_components": "n_components"})
print(table.sort_values("rank_test_score").to_string(index=False))
print("best:", type(search.best_params_["reduce"]).__name__, search.best_params_)
print(f"held-out accuracy of the refitted best: {search.score(X_test, y_test):.3f}")

# %%
# Accuracy against the code size
# ------------------------------
fig, ax = plt.subplots()
for reducer, group in table.groupby("reducer"):
    ax.errorbar(
        group["n_components"].astype(int),
        group["mean_test_score"],
        yerr=group["std_test_score"],
        marker="o",
        capsize=3,
        label=reducer,
    )
ax.set_xlabel("n_components")
ax.set_ylabel("cross-validated accuracy")
ax.set_title("Logistic regression after each reducer")
ax.legend()
plt.show()

# %%
# With very small codes the autoencoder's non-linear features usually help
# the linear classifier; with more components PCA is as good and far cheaper
# to fit (compare ``mean_fit_time``). The grid search makes that trade-off from
# the data instead of by habit.

"""
An autoencoder before t-SNE
===========================

t-SNE is often run on a compressed version of the data rather than on raw
pixels: PCA to a few dozen components is the usual first step. An autoencoder
can take PCA's place in that pipeline, since it is a scikit-learn transformer::

    Pipeline([("ae", AutoencoderTransformer(n_components=32)), ("tsne", TSNE())])

We embed the same digits three ways -- t-SNE on raw pixels, after PCA(32) and
after a 32-unit autoencoder -- and score each picture with
:func:`sklearn.manifold.trustworthiness`, which measures how well the 2-D
neighbourhoods respect the neighbourhoods among the raw pixels (1 is perfect).
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.pipeline import Pipeline

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 60
N_ROWS = 400 if FAST else 800  # t-SNE's cost grows quickly with the rows
TSNE_ITER = 250 if FAST else 1000

X, y = load_digits(return_X_y=True)
X, y = X[:N_ROWS] / 16.0, y[:N_ROWS]


def tsne():
    return TSNE(n_components=2, max_iter=TSNE_ITER, init="pca", random_state=0)


pipelines = {
    "raw pixels": Pipeline([("tsne", tsne())]),
    "PCA(32)": Pipeline([("pca", PCA(n_components=32)), ("tsne", tsne())]),
    "autoencoder(32)": Pipeline(
        [
            (
                "ae",
                AutoencoderTransformer(
                    n_components=32,
                    hidden_layer_sizes=(128,),
                    max_epochs=EPOCHS,
                    random_state=0,
                ),
            ),
            ("tsne", tsne()),
        ]
    ),
}

# %%
# Embed and score
# ---------------
embeddings, scores = {}, {}
for name, pipeline in pipelines.items():
    embeddings[name] = pipeline.fit_transform(X)
    scores[name] = trustworthiness(X, embeddings[name], n_neighbors=10)
    print(f"{name:>16}: trustworthiness {scores[name]:.3f}")

# %%
# Side by side
# ------------
fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
for ax, (name, embedding) in zip(axes, embeddings.items(), strict=True):
    points = ax.scatter(embedding[:, 0], embedding[:, 1], c=y, cmap="tab10", s=6)
    ax.set_title(f"t-SNE on {name}\ntrustworthiness {scores[name]:.3f}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(points, ax=axes, label="digit")
plt.show()

# %%
# All three separate the digits; the compressed inputs keep nearly the
# trustworthiness of raw pixels while t-SNE works on 32 numbers per image
# instead of 64, which matters more for wider data such as full-size images.

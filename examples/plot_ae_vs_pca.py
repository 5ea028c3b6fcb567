"""
Autoencoder vs PCA: reconstruction error against the code size
================================================================

PCA is the best *linear* way to squeeze data into ``n_components`` numbers and
back. An autoencoder with a non-linear encoder and decoder can do better, most
visibly when the code is small. Both are scikit-learn transformers here, so the
comparison is the same few lines for each: ``fit`` on training digits, then
measure the mean squared reconstruction error on held-out digits.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

# The test suite sets SKAE_FAST_EXAMPLES=1 to train for a few epochs only.
FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 60

X, _ = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities in [0, 1]
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

# %%
# Fit PCA and an autoencoder for each code size
# ---------------------------------------------
# The autoencoder has one hidden layer of 128 units on each side of the code.
sizes = [2, 4, 8, 16] if FAST else [2, 4, 8, 16, 32]
pca_errors, ae_errors = [], []
for k in sizes:
    pca = PCA(n_components=k).fit(X_train)
    pca_errors.append(np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2))
    ae = AutoencoderTransformer(
        n_components=k, hidden_layer_sizes=(128,), max_epochs=EPOCHS, random_state=0
    ).fit(X_train)
    ae_errors.append(ae.reconstruction_error(X_test).mean())

for k, p, a in zip(sizes, pca_errors, ae_errors, strict=True):
    print(f"n_components={k:>2}  PCA {p:.4f}  autoencoder {a:.4f}")

# %%
# Both curves in one plot
# -----------------------
fig, ax = plt.subplots()
ax.plot(sizes, pca_errors, marker="o", label="PCA")
ax.plot(sizes, ae_errors, marker="s", label="AutoencoderTransformer")
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(k) for k in sizes])
ax.set_xlabel("n_components")
ax.set_ylabel("held-out mean squared error")
ax.set_title("Reconstruction error on held-out digits")
ax.legend()
plt.show()

# %%
# With small codes the non-linear autoencoder reconstructs far better than
# PCA; as the code grows, PCA catches up, because with many components a
# linear projection already keeps almost all of the variance.

"""
A linear autoencoder learns PCA's subspace
===========================================

An autoencoder with no hidden layer and no activation encodes with one matrix
and decodes with another. Minimising the squared reconstruction error then has
the same optimum as PCA: the decoder's columns span the top principal subspace
(Baldi & Hornik, 1989), although they need not be the principal axes
themselves nor orthogonal.

We measure that with the *principal angles* between the two subspaces
(:func:`scipy.linalg.subspace_angles`): all angles near zero means the same
subspace.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 15 if FAST else 100

X, _ = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
n_components = 4

pca = PCA(n_components=n_components).fit(X)
linear_ae = AutoencoderTransformer(
    n_components=n_components,
    hidden_layer_sizes=(),  # no hidden layer
    activation="identity",  # and nothing non-linear anywhere
    lr=3e-3,
    max_epochs=EPOCHS,
    random_state=0,
).fit(X)

# %%
# Compare the subspaces
# ---------------------
# The decoder is one linear layer; its weight matrix has shape
# ``(n_features, n_components)`` and its columns span the learned subspace.
decoder_weights = linear_ae.net_.module_.decoder.out.weight.detach().numpy()
angles = np.degrees(subspace_angles(decoder_weights, pca.components_.T))
print("principal angles (degrees):", np.round(angles, 1))

rng = np.random.RandomState(0)
random_angles = np.degrees(
    subspace_angles(rng.randn(X.shape[1], n_components), pca.components_.T)
)
print("angles to a random subspace:", np.round(random_angles, 1))

# %%
# The reconstruction errors agree as well.
pca_error = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
ae_error = linear_ae.reconstruction_error(X).mean()
print(f"PCA error {pca_error:.4f}, linear autoencoder error {ae_error:.4f}")

# %%
# Pictures
# --------
fig, (ax_angles, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
positions = np.arange(1, n_components + 1)
ax_angles.bar(positions - 0.2, angles, width=0.4, label="linear autoencoder")
ax_angles.bar(positions + 0.2, random_angles, width=0.4, label="random subspace")
ax_angles.set_xticks(positions)
ax_angles.set_xlabel("principal angle #")
ax_angles.set_ylabel("angle to PCA's subspace (degrees)")
ax_angles.set_ylim(0, 90)
ax_angles.legend()
plot_loss_curve(linear_ae, ax=ax_loss)
ax_loss.axhline(pca_error, color="black", linestyle="--", label="PCA's error")
ax_loss.legend()
fig.tight_layout()
plt.show()

# %%
# Training approaches PCA's error from above, and the angles to PCA's subspace
# shrink towards zero while those of a random subspace stay large. Adding a
# hidden layer with a non-linear activation (see the previous example) is what
# lets an autoencoder go *beyond* PCA.

"""
A variational autoencoder: latent map, manifold and samples
===========================================================

:class:`~skae.VAETransformer` learns a *distribution* over codes: its encoder
outputs a mean and a variance per code unit, and a KL term pulls the codes of
the training data towards a standard normal prior. That is what makes it
generative: decoding draws from the prior gives new, plausible rows.

With ``n_components=2`` we can look at everything: the latent map of the
digits, the decoded grid of latent points (the classic "manifold" picture),
and random samples.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skae import VAETransformer
from skae.plotting import plot_latent_space, plot_loss_curve, plot_vae_manifold

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 5 if FAST else 200

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities in [0, 1]: a Bernoulli likelihood fits them

vae = VAETransformer(
    n_components=2,
    hidden_layer_sizes=(256, 128),
    loss="bce",
    lr=2e-3,
    max_epochs=EPOCHS,
    random_state=0,
).fit(X)

# %%
# Latent map and training loss
# ----------------------------
# ``transform`` returns the posterior mean of each digit's code.
fig, (ax_map, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
plot_latent_space(vae, X, y, ax=ax_map)
plot_loss_curve(vae, ax=ax_loss)
fig.tight_layout()
plt.show()

# %%
# The decoded manifold
# --------------------
# A regular grid over the central 90% of the prior, mapped through the inverse
# normal CDF and decoded with ``inverse_transform``.
fig = plot_vae_manifold(vae, image_shape=(8, 8), n_per_side=15)
plt.show()

# %%
# Random samples
# --------------
# ``sample`` draws codes from the prior and decodes them.
samples = vae.sample(n_samples=32, random_state=0)
fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
for ax, image in zip(axes.ravel(), samples, strict=True):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Digits sampled from the prior")
plt.show()

# %%
# ``score_samples`` returns the evidence lower bound per row (higher = more
# typical under the model), which can also serve as an anomaly score.
print("mean ELBO per digit:", vae.score_samples(X).mean())

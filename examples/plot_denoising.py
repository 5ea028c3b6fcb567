"""
Denoising digits
================

A denoising autoencoder is trained to map a *corrupted* input back to the clean
one: :class:`~skae.DenoisingAutoencoder` adds fresh noise to every training
batch and learns to reconstruct the noise-free rows. At prediction time no
noise is added; ``denoise(X)`` returns the clean reconstruction of (noisy) rows.

We corrupt held-out digits with Gaussian noise and compare the noisy images,
the denoised output and the clean originals.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer, DenoisingAutoencoder

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 5 if FAST else 150

X, _ = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

rng = np.random.RandomState(0)
X_noisy = np.clip(X_test + rng.normal(scale=0.3, size=X_test.shape), 0, 1)

common = dict(n_components=32, hidden_layer_sizes=(128,), max_epochs=EPOCHS, random_state=0)
dae = DenoisingAutoencoder(noise="gaussian", noise_level=0.3, value_range=(0, 1), **common)
dae.fit(X_train)
plain = AutoencoderTransformer(**common).fit(X_train)

# %%
# How close to the clean digits?
# ------------------------------
X_denoised = dae.denoise(X_noisy)
X_plain = plain.reconstruct(X_noisy)
for name, images in [
    ("noisy input", X_noisy),
    ("plain autoencoder", X_plain),
    ("denoising autoencoder", X_denoised),
]:
    print(f"{name:>22}: mean squared error to clean {np.mean((images - X_test) ** 2):.4f}")

# %%
# Noisy, denoised, clean
# ----------------------
rows = [("noisy", X_noisy), ("denoised", X_denoised), ("clean", X_test)]
n_images = 10
fig, axes = plt.subplots(len(rows), n_images, figsize=(n_images, 3.3))
for r, (label, images) in enumerate(rows):
    for j in range(n_images):
        axes[r, j].imshow(images[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, j].set_xticks([])
        axes[r, j].set_yticks([])
    axes[r, 0].set_ylabel(label)
plt.show()

# %%
# A plain autoencoder also removes some noise (its small code cannot hold it),
# but training on corrupted inputs teaches the network explicitly what to
# ignore, and its output is closer to the clean digits.

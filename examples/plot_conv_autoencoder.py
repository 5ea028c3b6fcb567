"""
A convolutional autoencoder on digit images
===========================================

With ``architecture="conv"`` the encoder and decoder are convolutional
networks, which share weights across the image and know which pixels are
neighbours. Rows stay flat -- as for every scikit-learn estimator -- and
``input_shape=(channels, height, width)`` tells skae how to fold them into
images: ``(1, 8, 8)`` for ``load_digits``.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve, plot_reconstructions

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 60

X, _ = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

common = dict(n_components=16, max_epochs=EPOCHS, validation_fraction=0.1, random_state=0)
conv = AutoencoderTransformer(architecture="conv", input_shape=(1, 8, 8), **common)
conv.fit(X_train)
mlp = AutoencoderTransformer(hidden_layer_sizes=(128,), **common).fit(X_train)

n_parameters = {
    name: sum(p.numel() for p in model.net_.module_.parameters())
    for name, model in [("conv", conv), ("mlp", mlp)]
}
for name, model in [("conv", conv), ("mlp", mlp)]:
    print(
        f"{name:>4}: held-out error {model.reconstruction_error(X_test).mean():.4f} "
        f"with {n_parameters[name]:,} parameters"
    )

# %%
# Reconstructions of held-out digits
# ----------------------------------
fig = plot_reconstructions(conv, X_test, image_shape=(1, 8, 8), n_images=10)
fig.suptitle("Convolutional autoencoder")
plt.show()

# %%
# Training curves
# ---------------
fig, (ax_conv, ax_mlp) = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
plot_loss_curve(conv, ax=ax_conv).set_title("conv")
plot_loss_curve(mlp, ax=ax_mlp).set_title("mlp")
plt.show()

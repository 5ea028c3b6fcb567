"""
Deep, shallow and sparse autoencoders
=====================================

Three variants of the same idea, all through :class:`~skae.AutoencoderTransformer`:

* **shallow**: one hidden layer on each side of the code,
* **deep**: three hidden layers on each side,
* **sparse**: the shallow network plus an L1 penalty on the code
  (``activity_l1``), which pushes most code units to zero for each input.

We compare their training losses and look at the distribution of code
activations: the L1 penalty should make the mean absolute activation drop
sharply and pile the activations up at zero.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 4 if FAST else 60

X, _ = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

common = dict(n_components=32, max_epochs=EPOCHS, random_state=0)
models = {
    "shallow": AutoencoderTransformer(hidden_layer_sizes=(128,), **common),
    "deep": AutoencoderTransformer(hidden_layer_sizes=(256, 128, 64), **common),
    "sparse": AutoencoderTransformer(hidden_layer_sizes=(128,), activity_l1=1e-3, **common),
}
for model in models.values():
    model.fit(X_train)

# %%
# Losses and code activations
# ---------------------------
# ``history_`` records the training loss of every epoch. (For the sparse model
# the training loss includes the L1 penalty; the held-out error below does not.)
codes = {name: model.transform(X_test) for name, model in models.items()}
for name, model in models.items():
    print(
        f"{name:>7}: held-out error {model.reconstruction_error(X_test).mean():.4f}, "
        f"mean |activation| {np.abs(codes[name]).mean():.3f}"
    )

fig, (ax_loss, ax_hist) = plt.subplots(1, 2, figsize=(11, 4))
for name, model in models.items():
    plot_loss_curve(model, ax=ax_loss)
    ax_loss.get_lines()[-1].set_label(name)
ax_loss.legend()
ax_loss.set_yscale("log")

bins = np.linspace(0, max(np.abs(c).max() for c in codes.values()), 40)
for name, code in codes.items():
    ax_hist.hist(np.abs(code).ravel(), bins=bins, alpha=0.5, label=name)
ax_hist.set_yscale("log")
ax_hist.set_xlabel("|code activation|")
ax_hist.set_ylabel("count (held-out digits x code units)")
ax_hist.set_title("Code activations")
ax_hist.legend()
fig.tight_layout()
plt.show()

# %%
# On a data set this small, depth does not pay: after the same number of
# epochs the deep network is still behind the shallow one (more layers are
# slower to train and need more data to earn their capacity). The L1 penalty
# makes the sparse network's codes an order of magnitude smaller on average,
# with most activations piled up near zero -- a handful of code units describe
# each digit -- at little or no cost in reconstruction error.

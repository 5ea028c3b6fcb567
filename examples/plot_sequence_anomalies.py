"""
A sequence autoencoder for time-series anomalies
================================================

To find unusual stretches of a time series, cut it into sliding windows and
train an autoencoder on windows of normal behaviour. With
``architecture="lstm"`` the encoder and decoder are recurrent networks that
read each window step by step; ``input_shape=(timesteps, n_features_per_step)``
tells skae how to fold the flat rows back into sequences.

The signal here is a noisy oscillation. In the second half we inject three
anomalies: a spike, a sensor stuck at a constant value, and a burst at a
different frequency.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 60
WINDOW, STRIDE = 32, 4

rng = np.random.RandomState(0)
n_steps = 4000
t = np.arange(n_steps)
signal = np.sin(2 * np.pi * t / 25) + 0.1 * rng.randn(n_steps)
anomaly_spans = [(2600, 2610), (3000, 3080), (3500, 3560)]
signal[2600:2610] += 3.0  # spike
signal[3000:3080] = signal[3000]  # stuck sensor
signal[3500:3560] = np.sin(2 * np.pi * t[3500:3560] / 7)  # wrong frequency
truth = np.zeros(n_steps, dtype=bool)
for start, stop in anomaly_spans:
    truth[start:stop] = True

starts = np.arange(0, n_steps - WINDOW + 1, STRIDE)
windows = np.stack([signal[s : s + WINDOW] for s in starts])
window_is_anomalous = np.array([truth[s : s + WINDOW].any() for s in starts])

# Train on the first half, which is all normal.
train = starts + WINDOW <= n_steps // 2
lstm = AutoencoderTransformer(
    n_components=8,
    architecture="lstm",
    input_shape=(WINDOW, 1),
    max_epochs=EPOCHS,
    random_state=0,
).fit(windows[train])

# %%
# Score every window
# ------------------
# The threshold is the largest error among the training windows, with a small
# margin: anything the model reconstructs worse than all of normal history.
errors = lstm.reconstruction_error(windows)
threshold = 1.1 * errors[train].max()
test = ~train
auc = roc_auc_score(window_is_anomalous[test], errors[test])
print(f"ROC-AUC on the second half: {auc:.3f}")
print(f"windows flagged: {(errors[test] > threshold).sum()} of {test.sum()}")

# %%
# Signal, window errors and threshold
# -----------------------------------
fig, (ax_signal, ax_error) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
ax_signal.plot(t, signal, linewidth=0.6)
for start, stop in anomaly_spans:
    for ax in (ax_signal, ax_error):
        ax.axvspan(start, stop, color="tab:red", alpha=0.2)
ax_signal.axvline(n_steps // 2, color="black", linestyle=":", label="end of training data")
ax_signal.set_ylabel("signal")
ax_signal.legend(loc="upper left")
ax_error.plot(starts + WINDOW, errors, marker=".", linestyle="none", markersize=3)
ax_error.axhline(threshold, color="black", linestyle="--", label="threshold")
ax_error.set_yscale("log")
ax_error.set_xlabel("time step (window end)")
ax_error.set_ylabel("reconstruction error")
ax_error.legend(loc="upper left")
plt.show()

# %%
# A normal and an anomalous window with their reconstructions
# ------------------------------------------------------------
worst = np.argmax(errors)
typical = np.flatnonzero(train)[0]
fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, i, title in [(axes[0], typical, "normal"), (axes[1], worst, "most anomalous")]:
    ax.plot(windows[i], label="window")
    ax.plot(lstm.reconstruct(windows[i : i + 1])[0], label="reconstruction")
    ax.set_title(f"{title} (starts at t={starts[i]})")
axes[0].legend()
plt.show()

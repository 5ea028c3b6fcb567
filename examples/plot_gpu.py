"""
Training on a GPU
=================

Every skae estimator takes a ``device`` parameter, as in skorch and PyTorch:
``"cpu"`` (the default), ``"cuda"`` (or ``"cuda:1"`` for a second GPU),
``"mps"`` on Apple silicon, or ``"auto"`` for the best device this machine has.
Asking for a device that is not there raises a ``ValueError`` at ``fit`` rather
than failing deep inside torch, so the portable idiom is to choose the device
first. Inputs and outputs stay NumPy arrays whatever the device.

This page was built on whichever machine ran the documentation build; on a
machine without a GPU it falls back to the CPU and says so.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_FAST_EXAMPLES") == "1"
EPOCHS = 3 if FAST else 30

device = "cuda" if torch.cuda.is_available() else "cpu"
print("training on:", device)
if device == "cuda":
    print("GPU:", torch.cuda.get_device_name(0))

X, _ = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # float32 is what the network computes in

ae = AutoencoderTransformer(
    n_components=8,
    hidden_layer_sizes=(256,),
    batch_size=256,
    max_epochs=EPOCHS,
    device=device,
    random_state=0,
).fit(X)

# %%
# Checking where it ran
# ---------------------
# The fitted torch network is ``ae.net_.module_``; its parameters live on the
# device it was trained on. ``transform`` and friends return NumPy arrays on
# the host, so the rest of a scikit-learn pipeline never sees a tensor.
print("parameters are on:", next(ae.net_.module_.parameters()).device)
codes = ae.transform(X)
print("codes:", type(codes).__name__, codes.dtype, codes.shape)

# %%
# ``device="auto"`` does the same choice for you (CUDA, then MPS, then CPU).
auto = AutoencoderTransformer(n_components=8, max_epochs=1, device="auto").fit(X)
print("device='auto' chose:", next(auto.net_.module_.parameters()).device)

# %%
# Timing each available device
# ----------------------------
# A tiny network on 1,797 rows is too small to keep a GPU busy; the gap opens
# with wider networks, larger batches and more rows. See the performance page
# for measured benchmarks.
devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
seconds = []
for dev in devices:
    start = time.perf_counter()
    AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(256,),
        batch_size=256,
        max_epochs=EPOCHS,
        device=dev,
        random_state=0,
    ).fit(X)
    seconds.append(time.perf_counter() - start)
    print(f"{dev}: {seconds[-1]:.2f} s for {EPOCHS} epochs")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(devices, seconds)
ax.set_ylabel("fit time (s)")
ax.set_title(f"{EPOCHS} epochs on load_digits")
plt.show()

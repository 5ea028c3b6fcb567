"""Cost of the divergence guard: the same fit with and without it.

skae's engine adds ``DivergenceGuard`` (skae/_callbacks.py) to skorch's default
callbacks; it checks every batch loss for NaN/inf by reading the float skorch
already stores in its history. This script fits a small network with many
small batches (where per-batch overhead shows most) alternately with and without
the guard and prints the medians and their ratio.
Run: ``python benchmarks/bench_divergence_guard.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from skorch import NeuralNet

from skae import AutoencoderTransformer
from skae._nets import AutoencoderNet


def fit_seconds(X: np.ndarray, epochs: int, batch_size: int) -> float:
    start = time.perf_counter()
    AutoencoderTransformer(
        hidden_layer_sizes=(8,), max_epochs=epochs, batch_size=batch_size, random_state=0
    ).fit(X)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X = np.random.default_rng(0).uniform(size=(args.rows, 16)).astype(np.float32)
    with_guard = AutoencoderNet.get_default_callbacks
    times: dict[str, list[float]] = {"with guard": [], "without guard": []}
    fit_seconds(X, 1, args.batch_size)  # warm-up
    try:
        for _ in range(args.repeats):  # alternate, so drifting machine load hits both
            for name in times:
                AutoencoderNet.get_default_callbacks = (
                    with_guard if name == "with guard" else NeuralNet.get_default_callbacks
                )
                times[name].append(fit_seconds(X, args.epochs, args.batch_size))
    finally:
        AutoencoderNet.get_default_callbacks = with_guard
    n_batches = args.epochs * -(-args.rows // args.batch_size)
    for name, values in times.items():
        print(f"{name:>14}: median {statistics.median(values):.3f} s ({n_batches} batches)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["with guard"] / medians["without guard"]
    print(f"ratio with/without: {ratio:.3f}")


if __name__ == "__main__":
    main()

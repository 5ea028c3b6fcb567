"""Training and inference speed: skae against a hand-written PyTorch loop and raw skorch.

The same architecture (64 -> 32 -> 8 encoder, mirrored decoder, ReLU), the same
data, epochs, batch size and optimizer (Adam, lr=1e-3) are timed three ways:

* skae's ``AutoencoderTransformer.fit``;
* a hand-written PyTorch loop (shuffled index slicing, loss logged per epoch);
* skorch's ``NeuralNetRegressor`` with its default data feeding.

Then ``transform`` of 100,000 rows is timed against a single plain forward pass
of the encoder over the same rows. Medians over ``--repeats`` runs (the methods
take turns, so drifting load on a shared machine hits all alike) are printed
with the ratios. Run: ``python benchmarks/bench_training_speed.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from skorch import NeuralNetRegressor
from torch import nn

from skae import AutoencoderTransformer
from skae._modules import MLPAutoencoder


def make_module(n_features: int) -> MLPAutoencoder:
    return MLPAutoencoder(n_features, 8, hidden_layer_sizes=(32,), activation="relu")


def fit_hand_written(
    X: np.ndarray, epochs: int, batch_size: int, seed: int, fused: bool = False
) -> nn.Module:
    torch.manual_seed(seed)
    model = make_module(X.shape[1])
    # skae uses torch's fused Adam kernel; the plain loop is what most people write.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    data = torch.from_numpy(X)
    n = data.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = data[order[start : start + batch_size]]
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(batch), batch)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]  # what any loop logs
    return model


def fit_skae(X: np.ndarray, epochs: int, batch_size: int, seed: int):
    return AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(32,),
        max_epochs=epochs,
        batch_size=batch_size,
        random_state=seed,
    ).fit(X)


def fit_skorch_default(X: np.ndarray, epochs: int, batch_size: int, seed: int):
    torch.manual_seed(seed)
    net = NeuralNetRegressor(
        make_module(X.shape[1]),
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    return net.fit(X, X)


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, run round-robin so that load drifting on
    a shared machine affects every method alike."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--transform-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    # Low-rank data plus noise: something an autoencoder can learn.
    latent = rng.normal(size=(args.rows, 8))
    X = (latent @ rng.normal(size=(8, args.features))).astype(np.float32)
    X += 0.1 * rng.normal(size=X.shape).astype(np.float32)

    run = dict(X=X, epochs=args.epochs, batch_size=args.batch_size, seed=0)
    fit_skae(**run)  # warm-up: imports, allocator, thread pools
    fit_hand_written(**run)
    results = interleaved_medians(
        {
            "hand-written loop": lambda: fit_hand_written(**run),
            "hand loop (fused)": lambda: fit_hand_written(**run, fused=True),
            "skae": lambda: fit_skae(**run),
            "skorch defaults": lambda: fit_skorch_default(**run),
        },
        args.repeats,
    )
    base = results["hand-written loop"]
    print(
        f"fit: {args.rows}x{args.features} rows, {args.features}->32->8 encoder, "
        f"batch {args.batch_size}, {args.epochs} epochs, Adam; torch threads "
        f"{torch.get_num_threads()}; median of {args.repeats}"
    )
    print(f"{'method':<20}{'seconds':>10}{'vs hand':>10}")
    for name, seconds in results.items():
        print(f"{name:<20}{seconds:>10.3f}{seconds / base:>9.2f}x")

    # Inference: transform of many rows against one plain forward pass.
    X_big = np.tile(X, (args.transform_rows // args.rows + 1, 1))[: args.transform_rows]
    ae = fit_skae(**run)
    encoder = ae.net_.module_.encoder.eval()

    def plain_forward():
        with torch.inference_mode():
            return encoder(torch.from_numpy(X_big)).numpy()

    def skorch_predict():
        return net.predict(X_big)

    net = fit_skorch_default(**run)
    plain_forward(), ae.transform(X_big)  # warm-up
    inference = interleaved_medians(
        {
            "plain forward": plain_forward,
            "skae transform": lambda: ae.transform(X_big),
            "skorch predict": skorch_predict,
        },
        args.repeats,
    )
    base = inference["plain forward"]
    print(f"\ninference: {args.transform_rows} rows; skorch predict runs the whole net")
    print(f"{'method':<20}{'seconds':>10}{'vs plain':>10}")
    for name, seconds in inference.items():
        print(f"{name:<20}{seconds:>10.4f}{seconds / base:>9.2f}x")


if __name__ == "__main__":
    main()

"""Training and inference speed: skae against a plain PyTorch loop, in three conditions.

Two fits are timed: the 20,000 x 64 benchmark (64 -> 32 -> 8 encoder, mirrored
decoder, ReLU, batch 128, 5 epochs) and a 2,000 x 20 fit with skae's defaults
(64 -> 2 encoder, batch 64, 10 epochs). Each is timed three ways with the same
data, epochs, batch size and optimizer (Adam, lr=1e-3):

* skae's ``AutoencoderTransformer.fit`` with default settings;
* a plain PyTorch loop with ``torch.optim.Adam`` (shuffled index slicing, loss
  read per batch) on torch's default thread count;
* the same loop with ``torch.set_num_threads(1)``;

and ``transform`` of 100,000 rows against one plain forward pass of the
encoder (default threads and one thread). All of it runs in the three
conditions of ``benchmarks/_conditions.py``: idle with one thread, idle with
the default threads, and with a busy loop pinned to one core. Medians over
``--repeats`` runs (the methods take turns); the ratio printed is skae's time
over the faster of the two plain loops. Run:
``python benchmarks/bench_training_speed.py``. ``--skorch`` adds skorch's
``NeuralNetRegressor`` with its defaults.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _conditions import (
    CONDITIONS,
    interleaved_medians,
    load_average,
    machine_condition,
    on_threads,
)
from skorch import NeuralNetRegressor
from torch import nn

from skae import AutoencoderTransformer
from skae._architectures import MLPAutoencoder

# name: rows, features, encoder hidden widths, code width, batch size, epochs
CASES = {
    "20,000 x 64": (20_000, 64, (32,), 8, 128, 5),
    "2,000 x 20": (2_000, 20, (64,), 2, 64, 10),
}


def make_module(n_features: int, hidden=(32,), n_components=8) -> MLPAutoencoder:
    return MLPAutoencoder(
        n_features, n_components, hidden_layer_sizes=hidden, activation="relu"
    )


ADAM_KERNELS = {
    "for-loop": dict(foreach=False),
    "foreach": dict(foreach=True),
    "fused": dict(fused=True),
}


def fit_hand_written(
    X: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int,
    hidden=(32,),
    n_components=8,
    adam: str | None = None,
) -> nn.Module:
    torch.manual_seed(seed)
    model = make_module(X.shape[1], hidden, n_components)
    # adam=None: torch's default implementation (the for-loop one on the CPU).
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **ADAM_KERNELS.get(adam, {}))
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


def fit_skae(
    X: np.ndarray, epochs: int, batch_size: int, seed: int, hidden=(32,), n_components=8
):
    return AutoencoderTransformer(
        n_components=n_components,
        hidden_layer_sizes=hidden,
        max_epochs=epochs,
        batch_size=batch_size,
        random_state=seed,
    ).fit(X)


def fit_skorch_default(
    X: np.ndarray, epochs: int, batch_size: int, seed: int, hidden=(32,), n_components=8
):
    torch.manual_seed(seed)
    net = NeuralNetRegressor(
        make_module(X.shape[1], hidden, n_components),
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    return net.fit(X, X)


def make_data(rows: int, features: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    # Low-rank data plus noise: something an autoencoder can learn.
    latent = rng.normal(size=(rows, 8))
    X = (latent @ rng.normal(size=(8, features))).astype(np.float32)
    return X + 0.1 * rng.normal(size=X.shape).astype(np.float32)


def time_fits(X, case, repeats: int, skorch: bool, adam_kernels: bool = False) -> dict:
    _, _, hidden, n_components, batch_size, epochs = case
    run = dict(
        X=X,
        epochs=epochs,
        batch_size=batch_size,
        seed=0,
        hidden=hidden,
        n_components=n_components,
    )
    fns = {
        "plain loop, default threads": lambda: fit_hand_written(**run),
        "plain loop, 1 thread": on_threads(1, lambda: fit_hand_written(**run)),
        "skae": lambda: fit_skae(**run),
    }
    if skorch:
        fns["skorch defaults"] = lambda: fit_skorch_default(**run)
    if adam_kernels:  # torch's three Adam implementations, default and one thread
        for kernel in ADAM_KERNELS:
            for label, n in (("default threads", None), ("1 thread", 1)):
                fns[f"Adam {kernel}, {label}"] = on_threads(
                    n, lambda k=kernel: fit_hand_written(**run, adam=k)
                )
    return interleaved_medians(fns, repeats)


def time_transforms(X_big, ae, repeats: int) -> dict:
    encoder = ae.net_.module_.eval().encode

    def plain_forward():
        with torch.inference_mode():
            return encoder(torch.from_numpy(X_big)).numpy()

    return interleaved_medians(
        {
            "plain forward, default threads": plain_forward,
            "plain forward, 1 thread": on_threads(1, plain_forward),
            "skae transform": lambda: ae.transform(X_big),
        },
        repeats,
    )


def report(title: str, results: dict, ours: str) -> float:
    best = min(v for k, v in results.items() if k.startswith("plain"))
    print(title)
    for name, seconds in results.items():
        print(f"  {name:<32}{seconds:>9.3f} s{seconds / best:>8.2f}x")
    return results[ours] / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transform-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy-core", type=int, default=0)
    parser.add_argument("--skorch", action="store_true", help="also time skorch")
    parser.add_argument(
        "--adam-kernels",
        action="store_true",
        help="also time plain loops with Adam's for-loop, foreach and fused kernels",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=["20000x64", "2000x20"],
        default=["20000x64", "2000x20"],
    )
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=["idle1", "idle", "busy"],
        default=["idle1", "idle", "busy"],
        help="idle1: idle, 1 thread; idle: idle, default threads; busy: a busy core",
    )
    args = parser.parse_args()
    keys = dict(zip(["idle1", "idle", "busy"], CONDITIONS, strict=True))
    cases = {
        n: c for n, c in CASES.items() if n.replace(",", "").replace(" ", "") in args.cases
    }

    data = {name: make_data(*case[:2]) for name, case in CASES.items()}
    warm = data["2,000 x 20"]
    fit_skae(warm, 1, 64, 0), fit_hand_written(warm, 1, 64, 0)  # imports, allocator
    X = data["20,000 x 64"]
    X_big = np.tile(X, (args.transform_rows // len(X) + 1, 1))[: args.transform_rows]
    ae = fit_skae(X, 1, 128, 0)
    summary = []
    for condition in [keys[c] for c in args.conditions]:
        with machine_condition(condition, args.busy_core):
            print(
                f"\n== {condition} (torch threads {torch.get_num_threads()}; "
                f"{load_average()}) =="
            )
            for name, case in cases.items():
                ratio = report(
                    f"fit {name}, batch {case[4]}, {case[5]} epochs, median of "
                    f"{args.repeats} (x: vs the faster plain loop)",
                    time_fits(
                        data[name], case, args.repeats, args.skorch, args.adam_kernels
                    ),
                    "skae",
                )
                summary.append((condition, f"fit {name}", ratio))
            ratio = report(
                f"transform {args.transform_rows} rows (64 -> 32 -> 8 encoder)",
                time_transforms(X_big, ae, args.repeats),
                "skae transform",
            )
            summary.append((condition, "transform", ratio))
    print("\nskae / faster plain loop (target <= 1.2 for fit):")
    for condition, what, ratio in summary:
        print(f"  {condition:<24}{what:<18}{ratio:>6.2f}x")


if __name__ == "__main__":
    main()

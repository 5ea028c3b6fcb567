"""Throughput on a large workload: skae against a hand-written PyTorch loop, one device.

Both train the same network (100 -> 256 -> 128 -> 16 encoder, mirrored decoder,
ReLU, Adam lr=1e-3) on the same float32 rows with the same batch size, and
both then encode every row. Reported: samples per second for ``fit``
(rows x epochs / seconds) and for ``transform``, medians over ``--repeats``
runs (three transforms per fit), and skae's share of the hand-written loop's
throughput (target >= 0.9).

The hand-written loop is what a careful PyTorch user writes: the data moved to
the device once, a fresh permutation per epoch, the loss summed on the device
and read once per epoch, inference in batches under ``inference_mode``.

Examples::

    python benchmarks/bench_throughput.py                       # 1,000,000 x 100, CPU
    python benchmarks/bench_throughput.py --rows 200000 --epochs 2
    python benchmarks/bench_throughput.py --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from skae import AutoencoderTransformer
from skae._modules import MLPAutoencoder

HIDDEN = (256, 128)
N_COMPONENTS = 16
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit_hand_written(X, device, epochs, batch_size, precision, seed=0):
    torch.manual_seed(seed)
    model = MLPAutoencoder(X.shape[1], N_COMPONENTS, hidden_layer_sizes=HIDDEN).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    data = torch.from_numpy(X).to(device)
    n = data.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            batch = data.index_select(0, order[start : start + batch_size])
            optimizer.zero_grad()
            with torch.autocast(
                device.type, dtype=DTYPES.get(precision), enabled=precision is not None
            ):
                out = model(batch)
            loss = nn.functional.mse_loss(out.float(), batch)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            total += loss.detach() * batch.shape[0]
        float(total / n)  # the epoch's log line: one read per epoch
    return model


def transform_hand_written(model, X, device, batch_size, precision):
    encoder = model.encoder.eval()
    dtype = DTYPES.get(precision)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype, enabled=precision is not None),
    ):
        data = torch.from_numpy(X).to(device)
        codes = torch.cat([encoder(part).float() for part in data.split(batch_size)])
        return codes.cpu().numpy()


def make_skae(device, epochs, batch_size, precision, seed=0):
    return AutoencoderTransformer(
        n_components=N_COMPONENTS,
        hidden_layer_sizes=HIDDEN,
        batch_size=batch_size,
        max_epochs=epochs,
        device=str(device),
        precision=precision,
        random_state=seed,
    )


def timed(fn, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(args.rows, N_COMPONENTS)).astype(np.float32)
    mixing = rng.normal(size=(N_COMPONENTS, args.features)).astype(np.float32)
    X = np.tanh(latent @ mixing / 4) + 0.05 * rng.normal(size=(args.rows, args.features))
    X = X.astype(np.float32)

    common = dict(device=device, batch_size=args.batch_size, precision=args.precision)
    # Warm-up on a slice: kernels, allocator, thread pools.
    warm = X[: 8 * args.batch_size]
    fit_hand_written(warm, epochs=1, **common)
    make_skae(device, 1, args.batch_size, args.precision).fit(warm)

    fit_times = {"hand-written loop": [], "skae": []}
    transform_times = {"hand-written loop": [], "skae": []}
    for _ in range(args.repeats):  # interleaved, so drifting load hits both alike
        holder = {}

        def hand_fit(holder=holder):
            holder["model"] = fit_hand_written(X, epochs=args.epochs, **common)

        fit_times["hand-written loop"].append(timed(hand_fit, device))
        ae = make_skae(device, args.epochs, args.batch_size, args.precision)
        fit_times["skae"].append(timed(lambda ae=ae: ae.fit(X), device))
        for _ in range(3):  # transform is cheap: more samples of it
            model = holder["model"]
            transform_times["hand-written loop"].append(
                timed(lambda m=model: transform_hand_written(m, X, **common), device)
            )
            transform_times["skae"].append(timed(lambda ae=ae: ae.transform(X), device))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {args.device} ({name}), torch threads {torch.get_num_threads()}, "
        f"precision {args.precision or 'fp32'}; {args.rows} x {args.features} rows, "
        f"{args.features}->{HIDDEN[0]}->{HIDDEN[1]}->{N_COMPONENTS} encoder, "
        f"batch {args.batch_size}, {args.epochs} epochs; median of {args.repeats}"
    )
    print(f"{'':<10}{'method':<20}{'seconds':>10}{'samples/s':>14}{'vs hand':>9}")
    for label, times, rows in (
        ("fit", fit_times, args.rows * args.epochs),
        ("transform", transform_times, args.rows),
    ):
        hand = rows / statistics.median(times["hand-written loop"])
        for method, values in times.items():
            seconds = statistics.median(values)
            rate = rows / seconds
            print(
                f"{label:<10}{method:<20}{seconds:>10.3f}{rate:>14,.0f}{rate / hand:>8.2f}x"
            )


if __name__ == "__main__":
    main()

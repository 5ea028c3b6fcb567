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

On the CPU everything runs in the three conditions of
``benchmarks/_conditions.py`` (idle with one thread, idle with torch's default
threads, a busy loop pinned to one core), the hand loop both on the default
threads and on one thread; the ratio is skae's throughput over the faster
hand loop's. ``--conditions`` picks some of them; on a GPU only the idle
default is run.

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
from _conditions import CONDITIONS, load_average, machine_condition, on_threads
from torch import nn

from skae import AutoencoderTransformer
from skae._architectures import MLPAutoencoder

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
    encoder = model.eval().encode
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


def measure(X, args, device, common) -> tuple[dict, dict]:
    """Median seconds of fit and transform per method, methods in turns."""
    fit_times = {"hand loop, default threads": [], "hand loop, 1 thread": [], "skae": []}
    transform_times = {k: [] for k in fit_times}
    threads = {"hand loop, default threads": None, "hand loop, 1 thread": 1}
    for _ in range(args.repeats):  # interleaved, so drifting load hits all alike
        for method, n in threads.items():
            if device.type == "cuda" and n == 1:
                continue
            holder = {}

            def hand_fit(holder=holder):
                holder["model"] = fit_hand_written(X, epochs=args.epochs, **common)

            fit_times[method].append(timed(on_threads(n, hand_fit), device))
            model = holder["model"]
            for _ in range(3):  # transform is cheap: more samples of it
                transform_times[method].append(
                    timed(
                        on_threads(
                            n, lambda m=model: transform_hand_written(m, X, **common)
                        ),
                        device,
                    )
                )
        ae = make_skae(device, args.epochs, args.batch_size, args.precision)
        fit_times["skae"].append(timed(lambda ae=ae: ae.fit(X), device))
        for _ in range(3):
            transform_times["skae"].append(timed(lambda ae=ae: ae.transform(X), device))
    return (
        {k: statistics.median(v) for k, v in fit_times.items() if v},
        {k: statistics.median(v) for k, v in transform_times.items() if v},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=["idle1", "idle", "busy"],
        default=["idle1", "idle", "busy"],
        help="idle1: idle, 1 thread; idle: idle, default threads; busy: a busy core",
    )
    parser.add_argument("--busy-core", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    keys = dict(zip(["idle1", "idle", "busy"], CONDITIONS, strict=True))
    conditions = (
        [keys[c] for c in args.conditions] if device.type == "cpu" else [keys["idle"]]
    )

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

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {args.device} ({name}), precision {args.precision or 'fp32'}; "
        f"{args.rows} x {args.features} rows, "
        f"{args.features}->{HIDDEN[0]}->{HIDDEN[1]}->{N_COMPONENTS} encoder, "
        f"batch {args.batch_size}, {args.epochs} epochs; median of {args.repeats}; "
        "x: throughput over the faster hand loop's"
    )
    summary = []
    for condition in conditions:
        with machine_condition(condition, args.busy_core):
            print(
                f"\n== {condition} (torch threads {torch.get_num_threads()}; "
                f"{load_average()}) =="
            )
            fit_times, transform_times = measure(X, args, device, common)
            print(f"{'':<10}{'method':<28}{'seconds':>10}{'samples/s':>14}{'x':>8}")
            for label, times, rows in (
                ("fit", fit_times, args.rows * args.epochs),
                ("transform", transform_times, args.rows),
            ):
                best = rows / min(v for k, v in times.items() if k != "skae")
                for method, seconds in times.items():
                    rate = rows / seconds
                    print(
                        f"{label:<10}{method:<28}{seconds:>10.3f}{rate:>14,.0f}"
                        f"{rate / best:>7.2f}x"
                    )
                summary.append((condition, label, rows / times["skae"] / best))
    print("\nskae throughput / faster hand loop's:")
    for condition, label, ratio in summary:
        print(f"  {condition:<24}{label:<12}{ratio:>6.2f}x")


if __name__ == "__main__":
    main()

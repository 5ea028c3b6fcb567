"""Does ``n_jobs=None`` pick the faster thread count? A large network, two batch sizes.

Issue 12's large network (100 -> 256 -> 128 -> 16 encoder, mirrored) trains
one epoch over ``--rows`` x 100 rows with ``n_jobs=None`` (skae's automatic
choice), ``n_jobs=1`` and ``n_jobs=-1`` (every core), at batch sizes 64 and
1024: the fixed settings are the baselines, measured in the same run, methods
in turns, best of ``--repeats``. Run on an otherwise idle machine:
``PYTHONPATH=. python benchmarks/bench_thread_policy.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from skae import AutoencoderTransformer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1024])
    args = parser.parse_args(argv)
    X = np.random.default_rng(0).normal(size=(args.rows, 100)).astype(np.float32)
    settings = [None, 1, -1]
    times: dict[tuple, list[float]] = {}
    for _ in range(args.repeats):
        for batch_size in args.batch_sizes:
            for n_jobs in settings:
                ae = AutoencoderTransformer(
                    n_components=16,
                    hidden_layer_sizes=(256, 128),
                    max_epochs=1,
                    batch_size=batch_size,
                    n_jobs=n_jobs,
                    random_state=0,
                )
                start = time.perf_counter()
                ae.fit(X)
                times.setdefault((batch_size, n_jobs), []).append(
                    time.perf_counter() - start
                )
    threads = torch.get_num_threads()
    print(f"one epoch over {args.rows:,} x 100 rows, torch threads: {threads}")
    print(f"{'batch':>6}  {'n_jobs=1':>9}  {'n_jobs=-1':>9}  {'None':>9}  None vs faster")
    for batch_size in args.batch_sizes:
        one, every, auto = (min(times[(batch_size, n)]) for n in (1, -1, None))
        print(
            f"{batch_size:>6}  {one:>8.2f}s  {every:>8.2f}s  {auto:>8.2f}s  "
            f"{auto / min(one, every):.2f}x"
        )


if __name__ == "__main__":
    main()

"""Peak resident memory of ``fit`` on a memmap, at several file sizes.

For each size a float32 file of ``--features`` columns is written to
``--dir``, then a fresh Python process opens it as a read-only
:class:`numpy.memmap` and fits an ``AutoencoderTransformer`` on it (one epoch,
batch 4096). That process reports its resident memory after the imports and
its peak (``resource.getrusage``'s ``ru_maxrss``). If skae reads the file in
chunks without materialising it, the peak stays flat as the file grows: the
ratio of peaks between the largest and the smallest file is near 1.

Files are deleted afterwards. Check free disk space first (``df -h /tmp``).

Examples::

    python benchmarks/bench_memory.py                  # 1 GB and 4 GB
    python benchmarks/bench_memory.py --sizes-gb 0.25 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

GB = 1 << 30


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_file(path: str, rows: int, features: int) -> None:
    """Low-rank rows plus noise, written block by block (never all in memory)."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(8, features)).astype(np.float32)
    block = 1 << 16
    with open(path, "wb") as f:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            latent = rng.normal(size=(n, 8)).astype(np.float32)
            noise = rng.normal(scale=0.1, size=(n, features)).astype(np.float32)
            f.write((latent @ mixing + noise).astype(np.float32).tobytes())


def child(path: str, rows: int, features: int, batch_size: int) -> None:
    import torch

    from skae import AutoencoderTransformer

    torch.set_num_threads(1)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    baseline = rss_mb()
    start = time.perf_counter()
    ae = AutoencoderTransformer(
        n_components=8, hidden_layer_sizes=(32,), batch_size=batch_size, max_epochs=1
    ).fit(X)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux
    print(
        json.dumps(
            {
                "baseline_mb": baseline,
                "peak_mb": peak,
                "fit_seconds": seconds,
                "final_loss": float(ae.history_[-1, "train_loss"]),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument(
        "--child", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.features, args.batch_size)
        return

    results = []
    for size in args.sizes_gb:
        rows = int(size * GB) // (4 * args.features)
        fd, path = tempfile.mkstemp(suffix=".f32", dir=args.dir)
        os.close(fd)
        try:
            write_file(path, rows, args.features)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    path,
                    str(rows),
                    "--features",
                    str(args.features),
                    "--batch-size",
                    str(args.batch_size),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            os.remove(path)
        record = json.loads(out.strip().splitlines()[-1])
        record.update(size_gb=size, rows=rows)
        results.append(record)

    print(
        f"fit on a read-only float32 memmap, {args.features} columns, 100->32->8 "
        f"encoder, batch {args.batch_size}, 1 epoch; peak RSS from ru_maxrss"
    )
    header = f"{'file GB':>8}{'rows':>12}{'RSS after import MB':>21}"
    print(f"{header}{'peak RSS MB':>13}{'fit s':>8}")
    for r in results:
        print(
            f"{r['size_gb']:>8.2f}{r['rows']:>12,}{r['baseline_mb']:>21.0f}"
            f"{r['peak_mb']:>13.0f}{r['fit_seconds']:>8.1f}"
        )
    ratio = results[-1]["peak_mb"] / results[0]["peak_mb"]
    growth = args.sizes_gb[-1] / args.sizes_gb[0]
    print(f"peak RSS ratio largest/smallest: {ratio:.2f} (file grew {growth:.1f}x)")


if __name__ == "__main__":
    main()

"""Peak resident memory of ``fit`` (and scoring) on a memmap, at several file sizes.

For each size a float32 file of ``--features`` columns is written to
``--dir``, then a fresh Python process opens it as a read-only
:class:`numpy.memmap` and fits an ``AutoencoderTransformer`` on it (one epoch,
batch 4096). That process reports its resident memory after the imports and
its peak (``resource.getrusage``'s ``ru_maxrss``). If skae reads the file in
chunks without materialising it, the peak stays flat as the file grows: the
ratio of peaks between the largest and the smallest file is near 1.

``--model detector`` measures ``AnomalyDetector()`` at its defaults instead
(20 columns by default), with :class:`~sklearn.ensemble.IsolationForest`
beside it: for each file size one process fits on the memmap, another loads
the fitted detector (``skae.load``) and scores the whole memmap
(``score_samples``), so that each peak is that of one step; a scoring step's
peak includes the returned scores (8 bytes a row, reported beside it). It
then measures both methods on ``--in-memory-rows`` rows held in memory
(float64): the peak RSS above the RSS with the array loaded, against the
array's size, and the time of fit plus ``score_samples``. ``--sizes-gb``
with no size measures only that. The detector's steps run with torch's
default threads (``OMP_NUM_THREADS`` or every core, as a user gets them)
unless ``--threads`` is given; each record shows the threads and the load
average (``os.getloadavg``), since other processes disturb the timings.

Files are deleted afterwards. Check free disk space first (``df -h /tmp``).

Examples::

    python benchmarks/bench_memory.py                  # 1 GB and 4 GB
    python benchmarks/bench_memory.py --sizes-gb 0.25 1
    python benchmarks/bench_memory.py --model detector --features 20
    OMP_NUM_THREADS=1 python benchmarks/bench_memory.py --model detector --sizes-gb
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


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux


def detector_child(
    step: str,
    path: str,
    rows: int,
    features: int,
    model: str,
    threads: int | None,
    params: dict,
) -> None:
    """One measured step in a fresh process: fit or score, skae or IsolationForest."""
    import pickle

    import torch
    from sklearn.ensemble import IsolationForest

    import skae

    if threads:
        torch.set_num_threads(threads)
    if step == "in-memory":
        X = write_rows(np.random.default_rng(0), rows, features).astype(np.float64)
    else:
        X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    baseline = rss_mb()
    # torch imports its compiler front end (torch._dynamo) the first time a
    # process builds an optimizer: a one-time cost of 1-2 s whatever the data,
    # timed apart (its memory still counts in the peak).
    started = time.perf_counter()
    if model == "skae":
        import torch._dynamo
    import_seconds = time.perf_counter() - started
    start = time.perf_counter()
    if step in ("fit", "in-memory"):
        if model == "skae":
            estimator = skae.AnomalyDetector(random_state=0, **params).fit(X)
        else:
            estimator = IsolationForest(random_state=0).fit(X)
        if step == "fit":
            if model == "skae":
                estimator.save(path + ".model")
            else:
                with open(path + ".model", "wb") as f:
                    pickle.dump(estimator, f)
    fitted = time.perf_counter()
    if step in ("score", "in-memory"):
        if step == "score":
            if model == "skae":
                estimator = skae.load(path + ".model")
            else:
                with open(path + ".model", "rb") as f:
                    estimator = pickle.load(f)  # written by this script
            fitted = start = time.perf_counter()
        scores = estimator.score_samples(X)
        assert scores.shape == (rows,)
    done = time.perf_counter()
    record = {
        "baseline_mb": baseline,
        "peak_mb": peak_mb(),
        "import_seconds": import_seconds,
        "fit_seconds": fitted - start,
        "score_seconds": done - fitted,
        "input_mb": X.nbytes / 2**20,
        "result_mb": 8 * rows / 2**20 if step != "fit" else 0.0,
        "threads": torch.get_num_threads(),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(record))


def write_rows(rng, n: int, features: int) -> np.ndarray:
    mixing = np.random.default_rng(0).normal(size=(8, features)).astype(np.float32)
    latent = rng.normal(size=(n, 8)).astype(np.float32)
    noise = rng.normal(scale=0.1, size=(n, features)).astype(np.float32)
    return latent @ mixing + noise


def run_child(args, *extra: str) -> dict:
    threads = ["--threads", str(args.threads)] if args.threads else []
    params = [f"--param={p}" for p in args.param]
    command = [sys.executable, __file__, *extra, "--features", str(args.features)]
    out = subprocess.run(
        [*command, *threads, *params],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def detector_main(args) -> None:
    results = []
    for size in args.sizes_gb:
        rows = int(size * GB) // (4 * args.features)
        fd, path = tempfile.mkstemp(suffix=".f32", dir=args.dir)
        os.close(fd)
        try:
            write_file(path, rows, args.features)
            for model in ("skae", "iforest"):
                for step in ("fit", "score"):
                    record = run_child(
                        args, "--detector-child", step, path, str(rows), model
                    )
                    record.update(size_gb=size, rows=rows, model=model, step=step)
                    results.append(record)
        finally:
            for name in (path, path + ".model"):
                if os.path.exists(name):
                    os.remove(name)
    if results:
        print_memmap_results(args, results)
    if not args.in_memory_rows:
        return
    in_memory(args)


def print_memmap_results(args, results: list[dict]) -> None:
    print(
        f"AnomalyDetector() and IsolationForest() on a read-only float32 memmap, "
        f"{args.features} columns; one process per step; peak RSS from ru_maxrss"
    )
    print(
        f"{'model':>8}{'step':>7}{'file GB':>9}{'rows':>12}{'RSS before MB':>15}"
        f"{'peak RSS MB':>13}{'scores MB':>11}{'seconds':>9}{'threads':>8}{'load':>6}"
    )
    for r in results:
        seconds = r["fit_seconds"] if r["step"] == "fit" else r["score_seconds"]
        print(
            f"{r['model']:>8}{r['step']:>7}{r['size_gb']:>9.2f}{r['rows']:>12,}"
            f"{r['baseline_mb']:>15.0f}{r['peak_mb']:>13.0f}{r['result_mb']:>11.0f}"
            f"{seconds:>9.1f}{r['threads']:>8}{r['load']:>6.1f}"
        )
    for model in ("skae", "iforest"):
        for step in ("fit", "score"):
            peaks = [r for r in results if r["model"] == model and r["step"] == step]
            if len(peaks) < 2:
                continue
            ratio = peaks[-1]["peak_mb"] / peaks[0]["peak_mb"]
            line = f"{model} {step}: peak RSS ratio largest/smallest file {ratio:.2f}"
            if step == "score":  # the same without the returned scores
                working = [p["peak_mb"] - p["result_mb"] for p in (peaks[-1], peaks[0])]
                line += f" ({working[0] / working[1]:.2f} less the scores)"
            print(line)


def in_memory(args) -> None:
    print(
        f"\nIn memory: {args.in_memory_rows:,} x {args.features} float64, fit + "
        "score_samples, one process each; peak above the RSS with the array loaded"
        + (f"; AnomalyDetector({', '.join(args.param)})" if args.param else "")
    )
    seconds = {}
    imports = {}
    for model in ("skae", "iforest"):
        r = run_child(
            args, "--detector-child", "in-memory", "-", str(args.in_memory_rows), model
        )
        extra = r["peak_mb"] - r["baseline_mb"]
        seconds[model] = r["fit_seconds"] + r["score_seconds"]
        imports[model] = r["import_seconds"]
        print(
            f"{model:>8}: input {r['input_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB, "
            f"peak - before {extra:.0f} MB ({extra / r['input_mb']:.2f}x the input), "
            f"fit {r['fit_seconds']:.1f} s + score {r['score_seconds']:.1f} s "
            f"(+ {r['import_seconds']:.1f} s one-time import); "
            f"{r['threads']} thread(s), load {r['load']:.1f}"
        )
    ratio = seconds["skae"] / seconds["iforest"]
    cold = (seconds["skae"] + imports["skae"]) / (seconds["iforest"] + imports["iforest"])
    print(
        f"skae / IsolationForest time: {ratio:.2f} "
        f"({cold:.2f} with torch's one-time import in a fresh process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes-gb",
        type=float,
        nargs="*",
        default=[1.0, 4.0],
        help="memmap sizes (detector: none given measures only in memory)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="detector only: torch threads (default: torch's, from OMP_NUM_THREADS)",
    )
    parser.add_argument(
        "--features", type=int, default=None, help="columns (100; detector: 20)"
    )
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument(
        "--model",
        choices=["autoencoder", "detector"],
        default="autoencoder",
        help="what to measure (detector: AnomalyDetector() beside IsolationForest)",
    )
    parser.add_argument(
        "--in-memory-rows",
        type=int,
        default=1_000_000,
        help="detector only: rows of the in-memory comparison (0 skips it)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="detector only: an AnomalyDetector parameter (VALUE read as JSON), "
        "e.g. --param neighbors_weight=0",
    )
    parser.add_argument(
        "--child", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--detector-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.features is None:
        args.features = 20 if args.model == "detector" else 100
    if args.detector_child:
        step, path, rows, model = args.detector_child
        params = {}
        for item in args.param:
            name, _, value = item.partition("=")
            params[name] = json.loads(value)
        detector_child(step, path, int(rows), args.features, model, args.threads, params)
        return
    if args.model == "detector":
        detector_main(args)
        return
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

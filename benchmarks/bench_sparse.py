"""Peak memory and time of fitting on a sparse TF-IDF matrix vs densifying it first.

Generates ``--docs`` random documents offline (words drawn from a Zipf-like
vocabulary of ``--vocabulary`` words, so the TF-IDF matrix is wide and about
99 % zeros), then, each in a fresh Python process, fits an
``AutoencoderTransformer`` (``--epochs`` epochs) and scores every row with
``reconstruction_error``:

- ``sparse``: the CSR matrix as given (skae densifies one batch at a time);
- ``dense``: ``X.toarray().astype(np.float32)`` first, what a user had to do
  before skae took sparse input.

Each process reports its resident memory after building the matrix and the
peak during fit and scoring: the kernel's high-water mark (``VmHWM``) is reset
just before ``fit`` (``/proc/self/clear_refs``), so building the matrix does
not count (elsewhere the lifetime peak, ``ru_maxrss``, is printed and says so).
Both fits use the same seed;
the script also checks that they learn the same model (codes equal to float32
rounding).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_sparse.py
    PYTHONPATH=. python benchmarks/bench_sparse.py --docs 20000 --vocabulary 50000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def documents(n: int, vocabulary: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocabulary)])
    weights = 1.0 / np.arange(1, vocabulary + 1) ** 0.8
    weights /= weights.sum()
    lengths = rng.integers(20, 120, size=n)
    drawn = rng.choice(words, size=lengths.sum(), p=weights)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [" ".join(drawn[a:b]) for a, b in itertools.pairwise(bounds)]


def child(mode: str, docs: int, vocabulary: int, epochs: int) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skae import AutoencoderTransformer

    X = TfidfVectorizer(dtype=np.float32).fit_transform(documents(docs, vocabulary))
    if mode == "dense":
        X = X.toarray().astype(np.float32)
    baseline = rss_mb()
    since_fit = reset_peak()
    start = time.perf_counter()
    ae = AutoencoderTransformer(
        n_components=16, hidden_layer_sizes=(64,), max_epochs=epochs, random_state=0
    ).fit(X)
    errors = ae.reconstruction_error(X)
    seconds = time.perf_counter() - start
    peak = peak_mb()
    print(
        json.dumps(
            {
                "shape": list(X.shape),
                "density": float((X != 0).sum() / np.prod(X.shape)),
                "rss_before_fit_mb": baseline,
                "peak_mb": peak,
                "peak_since_fit": since_fit,
                "seconds": seconds,
                "codes": ae.transform(X[:50]).tolist(),
                "mean_error": float(errors.mean()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--vocabulary", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", choices=["sparse", "dense"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.docs, args.vocabulary, args.epochs)
        return
    results = {}
    for mode in ("sparse", "dense"):
        command = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--docs",
            str(args.docs),
            "--vocabulary",
            str(args.vocabulary),
            "--epochs",
            str(args.epochs),
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    shape, density = results["sparse"]["shape"], results["sparse"]["density"]
    dense_mb = shape[0] * shape[1] * 4 / 2**20
    print(
        f"TF-IDF matrix {shape[0]} x {shape[1]}, {density:.2%} non-zero "
        f"(dense float32: {dense_mb:.0f} MB); {args.epochs} epochs + scoring"
    )
    since = (
        "during fit+score" if results["sparse"]["peak_since_fit"] else "process lifetime"
    )
    print(f"peak RSS: {since}")
    print(f"{'input':<8}{'RSS before fit':>16}{'peak RSS':>12}{'fit+score s':>13}")
    for mode, r in results.items():
        print(
            f"{mode:<8}{r['rss_before_fit_mb']:>13.0f} MB{r['peak_mb']:>9.0f} MB"
            f"{r['seconds']:>13.1f}"
        )
    ratio = results["dense"]["peak_mb"] / results["sparse"]["peak_mb"]
    print(f"peak memory, dense / sparse: {ratio:.2f}x")
    extra = {m: r["peak_mb"] - r["rss_before_fit_mb"] for m, r in results.items()}
    print(
        "memory added by fit+score: "
        + ", ".join(f"{m} {v:.0f} MB" for m, v in extra.items())
    )
    same = np.allclose(
        results["sparse"]["codes"], results["dense"]["codes"], rtol=1e-4, atol=1e-5
    )
    print(f"same model learned from both: {same}")


if __name__ == "__main__":
    main()

"""Command line: ``python -m skae`` / ``skae``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def run_demo(args: argparse.Namespace) -> int:
    """Autoencoder vs PCA reconstruction error on held-out digits."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    from skae import AutoencoderTransformer

    X, _ = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities in [0, 1]
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    print(
        f"load_digits: {X_train.shape[0]} training and {X_test.shape[0]} held-out "
        f"images of {X.shape[1]} pixels; error = mean squared error on held-out images"
    )
    header = ("n_components", "PCA", "autoencoder", "AE/PCA", "fit s")
    print("{:>12}  {:>8}  {:>11}  {:>6}  {:>6}".format(*header))
    for n_components in args.n_components:
        pca = PCA(n_components).fit(X_train)
        pca_error = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
        start = time.perf_counter()
        ae = AutoencoderTransformer(
            n_components=n_components,
            hidden_layer_sizes=(128,),
            max_epochs=args.epochs,
            random_state=0,
        ).fit(X_train)
        seconds = time.perf_counter() - start
        ae_error = ae.reconstruction_error(X_test).mean()
        print(
            f"{n_components:>12}  {pca_error:>8.4f}  {ae_error:>11.4f}  "
            f"{ae_error / pca_error:>6.2f}  {seconds:>6.1f}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skae", description="scikit-learn-compatible autoencoders on PyTorch."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="autoencoder vs PCA on the bundled digits data")
    demo.add_argument(
        "--n-components", type=int, nargs="+", default=[2, 4, 8, 16], metavar="K"
    )
    demo.add_argument("--epochs", type=int, default=40, help="training epochs")
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command line: ``python -m skae`` / ``skae``.

``skae demo`` runs a short end-to-end demonstration on bundled data;
``skae detect`` trains an anomaly detector on one CSV and scores another:
numeric and categorical columns and missing cells are accepted; identifier
columns (``--id-column``, or any that looks like one, with a warning) are
carried to the output instead of used as features; the separator is sniffed
(or ``--sep``) and header-less files need ``--no-header``.
Errors the user can fix (missing files, bad columns, bad options) end the
program with exit status 2 and a one-line message on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_DEMO_DIR = "skae-demo"


class CLIError(Exception):
    """A problem with the user's input: reported in one line, exit status 2."""


def _progress(message: str) -> None:
    print(message, flush=True)


# -- demo -----------------------------------------------------------------------
def _pyplot():
    """matplotlib's pyplot on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _demo_reconstruction(args, out_dir: Path | None, plt) -> list[tuple]:
    """Autoencoder vs PCA reconstruction error on held-out digits; returns table rows."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    from skae import AutoencoderTransformer

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities in [0, 1]
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    _progress(
        f"[digits] load_digits: {X_train.shape[0]} training and {X_test.shape[0]} "
        f"held-out images of {X.shape[1]} pixels"
    )
    rows, models = [], {}
    for i, n_components in enumerate(args.n_components, start=1):
        _progress(
            f"[digits {i}/{len(args.n_components)}] PCA and autoencoder with "
            f"n_components={n_components} ({args.epochs} epochs)"
        )
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
        models[n_components] = ae
        rows.append((n_components, pca_error, ae_error, ae_error / pca_error, seconds))

    if plt is not None and out_dir is not None:
        from skae.plotting import (
            plot_latent_space,
            plot_loss_curve,
            plot_reconstructions,
        )

        sizes = [r[0] for r in rows]
        fig, ax = plt.subplots()
        ax.plot(sizes, [r[1] for r in rows], marker="o", label="PCA")
        ax.plot(sizes, [r[2] for r in rows], marker="s", label="autoencoder")
        ax.set_xlabel("n_components")
        ax.set_ylabel("held-out mean squared error")
        ax.legend()
        _save(fig, out_dir / "reconstruction_error.png", plt)
        largest = models[max(models)]
        _save(plot_loss_curve(largest).figure, out_dir / "loss_curve.png", plt)
        fig = plot_reconstructions(largest, X_test, image_shape=(8, 8), n_images=10)
        _save(fig, out_dir / "reconstructions.png", plt)
        if 2 in models:
            ax = plot_latent_space(models[2], X_test, y_test)
            _save(ax.figure, out_dir / "latent_space.png", plt)
    return rows


def _demo_anomalies(args, out_dir: Path | None, plt) -> list[tuple] | None:
    """AnomalyDetector vs IsolationForest ROC-AUC on breast cancer (malignant = anomaly)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    import skae

    data = load_breast_cancer(as_frame=True)
    X, anomaly = data.data, (data.target == 0).to_numpy().astype(int)
    normal = X[anomaly == 0]
    X_train, X_test_normal = train_test_split(normal, test_size=0.3, random_state=0)
    anomalies = X[anomaly == 1].sample(30, random_state=0)
    X_test = np.vstack([X_test_normal, anomalies])
    y_test = np.r_[np.zeros(len(X_test_normal)), np.ones(len(anomalies))]
    import pandas as pd

    X_test = pd.DataFrame(X_test, columns=X.columns)
    _progress(
        f"[anomalies] load_breast_cancer: training on {len(X_train)} benign rows; "
        f"scoring {len(X_test_normal)} benign + {len(anomalies)} malignant rows"
    )
    detector = skae.AnomalyDetector(
        skae.AutoencoderTransformer(
            n_components=4,
            hidden_layer_sizes=(32,),
            max_epochs=5 * args.epochs,  # a small table: epochs are cheap
            random_state=0,
        ),
        random_state=0,
    ).fit(X_train)
    forest = IsolationForest(random_state=0).fit(X_train)
    rows = []
    for name, model in [("AnomalyDetector", detector), ("IsolationForest", forest)]:
        auc = roc_auc_score(y_test, -model.score_samples(X_test))
        flagged = model.predict(X_test) == -1
        recall = flagged[y_test == 1].mean()
        false_alarms = flagged[y_test == 0].mean()
        rows.append((name, auc, recall, false_alarms))
    if plt is not None and out_dir is not None:
        from skae.plotting import plot_feature_errors, plot_score_histogram

        ax = plot_score_histogram(detector, X_test, y_test)
        _save(ax.figure, out_dir / "anomaly_scores.png", plt)
        top = int(np.argmin(detector.score_samples(X_test)))
        fig, ax = plt.subplots(figsize=(6, 7))
        plot_feature_errors(detector, X_test.iloc[[top]], ax=ax)
        fig.tight_layout()
        _save(fig, out_dir / "top_anomaly_features.png", plt)
    return rows


def _save(fig, path: Path, plt) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    _progress(f"  wrote {path}")


def run_demo(args: argparse.Namespace) -> int:
    """Short end-to-end demonstration on bundled data; prints a table, writes figures."""
    if any(k < 1 for k in args.n_components):
        raise CLIError("--n-components values must be positive integers")
    if args.epochs < 1:
        raise CLIError("--epochs must be a positive integer")
    plt = _pyplot()
    out_dir = Path(args.output_dir)
    if plt is None:
        _progress("matplotlib is not installed: no figures (pip install 'skae[plot]')")
        out_dir = None
    else:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(
                f"cannot create output directory {str(out_dir)!r}: {exc}"
            ) from None
        _progress(f"figures go to {out_dir}/")
    start = time.perf_counter()
    reconstruction = _demo_reconstruction(args, out_dir, plt)
    anomalies = _demo_anomalies(args, out_dir, plt)

    print()
    print("Reconstruction of held-out digits (mean squared error, lower is better)")
    header = ("n_components", "PCA", "autoencoder", "AE/PCA", "fit s")
    print("{:>12}  {:>8}  {:>11}  {:>6}  {:>6}".format(*header))
    for k, pca_error, ae_error, ratio, seconds in reconstruction:
        print(
            f"{k:>12}  {pca_error:>8.4f}  {ae_error:>11.4f}  {ratio:>6.2f}  {seconds:>6.1f}"
        )
    if anomalies is not None:
        print()
        print("Malignant tumours as anomalies (breast cancer, held-out rows)")
        header = ("detector", "ROC-AUC", "recall", "false alarms")
        print("{:>16}  {:>7}  {:>6}  {:>12}".format(*header))
        for name, auc, recall, false_alarms in anomalies:
            print(f"{name:>16}  {auc:>7.3f}  {recall:>6.2f}  {false_alarms:>12.2f}")
    print()
    where = f"; figures in {out_dir}/" if out_dir is not None else ""
    print(f"done in {time.perf_counter() - start:.0f} s{where}")
    return 0


# -- detect ---------------------------------------------------------------------
_SNIFF_BYTES = 64 * 1024
_SEPARATORS = ",;\t|"
_OUTPUT_COLUMNS = ("row", "score", "label", "error")


def _warn(message: str) -> None:
    print(f"skae detect: warning: {message}", file=sys.stderr, flush=True)


def _sniff_separator(path: str, option: str) -> str:
    """The field separator of ``path``, guessed from its first lines."""
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as handle:
            sample = handle.read(_SNIFF_BYTES)
    except UnicodeDecodeError:
        raise CLIError(f"{option} file {path!r} is not UTF-8 text") from None
    if not sample.strip():
        raise CLIError(f"{option} file {path!r} is empty")
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")) and len(sample) == _SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=_SEPARATORS).delimiter
    except csv.Error:
        # One column, or no consistent separator: let the parser say which.
        return ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: str, option: str, args: argparse.Namespace):
    import pandas as pd

    if not Path(path).is_file():
        raise CLIError(f"{option} file {path!r} does not exist")
    sep = args.sep if args.sep is not None else _sniff_separator(path, option)
    shown = {"\t": "\\t"}.get(sep, sep)
    how = "--sep" if args.sep is not None else "detected"
    try:
        table = pd.read_csv(path, sep=sep, header=None if args.no_header else "infer")
    except pd.errors.EmptyDataError:
        raise CLIError(f"{option} file {path!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CLIError(
            f"{option} file {path!r} is not a readable CSV with separator {shown!r} "
            f"({how}): {first_line}; pass --sep if the separator is another one"
        ) from None
    if args.no_header:
        table.columns = [f"x{i}" for i in range(table.shape[1])]
    table.columns = [str(c) for c in table.columns]
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise CLIError(f"{option} file {path!r} has no data rows")
    if table.shape[1] == 1 and any(s in table.columns[0] for s in _SEPARATORS if s != sep):
        raise CLIError(
            f"{option} file {path!r} has a single column {table.columns[0]!r} with "
            f"separator {shown!r} ({how}): pass --sep with the file's separator"
        )
    if not args.no_header and all(_is_number(c) for c in table.columns):
        raise CLIError(
            f"{option} file {path!r} has a first line of numbers only "
            f"({_names(list(table.columns))}), which looks like data, not a header: "
            "pass --no-header if the file has no header line"
        )
    return table


def _names(columns: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    more = len(columns) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _contamination(text: str):
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value <= 0.5:
        raise CLIError(
            f"--contamination must be 'auto' or a number in (0, 0.5]; got {text!r}"
        )
    return value


def _select_columns(train, score, args: argparse.Namespace):
    """Split the columns into identifiers (carried to the output) and features.

    Returns ``(id_columns, features)``: the identifier columns to write first in
    the output (those of ``--id-column`` and those that look like identifiers)
    and the feature columns, in the training file's order.
    """
    for option, names in (("--id-column", args.id_column), ("--exclude", args.exclude)):
        for name in names:
            if name not in train.columns and name not in score.columns:
                raise CLIError(
                    f"{option} {name!r} is not a column of {args.train!r} or "
                    f"{args.score!r}; columns: {_names(list(train.columns), 8)}"
                )
    for name in args.id_column:
        if name not in score.columns:
            raise CLIError(
                f"--id-column {name!r} is not a column of {args.score!r}: the output "
                "carries it from the scored rows"
            )
    for name in args.keep:
        if name not in train.columns:
            raise CLIError(f"--keep {name!r} is not a column of {args.train!r}")
    both = set(args.id_column) & set(args.exclude)
    if both:
        raise CLIError(
            f"columns given to both --id-column and --exclude: {_names(sorted(both))}"
        )
    from ._tabular import looks_like_dates, looks_like_identifier

    id_columns = list(dict.fromkeys(args.id_column))
    skipped = set(id_columns) | set(args.exclude)
    features = []
    for name in train.columns:
        if name in skipped:
            continue
        column = train[name]
        if column.isna().all():
            _warn(f"column {name!r} has no values in {args.train!r}: not used")
            continue
        reason = None if name in args.keep else looks_like_identifier(column)
        dates = None if name in args.keep or reason else looks_like_dates(column)
        if dates is not None:
            where = "carried to the output" if name in score.columns else "ignored"
            if name in score.columns:
                id_columns.append(name)
            _warn(
                f"column {name!r} holds dates written as text (such as {dates!r}): "
                f"{where}, not used as a feature (as categories, every later date "
                "would be an anomaly; write it as numbers, such as the day of the "
                "week, to use it)"
            )
            continue
        if reason is not None:
            if name in score.columns:
                id_columns.append(name)
                where = "carried to the output"
            else:
                where = "ignored"
            _warn(
                f"column {name!r} looks like an identifier ({reason}): {where}, not used "
                f"as a feature (pass --keep {shlex.quote(name)} to use it as a feature)"
            )
            continue
        features.append(name)
    if not features:
        raise CLIError(f"no feature columns left in {args.train!r}")
    return id_columns, features


def run_detect(args: argparse.Namespace) -> int:
    """Train on --train, score --score, write one result row per scored row."""
    import pandas as pd

    contamination = _contamination(args.contamination)
    if args.top < 1:
        raise CLIError("--top must be a positive integer")
    if args.sep is not None and len(args.sep) != 1:
        raise CLIError(f"--sep must be one character; got {args.sep!r}")
    train = _read_table(args.train, "--train", args)
    score = _read_table(args.score, "--score", args)
    if len(train) < 2:
        raise CLIError(f"--train file {args.train!r} needs at least 2 rows")
    id_columns, features = _select_columns(train, score, args)
    absent = [c for c in features if c not in score.columns]
    ignored = set(id_columns) | set(args.exclude) | set(train.columns)
    extra = [c for c in score.columns if c not in ignored]
    if absent or extra:
        parts = []
        if absent:
            parts.append(f"missing from {args.score!r}: {_names(absent)}")
        if extra:
            parts.append(f"not in {args.train!r}: {_names(extra)}")
        hint = ""
        if not set(features) & set(score.columns) and any(map(_is_number, score.columns)):
            hint = f" (does {args.score!r} lack a header line? then pass --no-header)"
        raise CLIError(
            "the two files must have the same feature columns; " + "; ".join(parts) + hint
        )
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CLIError(f"--output directory {str(output.parent)!r} does not exist")

    import skae

    X_train, X_score = train[features], score[features]  # same order as training
    _progress(
        f"training on {len(train)} rows x {len(features)} columns from {args.train} "
        f"(contamination={contamination})"
    )
    try:
        with warnings.catch_warnings():
            # The columns were chosen above, identifiers included (--keep).
            warnings.filterwarnings("ignore", message=".* looks like a row identifier")
            detector = skae.AnomalyDetector(
                contamination=contamination, random_state=args.random_state
            ).fit(X_train)
        _progress(f"scoring {len(score)} rows from {args.score}")
        decision = detector.decision_function(X_score)
        labels = detector.predict(X_score)
        errors = detector.explain(X_score)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc).strip().splitlines()[0]) from None

    top = min(args.top, errors.shape[1])
    values = errors.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    names = np.asarray(errors.columns, dtype=object)
    clash = [c for c in id_columns if c in _OUTPUT_COLUMNS or c.startswith("top_")]
    if clash:
        raise CLIError(
            f"identifier columns {_names(clash)} clash with the output's own columns "
            f"{_names(list(_OUTPUT_COLUMNS))}, top_*: rename them"
        )
    result = pd.DataFrame({name: score[name].to_numpy() for name in id_columns})
    result["row"] = np.arange(len(score))
    result["score"] = decision
    result["label"] = np.where(labels == -1, "anomaly", "normal")
    result["error"] = values.sum(axis=1)
    for j in range(top):
        result[f"top_{j + 1}"] = names[order[:, j]]
    try:
        result.to_csv(output, index=False)
    except OSError as exc:
        raise CLIError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    n_flagged = int(np.sum(labels == -1))
    _progress(
        f"{n_flagged} of {len(score)} rows flagged as anomalies; wrote {output} "
        "(score < 0 means anomaly; top_* = columns with the largest errors)"
    )
    return 0


# -- entry point ----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skae", description="scikit-learn-compatible autoencoders on PyTorch."
    )
    from skae import __version__

    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="short end-to-end demonstration on bundled data",
        description=(
            "Autoencoder vs PCA reconstruction on load_digits and, with the anomaly "
            "detector, AnomalyDetector vs IsolationForest on load_breast_cancer; "
            "prints a results table and writes figures."
        ),
    )
    demo.add_argument(
        "--output-dir",
        default=DEFAULT_DEMO_DIR,
        metavar="DIR",
        help=f"folder for the figures (default: ./{DEFAULT_DEMO_DIR})",
    )
    demo.add_argument(
        "--n-components", type=int, nargs="+", default=[2, 4, 8, 16], metavar="K"
    )
    demo.add_argument(
        "--epochs",
        type=int,
        default=40,
        help="training epochs on the digits (the small anomaly table gets 5x)",
    )
    demo.set_defaults(handler=run_demo)

    detect = commands.add_parser(
        "detect",
        help="train on a CSV of normal rows, score another CSV",
        description=(
            "Train an AnomalyDetector on a CSV of (mostly) normal rows and score "
            "another CSV with the same columns. Numeric and categorical columns and "
            "missing cells are accepted. Writes one row per scored row: the "
            "identifier columns, score (negative = anomaly), label, error and the "
            "columns that contribute most to the error. Columns that look like "
            "identifiers (every value a distinct integer or text, or pandas' "
            "'Unnamed: 0' index) or hold dates written as text are not used as "
            "features: they are carried to the output, with a warning."
        ),
    )
    detect.add_argument("--train", required=True, metavar="A.csv", help="normal rows")
    detect.add_argument("--score", required=True, metavar="B.csv", help="rows to score")
    detect.add_argument("--output", required=True, metavar="OUT.csv", help="results")
    detect.add_argument(
        "--id-column",
        action="append",
        default=[],
        metavar="NAME",
        help="a row identifier: not a feature, written first in the output (repeatable)",
    )
    detect.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="a column to leave out altogether (repeatable)",
    )
    detect.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="NAME",
        help="use NAME as a feature even if it looks like an identifier (repeatable)",
    )
    detect.add_argument(
        "--sep",
        default=None,
        metavar="C",
        help="field separator (default: detected from the first lines among , ; tab |)",
    )
    detect.add_argument(
        "--no-header",
        action="store_true",
        help="the files have no header line: columns are named x0, x1, ...",
    )
    detect.add_argument(
        "--contamination",
        default="auto",
        metavar="C",
        help="'auto' (robust rule on training errors) or expected share of anomalies",
    )
    detect.add_argument("--top", type=int, default=3, help="columns to report per row")
    detect.add_argument("--random-state", type=int, default=0, help="seed")
    detect.set_defaults(handler=run_detect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CLIError as exc:
        print(f"skae {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

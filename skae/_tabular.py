"""Mixed-type tables for :class:`~skae.AnomalyDetector`: categories and missing cells.

The detector hands its input to :func:`validate` at fit and at scoring, and gets
back one float matrix, the *encoded table*, with one column per numeric column
and one block of columns per categorical column:

* **Numeric columns** (any numeric dtype but bool) keep their values; a missing
  cell (NaN, ``None``, ``pd.NA``) stays NaN. The detector fills NaN with the
  column's training median (in scaled units) just before the network, so the
  network never sees NaN, and leaves the cell out of the reconstruction error:
  a missing cell is neither evidence of an anomaly nor of normality.
* **Categorical columns** (pandas ``category``, ``object``/string and ``bool``
  columns of a DataFrame) are one-hot encoded over the categories seen at fit
  (compared as text, so ``1`` and ``"1"`` are one category) and centred by the
  training share of each category, ``onehot - share``. The scaler leaves these
  columns as they are (:func:`pass_categories_through`). A category not seen at
  fit is encoded as an all-zero one-hot row (no known category), and a missing
  cell as NaN across the block, filled with 0 (the training shares) before the
  network.

Errors (:func:`column_errors`) are one per *original* column, weighed in the
row's error by the number of encoded columns (:func:`column_weights`): the squared error
for a numeric column, and for a categorical column the cross-entropy
``-log p(observed category)`` of the probabilities read from the
reconstructed block. The network trains on the one-hot block with the squared
error (the Brier score, a proper scoring rule), whose minimiser is the vector
of the categories' conditional probabilities; the reconstructed block, shares
added back, clipped below at ``floor`` and renormalised, is read as those
probabilities. A softmax of the block would not be: trained by squared
error, a perfect reconstruction ``[1, 0, 0]`` would give the observed category
only ``e / (e + 2)``. The floor is ``1 / (n_train + 1)``, the probability of a
category never seen in ``n_train`` rows, so an unseen category scores
``log(n_train + 1)``: at least as unusual as the rarest category seen.

Only this module knows the layout; the detector stores it as the plain dict
``table_`` (lists, strings and arrays, so that ``save``/``load`` round-trip).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import validate_data

NUMERIC = "numeric"
CATEGORICAL = "categorical"
_BUILTIN_SCALERS = (RobustScaler, StandardScaler, MinMaxScaler)
# A categorical column with more distinct values than this share of the rows
# (and more than _MAX_FREE_CATEGORIES) is an identifier or free text, not a category.
_MAX_CATEGORY_SHARE = 0.5
_MAX_FREE_CATEGORIES = 50


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _column_name(table_or_names, j: int) -> str:
    names = table_or_names
    return repr(str(names[j]) if names is not None else f"x{j}")


def _numeric_values(column: pd.Series, name: str) -> np.ndarray:
    """Float values of a numeric column, NaN where missing; clear errors otherwise."""
    missing = column.isna().to_numpy()
    if _is_numeric(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        bad = np.isnan(values) & ~missing
        if bad.any():
            example = column[bad].iloc[0]
            raise ValueError(
                f"Column {name} was numeric at fit but holds non-numeric values, "
                f"such as {example!r}."
            )
    if np.isinf(values).any():
        raise ValueError(f"Column {name} contains infinity; skae accepts NaN for missing.")
    return values


def _as_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The column's values as text (object array) and its missing-cell mask."""
    missing = column.isna().to_numpy()
    text = np.asarray(column.astype(object), dtype=object)
    text = np.array(
        [None if m else str(v) for v, m in zip(text, missing, strict=True)], dtype=object
    )
    return text, missing


def _layout(table: dict) -> list[tuple[int, int]]:
    """``(start, stop)`` of each original column's block in the encoded table."""
    widths = [
        1 if k == NUMERIC else len(c)
        for k, c in zip(table["kinds"], table["categories"], strict=True)
    ]
    stops = np.cumsum(widths)
    return [(int(stop - w), int(stop)) for w, stop in zip(widths, stops, strict=True)]


def is_all_numeric(table: dict | None) -> bool:
    return table is None or all(k == NUMERIC for k in table["kinds"])


# -- fit and scoring entry point --------------------------------------------------
def validate(estimator, X, *, reset: bool) -> np.ndarray:
    """Check ``X`` and return the encoded float64 table (NaN where missing).

    At fit (``reset=True``) this sets ``estimator.table_`` and, through
    scikit-learn's ``validate_data``, ``n_features_in_`` and
    ``feature_names_in_``. Numeric input (an array, or a DataFrame of numeric
    columns) goes through ``validate_data`` as before, with NaN allowed; a
    DataFrame with a ``category``, ``object``/string or ``bool`` column is
    encoded here.
    """
    if not is_mixed(estimator, X, reset=reset):
        X = validate_data(
            estimator,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )
        X = X.astype(np.float64, copy=False)
        if reset:
            estimator.table_ = _fit_numeric(estimator, X)
        return X
    if reset:
        scaler = estimator.scaler
        if scaler is not None and not isinstance(scaler, str):
            raise ValueError(
                "AnomalyDetector(scaler=<transformer>) cannot scale categorical columns "
                f"({', '.join(categorical_names(X))}); use scaler='robust', "
                "'standard', 'minmax' or None, which leave the one-hot columns as "
                "they are, or encode the categories yourself."
            )
    return encode_table(estimator, X, reset=reset)


def _holds_numbers(column: pd.Series) -> bool:
    """Whether an ``object`` column holds only numbers (and missing cells)."""
    return column.dtype == np.dtype(object) and pd.api.types.infer_dtype(
        column, skipna=True
    ) in ("integer", "floating", "mixed-integer-float", "decimal", "empty")


def _is_numeric_column(column: pd.Series, numeric_objects: bool) -> bool:
    return _is_numeric(column) or (numeric_objects and _holds_numbers(column))


def is_mixed(estimator, X, *, reset: bool, numeric_objects: bool = False) -> bool:
    """Whether ``X`` goes through the encoder (:func:`encode_table`).

    At fit: ``X`` is a DataFrame with a categorical column. Later: the
    estimator's ``table_`` has one. ``numeric_objects=True`` (the
    autoencoder transformers) reads an ``object`` column holding only numbers
    as numeric, as scikit-learn's validation does; the detector reads every
    ``object`` column as categorical.
    """
    if not reset:
        return not is_all_numeric(getattr(estimator, "table_", None))
    # By position: with duplicate names X[name] is a DataFrame (validate_data
    # then refuses the names with scikit-learn's message).
    return isinstance(X, pd.DataFrame) and not all(
        _is_numeric_column(X.iloc[:, j], numeric_objects) for j in range(X.shape[1])
    )


def categorical_names(frame: pd.DataFrame, *, numeric_objects: bool = False) -> list[str]:
    """Quoted names of the columns of ``frame`` that :func:`encode_table` encodes."""
    return [
        repr(str(c))
        for j, c in enumerate(frame.columns)
        if not _is_numeric_column(frame.iloc[:, j], numeric_objects)
    ]


def encode_table(estimator, X, *, reset: bool, numeric_objects: bool = False) -> np.ndarray:
    """The encoded float64 table of ``X`` (NaN where missing); sets ``table_`` at fit.

    ``X`` is a DataFrame (at fit) or any 2D table of the fitted columns
    (later); ``validate_data`` checks and sets the column count and names.
    """
    table = None if reset else estimator.table_
    if sp.issparse(X):
        raise TypeError(
            f"{type(estimator).__name__} was fitted on a table with categorical "
            "columns; pass a DataFrame (or a 2D array) of those columns, not a "
            "sparse matrix."
        )
    if not isinstance(X, pd.DataFrame):
        X = np.asarray(X, dtype=object)
        if X.ndim != 2:
            raise ValueError("Expected a 2D table of rows.")
        X = pd.DataFrame(X)
    validate_data(estimator, X, reset=reset, skip_check_array=True)
    if reset:
        if X.shape[0] < 2:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) while a minimum of 2 is "
                f"required by {type(estimator).__name__}."
            )
        estimator.table_ = table = _fit_mixed(X, numeric_objects=numeric_objects)
    return _encode(table, X)


def no_observed_value(empty: np.ndarray, names) -> str:
    """The start of every message about the columns ``empty`` (indices), which
    have no observed value in the training rows."""
    shown = ", ".join(_column_name(names, j) for j in empty[:5])
    more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
    return (
        f"Column(s) {shown}{more} have no observed value in the training rows "
        "(every cell is missing)"
    )


def _check_observed(missing_everywhere: np.ndarray, names) -> None:
    empty = np.flatnonzero(missing_everywhere)
    if empty.size:
        raise ValueError(f"{no_observed_value(empty, names)}; drop them.")


#: The fill values (column medians) of a numeric table come from at most this
#: many rows, a uniform random sample drawn with a fixed seed: the median of
#: 20,000 rows lies within about 0.01 of a column's standard deviation of the
#: median of all of them, and on 1,000,000 x 20 the medians of every row took
#: 0.5 s, a third of the detector's fit.
MEDIAN_ROWS = 20_000


def _fit_numeric(estimator, X: np.ndarray) -> dict:
    missing = np.isnan(X)
    names = getattr(estimator, "feature_names_in_", None)
    _check_observed(missing.all(axis=0), names)  # on every row: cheap, exact
    rows = X
    if X.shape[0] > MEDIAN_ROWS:
        picked = np.random.default_rng(0).choice(X.shape[0], MEDIAN_ROWS, replace=False)
        rows = X[np.sort(picked)]
        missing = np.isnan(rows)
    # A sampled column may have no observed cell left: fall back to every row.
    unobserved = missing.all(axis=0)
    median = np.nanmedian if missing.any() else np.median
    # A block of columns at a time: no partitioned copy of the whole table.
    block = max(1, (1 << 22) // max(rows.shape[0], 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN sampled column
        medians = np.concatenate(
            [median(rows[:, j : j + block], axis=0) for j in range(0, X.shape[1], block)]
        )
    for j in np.flatnonzero(unobserved):
        medians[j] = np.nanmedian(X[:, j])
    n_features = X.shape[1]
    return {
        "kinds": [NUMERIC] * n_features,
        "categories": [[] for _ in range(n_features)],
        "shares": [[] for _ in range(n_features)],
        "medians": medians,
        "floor": 1.0 / (X.shape[0] + 1),
    }


# Dates (and date-times) as a CSV file writes them: 2024-01-31, 2024/1/31,
# 31/01/2024, 31.01.24, with an optional time of day.
_DATE_TEXT = re.compile(
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


_DATES_CHECKED = 200


#: Identifier heuristics apply only to tables with at least this many rows: in
#: a handful of rows any column can be all distinct by chance.
MIN_ROWS_FOR_ID_GUESS = 10


def looks_like_identifier(column: pd.Series) -> str | None:
    """Why ``column`` looks like a row identifier rather than a feature, or None."""
    strong = _identifier_sign(column)
    if strong is not None:
        return strong
    values = column.dropna()
    if len(column) < MIN_ROWS_FOR_ID_GUESS or len(values) < len(column):
        return None
    if pd.api.types.is_bool_dtype(values) or not values.is_unique:
        return None
    if _is_numeric(values):
        numbers = values.to_numpy(dtype=float)
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
            return None
        return "integers, every value distinct"
    return "every value distinct"


def _identifier_sign(column: pd.Series) -> str | None:
    """The strong signs of a row identifier: pandas' unnamed index column, or
    strictly monotonic integers (no missing cell)."""
    if column.name == "Unnamed: 0":
        return "pandas' unnamed index column"
    if len(column) < MIN_ROWS_FOR_ID_GUESS or not _is_numeric(column):
        return None
    # pandas' monotonicity test stops at the first step back (and is False
    # with a missing cell): cheap on the columns that are not identifiers.
    if not (column.is_monotonic_increasing or column.is_monotonic_decreasing):
        return None
    numbers = column.to_numpy(dtype=float)
    if not np.all(np.isfinite(numbers)) or not np.all(np.diff(numbers) != 0):
        return None
    if not np.all(numbers == np.round(numbers)):
        return None
    return "monotonic integers, every value distinct"


def warn_identifier_columns(X) -> None:
    """Warn about columns of a DataFrame ``X`` that look like row identifiers.

    Only the strong signs (``_identifier_sign``): such a column used as a
    feature makes every later row (a larger id) look unlike the training rows.
    Called from an estimator's ``_fit``/``_partial_fit``: the warning points at
    the user's ``fit`` call.
    """
    if not isinstance(X, pd.DataFrame):
        return
    for name in X.columns:
        reason = _identifier_sign(X[name])
        if reason is not None:
            warnings.warn(
                f"Column {name!r} looks like a row identifier ({reason}); it is used "
                "as a feature, so rows beyond its training range (later ids) look "
                "unlike the training rows. Drop it, for example "
                "X.drop(columns=[...]), or make it the index.",
                UserWarning,
                stacklevel=5,
            )


def looks_like_dates(column: pd.Series) -> str | None:
    """An example value if every (non-missing) value of a text column is a date."""
    if _is_numeric(column) or pd.api.types.is_bool_dtype(column):
        return None
    return _date_example(pd.unique(column.dropna().astype(str)))


def _date_example(values) -> str | None:
    """The first of these distinct texts if every one of them is a date, else None."""
    if len(values) == 0 or not all(_DATE_TEXT.fullmatch(v) for v in values):
        return None
    # Shaped like dates; real ones? (1.0.12, a version number, is not.) One
    # value at a time: pandas infers a single format from a whole array.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = [pd.to_datetime(v, errors="coerce") for v in values[:_DATES_CHECKED]]
    if any(pd.isna(p) for p in parsed):
        return None
    return str(values[0])


def _check_column_dtypes(frame: pd.DataFrame) -> None:
    """Refuse columns that are neither numbers nor categories (dates, durations...)."""
    for name in frame.columns:
        dtype = frame[name].dtype
        if (
            pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype))
            or pd.api.types.is_complex_dtype(dtype)
        ):
            raise ValueError(
                f"Column {str(name)!r} has dtype {dtype}, which skae does not read: "
                "columns must be numeric or categorical (category, object/string, "
                "bool). Convert it first, e.g. a date to a number of days."
            )


def _fit_mixed(frame: pd.DataFrame, *, numeric_objects: bool = False) -> dict:
    _check_column_dtypes(frame)
    n_rows = frame.shape[0]
    names = [str(c) for c in frame.columns]
    kinds, categories, shares, medians = [], [], [], []
    missing_everywhere = np.zeros(frame.shape[1], dtype=bool)
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        name = repr(names[j])
        if _is_numeric_column(column, numeric_objects):
            values = _numeric_values(column, name)
            observed = values[~np.isnan(values)]
            missing_everywhere[j] = observed.size == 0
            kinds.append(NUMERIC)
            categories.append([])
            shares.append([])
            medians.append(float(np.median(observed)) if observed.size else 0.0)
            continue
        text, missing = _as_text(column)
        missing_everywhere[j] = missing.all()
        seen, counts = np.unique(text[~missing].astype(str), return_counts=True)
        example = _date_example(seen)
        if example is not None:
            # As categories, the dates seen at fit would be normal and every
            # later date unseen: all the rows of a new period would be flagged.
            raise ValueError(
                f"Column {name} holds dates written as text (such as {example!r}), "
                "which skae does not read as categories: every date after the "
                "training period would be an unseen category. Convert it first "
                "(pd.to_datetime, then e.g. the day of the week or a number of "
                "days) or drop it."
            )
        if seen.size > max(_MAX_FREE_CATEGORIES, _MAX_CATEGORY_SHARE * n_rows):
            raise ValueError(
                f"Column {name} has {seen.size} distinct values in {n_rows} rows: it "
                "looks like an identifier or free text, not a category; drop it or "
                "encode it yourself."
            )
        kinds.append(CATEGORICAL)
        categories.append([str(s) for s in seen])
        total = max(int(counts.sum()), 1)
        shares.append([float(c) / total for c in counts])
        medians.append(0.0)
    _check_observed(missing_everywhere, names)
    return {
        "kinds": kinds,
        "categories": categories,
        "shares": shares,
        "medians": np.asarray(medians, dtype=np.float64),
        "floor": 1.0 / (n_rows + 1),
    }


# A bool column's categories, and the spellings of its values read at scoring
# (a CSV or a database may give 1/0 or "true"/"false" for True/False).
_BOOL_CATEGORIES = {"False", "True"}
_BOOL_TEXT = {"true": "True", "1": "True", "1.0": "True"}
_BOOL_TEXT.update({"false": "False", "0": "False", "0.0": "False"})
#: Scoring warns when at least this many rows, and more than half of a
#: column's values, are categories not seen at fit, of at least two different
#: values: more likely a column written differently (case, spelling, a new
#: period) than that many anomalies.
MIN_UNSEEN_ROWS_TO_WARN = 10


def _warn_if_mostly_unseen(name: str, text, codes, missing) -> None:
    unseen = (codes < 0) & ~missing
    n_unseen, n_observed = int(unseen.sum()), int((~missing).sum())
    # One new value in every row can be the anomaly scored (a new channel);
    # several, in most rows, are more likely a column written differently.
    if (
        n_unseen >= MIN_UNSEEN_ROWS_TO_WARN
        and n_unseen > n_observed / 2
        and len(set(text[unseen])) >= 2
    ):
        example = text[np.flatnonzero(unseen)[0]]
        warnings.warn(
            f"Column {name!r}: {n_unseen} of {n_observed} values were not seen at fit "
            f"(such as {example!r}); every row with an unseen category scores as an "
            "anomaly. Check that the column is written as at fit: categories are "
            "compared as text ('Paris' and 'paris' differ).",
            UserWarning,
            stacklevel=2,
        )


def _encode(table: dict, frame: pd.DataFrame) -> np.ndarray:
    names = [str(c) for c in frame.columns]
    layout = _layout(table)
    encoded = np.zeros((frame.shape[0], layout[-1][1]), dtype=np.float64)
    for j, (kind, cats, share, (start, stop)) in enumerate(
        zip(table["kinds"], table["categories"], table["shares"], layout, strict=True)
    ):
        column = frame.iloc[:, j]
        if kind == NUMERIC:
            encoded[:, start] = _numeric_values(column, repr(names[j]))
            continue
        text, missing = _as_text(column)
        if set(cats) <= _BOOL_CATEGORIES:  # a bool column at fit
            text = np.array([_BOOL_TEXT.get(str(v).lower(), v) for v in text], dtype=object)
        codes = pd.Index(cats, dtype=object).get_indexer(text)  # -1: missing or unseen
        _warn_if_mostly_unseen(names[j], text, codes, missing)
        block = encoded[:, start:stop]
        known = codes >= 0
        block[np.flatnonzero(known), codes[known]] = 1.0
        block -= np.asarray(share)
        block[missing] = np.nan
    return encoded


def decode(table: dict, R: np.ndarray, columns) -> pd.DataFrame:
    """A reconstruction ``R`` of the encoded table, back in the original columns.

    Numeric columns get their reconstructed values (float64); a categorical
    column gets its most likely category (the largest entry of the
    reconstructed block, shares added back) as a pandas ``category`` column
    over the categories seen at fit, as text.
    """
    out = {}
    for name, kind, cats, share, (start, stop) in zip(
        columns,
        table["kinds"],
        table["categories"],
        table["shares"],
        _layout(table),
        strict=True,
    ):
        if kind == NUMERIC:
            out[name] = R[:, start].astype(np.float64)
            continue
        best = np.argmax(R[:, start:stop] + np.asarray(share), axis=1)
        out[name] = pd.Categorical.from_codes(best, categories=list(cats))
    return pd.DataFrame(out)


def encoded_width(table: dict) -> int:
    """Number of columns of the encoded table."""
    return _layout(table)[-1][1]


# -- the detector's other hooks ----------------------------------------------------
def fill_row(table: dict) -> np.ndarray:
    """The encoded row that stands for missing cells: medians, and 0 for categories."""
    layout = _layout(table)
    row = np.zeros(layout[-1][1], dtype=np.float64)
    for kind, median, (start, _) in zip(
        table["kinds"], table["medians"], layout, strict=True
    ):
        if kind == NUMERIC:
            row[start] = median
    return row


def pass_categories_through(scaler, table: dict | None):
    """Make a fitted built-in scaler the identity on the one-hot columns.

    The centred one-hot columns are already on a common scale; left alone they
    keep the meaning :func:`column_errors` reads back (shares added back give
    the one-hot row and the reconstructed probabilities).
    """
    if is_all_numeric(table) or scaler is None:
        return scaler
    positions = [
        i
        for kind, (start, stop) in zip(table["kinds"], _layout(table), strict=True)
        if kind == CATEGORICAL
        for i in range(start, stop)
    ]
    if isinstance(scaler, RobustScaler):
        scaler.center_[positions] = 0.0
        scaler.scale_[positions] = 1.0
    elif isinstance(scaler, StandardScaler):
        scaler.mean_[positions] = 0.0
        scaler.var_[positions] = 1.0
        scaler.scale_[positions] = 1.0
    elif isinstance(scaler, MinMaxScaler):
        scaler.min_[positions] = 0.0
        scaler.scale_[positions] = 1.0
        scaler.data_min_[positions] = 0.0
        scaler.data_max_[positions] = 1.0
        scaler.data_range_[positions] = 1.0
    return scaler


def unseen_categories(table: dict | None, Z: np.ndarray) -> np.ndarray:
    """Which cells of each categorical column hold a category not seen at fit.

    ``Z`` is the encoded table (scaled or not: the one-hot blocks pass
    through). Returns a boolean array of shape ``(n_rows, n_categorical)``; a
    missing cell is not unseen.
    """
    if is_all_numeric(table):
        return np.zeros((Z.shape[0], 0), dtype=bool)
    blocks = [
        (np.asarray(share), start, stop)
        for kind, share, (start, stop) in zip(
            table["kinds"], table["shares"], _layout(table), strict=True
        )
        if kind == CATEGORICAL
    ]
    out = np.zeros((Z.shape[0], len(blocks)), dtype=bool)
    for j, (share, start, stop) in enumerate(blocks):
        observed = np.rint(Z[:, start:stop] + share)  # one-hot, zeros if unseen, NaN
        out[:, j] = np.nansum(observed, axis=1) == 0
        out[:, j] &= ~np.isnan(Z[:, start])
    return out


def column_weights(table: dict | None, n_columns: int) -> np.ndarray:
    """Weight of each original column in a row's error: its share of the encoded width.

    ``1 / n_columns`` each for numeric tables. A categorical column with ``K``
    categories weighs ``K`` times a numeric one, as its ``K`` one-hot columns
    would in front of the detector. Counted once, the categories' evidence was
    diluted: on the tables of ``benchmarks/bench_mixed_tables.py`` (seed 0, the
    reconstruction part alone) the ROC-AUC on odd category pairs was 0.85 with
    equal weights and 0.92 with these.
    """
    if is_all_numeric(table):
        return np.full(n_columns, 1.0 / n_columns)
    widths = np.array([stop - start for start, stop in _layout(table)], dtype=np.float64)
    return widths / widths.sum()


def column_errors(table: dict | None, Z: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Error of each original column of each row; NaN where the cell is missing.

    ``Z`` is the scaled encoded table (NaN where missing) and ``R`` the
    network's reconstruction of it. Numeric columns: squared error in scaled
    units. Categorical columns: the cross-entropy described in the module
    docstring.
    """
    if is_all_numeric(table):
        return (Z - R) ** 2
    layout = _layout(table)
    errors = np.empty((Z.shape[0], len(layout)), dtype=np.float64)
    floor = table["floor"]
    for j, (kind, share, (start, stop)) in enumerate(
        zip(table["kinds"], table["shares"], layout, strict=True)
    ):
        if kind == NUMERIC:
            errors[:, j] = (Z[:, start] - R[:, start]) ** 2
            continue
        share = np.asarray(share)
        observed = np.rint(Z[:, start:stop] + share)  # one-hot, zeros if unseen, NaN
        probabilities = np.maximum(R[:, start:stop] + share, floor)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        picked = np.sum(observed * probabilities, axis=1)  # 0 for an unseen category
        errors[:, j] = -np.log(np.maximum(picked, floor))
    return errors

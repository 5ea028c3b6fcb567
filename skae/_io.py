"""``skae.save``/``skae.load``: whole pipelines, still without pickle.

``est.save(path)`` (:mod:`skae._persistence`) stores one skae estimator. This
module adds the functions :func:`save` and :func:`load`, which also take a
scikit-learn estimator that holds skae estimators -- a ``Pipeline``,
``ColumnTransformer`` or ``FeatureUnion``, nested or not, fitted or not --
and write it into the same kind of file:

* every skae estimator found in it is stored in skae's format (weights as
  tensors, parameters and fitted attributes as JSON), as by ``est.save``;
* the rest, the scikit-learn *skeleton* with a placeholder ``_SkaeStep(i)``
  where skae estimator ``i`` was, is stored as the bytes of
  :func:`skops.io.dumps` (skops' trusted-types format: no pickle) in one more
  tensor, under the file's checksum.

Loading checks the skeleton's types against skops' default trusted types plus
the placeholder class before skops builds anything: any other type (a
function of the user's, a tree's node storage, a tampered file's
``os.system``) is refused unless the caller lists it in ``trusted=``. The
placeholders are then replaced by the skae estimators, decoded as
``skae._persistence`` does. A file holding one skae estimator needs no skops.
"""

from __future__ import annotations

import copy
import functools
import os
import types
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from sklearn.base import BaseEstimator

from ._persistence import (
    FORMAT_VERSION,
    PersistenceMixin,
    _Encoder,
    _short_repr,
    decode_estimator,
    read_model_file,
    save_estimator,
    write_model_file,
)

# The tensor holding the skops bytes of the scikit-learn skeleton.
_SKELETON = "composite.skops"

_SKOPS_ADVICE = "pip install skae[skops]"


class _SkaeStep:
    """Stands in the skops skeleton for skae estimator number ``index`` of the file."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"_SkaeStep({self.index})"


# The one type skae adds to skops' default trusted types: harmless by itself.
_PLACEHOLDER = f"{_SkaeStep.__module__}.{_SkaeStep.__qualname__}"


def _skops_io(why: str):
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            f"{why} needs skops (scikit-learn's safe, pickle-free format for the "
            f"scikit-learn parts): {_SKOPS_ADVICE}"
        ) from None
    return skops.io


# -- the object graph: where skae estimators and functions sit ------------------------
def _children(obj, path: str) -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of what a scikit-learn skeleton may hold skae estimators in:
    the attributes of estimators and the items of lists, tuples and dicts."""
    if isinstance(obj, BaseEstimator):
        yield from ((f"{path}.{k}", v) for k, v in vars(obj).items())
    elif isinstance(obj, dict):
        yield from ((f"{path}[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            if isinstance(v, tuple) and len(v) >= 2 and isinstance(v[0], str):
                # (name, estimator[, columns]) of Pipeline.steps, transformers...:
                # the name says where the estimator sits.
                yield f"{path}[{v[0]!r}]", v[1]
                yield from ((f"{path}[{v[0]!r}][{j}]", x) for j, x in enumerate(v[2:], 2))
            else:
                yield f"{path}[{i}]", v


def _walk(obj, path: str, seen: set[int]) -> Iterator[tuple[str, Any]]:
    """Every value reachable from ``obj`` through estimators and containers, with
    its path. skae estimators are yielded but not entered (they are stored whole)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for child_path, child in _children(obj, path):
        yield child_path, child
        if not isinstance(child, PersistenceMixin):
            yield from _walk(child, child_path, seen)


def _unloadable_callable(value) -> bool:
    """A lambda, or a function or class defined inside a function: skops would
    store a name that no module has, so no file could restore it."""
    if isinstance(value, functools.partial):
        return _unloadable_callable(value.func)
    if not isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return False
    return "<" in getattr(value, "__qualname__", "<")


def _skae_estimators(estimator, root: str) -> list[tuple[str, PersistenceMixin]]:
    """``(where it first sits, estimator)`` for each distinct skae estimator held.

    Refuses, naming where it sits, what no file could restore without running
    code chosen by the file: a lambda, or a function or class defined inside a
    function.
    """
    found: dict[int, tuple[str, PersistenceMixin]] = {}
    for path, value in _walk(estimator, root, set()):
        if isinstance(value, PersistenceMixin):
            found.setdefault(id(value), (path, value))
        elif _unloadable_callable(value):
            raise TypeError(
                f"Cannot save {path} = {_short_repr(value)}: a lambda, or a function "
                "or class defined inside a function, has no importable name, so no "
                "file can restore it without pickle. Define it at module level (and "
                "list it in skae.load(..., trusted=[...])), or use pickle/joblib -- "
                "and then load only files you trust."
            )
    return list(found.values())


def _innermost_failure(obj, root: str, attempt) -> str:
    """The path of the innermost value of ``obj`` for which ``attempt`` raises."""
    failing, depth = root, 0
    for path, value in _walk(obj, root, set()):
        depth_here = path.count(".") + path.count("[")
        if depth_here >= depth and not isinstance(value, PersistenceMixin):
            try:
                attempt(value)
            except Exception:  # any failure is what we look for
                failing, depth = path, depth_here
    return failing


def _skeleton(estimator, held: list[tuple[str, PersistenceMixin]], root: str):
    """A deep copy of ``estimator`` with a placeholder for each skae estimator."""
    # deepcopy looks its memo up by id before copying anything.
    memo = {id(est): _SkaeStep(i) for i, (_, est) in enumerate(held)}
    try:
        return copy.deepcopy(estimator, dict(memo))
    except Exception as exc:  # copying raises what pickling raises
        failing = _innermost_failure(
            estimator, root, lambda value: copy.deepcopy(value, dict(memo))
        )
        raise TypeError(_cannot_store(failing, exc)) from None


def _cannot_store(path: str, exc: Exception) -> str:
    return (
        f"Cannot save {path}: skops cannot store it ({type(exc).__name__}: {exc}). "
        "Use pickle/joblib for it -- and then load only files you trust."
    )


# -- save ------------------------------------------------------------------------------
def save(estimator: BaseEstimator, path: str | os.PathLike) -> None:
    """Save a skae estimator, or a scikit-learn estimator holding some, without pickle.

    A skae estimator is written as by its :meth:`save` method. Any other
    scikit-learn estimator -- typically a :class:`~sklearn.pipeline.Pipeline`,
    :class:`~sklearn.compose.ColumnTransformer` or
    :class:`~sklearn.pipeline.FeatureUnion`, nested or not, fitted or not --
    is written with each skae estimator it holds in skae's format and the rest
    in `skops <https://skops.readthedocs.io>`_' pickle-free format, in one
    file that :func:`skae.load` reads back.

    Parameters
    ----------
    estimator : estimator
        A skae estimator, or a scikit-learn estimator (holding skae estimators
        or not).
    path : str or os.PathLike
        Where to write; ``.safetensors`` is a good suffix.

    Raises
    ------
    ImportError
        If ``estimator`` is not a skae estimator and skops is not installed
        (``pip install skae[skops]``).
    TypeError
        If ``estimator`` is not a scikit-learn estimator, or holds something no
        file can restore without running code: a lambda or a locally defined
        function (e.g. in a :class:`~sklearn.preprocessing.FunctionTransformer`),
        a parameter of a skae estimator that JSON cannot represent, or an object
        skops cannot store. The message names where it sits.

    See Also
    --------
    skae.load : Read the file back.

    Examples
    --------
    >>> import os, tempfile, numpy as np, skae
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 4)), np.arange(60) % 2
    >>> model = make_pipeline(
    ...     StandardScaler(),
    ...     skae.AutoencoderTransformer(n_components=2, max_epochs=2, random_state=0),
    ...     LogisticRegression(),
    ... ).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     skae.save(model, path)
    ...     loaded = skae.load(path)
    >>> bool(np.array_equal(loaded.predict_proba(X), model.predict_proba(X)))
    True
    """
    if isinstance(estimator, PersistenceMixin):
        save_estimator(estimator, path)
        return
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(
            f"skae.save() needs a scikit-learn estimator, got {type(estimator)!r}."
        )
    root = type(estimator).__name__
    held = _skae_estimators(estimator, root)
    skops_io = _skops_io(f"Saving a {root} (its scikit-learn parts)")

    encoder = _Encoder()
    steps = []
    for i, (step_path, est) in enumerate(held):
        try:
            doc = encoder.estimator(est, f"composite.estimators.{i}")
        except TypeError as exc:
            raise TypeError(
                f"Cannot save the skae estimator at {step_path}: {exc}"
            ) from None
        steps.append({"path": step_path, "estimator": doc})

    skeleton = _skeleton(estimator, held, root)
    try:
        data = skops_io.dumps(skeleton)
    except Exception as exc:  # skops raises whatever pickling raises
        failing = _innermost_failure(skeleton, root, skops_io.dumps)
        raise TypeError(_cannot_store(failing, exc)) from None
    leaked = [
        t
        for t in skops_io.get_untrusted_types(data=data)
        if t != _PLACEHOLDER and (t.split(".", 1)[0] == "skae" or "<" in t)
    ]
    if leaked:
        raise TypeError(
            f"Cannot save {root}: it holds {leaked} where skae.save() does not look "
            "for them (skae estimators must sit in estimators, lists, tuples or dicts "
            "of the scikit-learn parts; lambdas and local functions cannot be stored)."
        )
    import skops

    encoder.tensors[_SKELETON] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    content = {
        "composite": {
            "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "skeleton": {"$skops": _SKELETON},
            "estimators": steps,
        }
    }
    write_model_file(
        path,
        content,
        encoder.tensors,
        format_version=FORMAT_VERSION,
        versions={"skops": skops.__version__},
    )


# -- load ------------------------------------------------------------------------------
def _check_trusted(trusted) -> list[str]:
    if trusted is None:
        return []
    if isinstance(trusted, (str, bytes)) or not isinstance(trusted, Sequence):
        raise TypeError(
            "trusted must be a list of type names (as skops.io.get_untrusted_types "
            f"reports them), got {trusted!r}."
        )
    bad = [t for t in trusted if not isinstance(t, str)]
    if bad:
        raise TypeError(f"trusted must hold type names as strings, got {bad!r}.")
    return list(trusted)


def _substitute(obj, estimators: list, path, seen: dict[int, Any]):
    """``obj`` with each placeholder replaced by its skae estimator (in place where
    the container is mutable; tuples are rebuilt)."""
    if isinstance(obj, _SkaeStep):
        index = getattr(obj, "index", None)
        if type(index) is not int or not 0 <= index < len(estimators):
            raise ValueError(
                f"{path} holds a malformed pipeline: a placeholder names skae "
                f"estimator {index!r} of {len(estimators)}."
            )
        return estimators[index]
    if id(obj) in seen:
        return seen[id(obj)]
    seen[id(obj)] = obj
    if isinstance(obj, BaseEstimator):
        state = vars(obj)
        for k, v in state.items():
            state[k] = _substitute(v, estimators, path, seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _substitute(v, estimators, path, seen)
    elif isinstance(obj, list):
        obj[:] = [_substitute(v, estimators, path, seen) for v in obj]
    elif type(obj) is tuple:
        new = tuple(_substitute(v, estimators, path, seen) for v in obj)
        seen[id(obj)] = new
        return new
    return obj


def load(path: str | os.PathLike, *, trusted: Sequence[str] | None = None) -> Any:
    """Load what :func:`skae.save` or ``est.save`` wrote -- without running code from it.

    A file holding one skae estimator is parsed as JSON plus safetensors
    tensors: no pickle, no import named by the file; only skae's estimators
    (and their subclasses) and a few scikit-learn scalers can be named. A file
    holding a scikit-learn estimator with skae steps also holds its
    scikit-learn parts in skops' trusted-types format: before anything is
    built, the types it names are checked against skops' default trusted types
    (scikit-learn's estimators, NumPy and SciPy containers); any other type is
    refused unless listed in ``trusted``. The networks are rebuilt on the CPU
    whatever device they were trained on; the ``device`` parameter keeps its
    saved value (set it with ``set_params`` before refitting elsewhere).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`skae.save` or an estimator's ``save``.
    trusted : list of str, default=None
        Further types the scikit-learn parts may name, as the refusal lists
        them (e.g. ``["sklearn.tree._tree.Tree"]`` for tree models, or your own
        module's ``"mymodule.my_function"``). List only types you have reviewed
        and whose source you trust: skops builds and imports them. Ignored for
        a file holding one skae estimator.

    Returns
    -------
    estimator : estimator
        The estimator, fitted if it was fitted when saved, giving the same
        outputs as the saved one.

    Raises
    ------
    ValueError
        If the file is not a skae model file, is truncated or was modified after
        saving, was written in a newer format version, names a class skae does
        not load or a type not trusted, or holds weights that do not match its
        parameters.
    ImportError
        If the file holds scikit-learn parts and skops is not installed
        (``pip install skae[skops]``).

    See Also
    --------
    skae.save : Write such a file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, skae
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> ae = skae.AutoencoderTransformer(max_epochs=2, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     skae.save(ae, path)
    ...     loaded = skae.load(path)
    >>> bool(np.array_equal(loaded.transform(X), ae.transform(X)))
    True
    """
    trusted = _check_trusted(trusted)
    body, tensors = read_model_file(path)
    composite = body.get("composite")
    if composite is None:
        return decode_estimator(body.get("estimator"), tensors, path)
    skops_io = _skops_io(f"Loading {path} (a scikit-learn estimator with skae steps)")
    try:
        skeleton_name = composite["skeleton"]["$skops"]
        data = tensors[skeleton_name].numpy().tobytes()
        steps = composite["estimators"]
        docs = [step["estimator"] for step in steps]
    except (KeyError, TypeError, AttributeError):
        raise ValueError(f"{path} holds a malformed pipeline description.") from None
    try:
        untrusted = skops_io.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt archive raises many kinds
        raise ValueError(
            f"{path} holds a malformed pipeline: skops cannot read it ({exc})."
        ) from None
    refused = sorted(set(untrusted) - {_PLACEHOLDER} - set(trusted))
    if refused:
        raise ValueError(
            f"{path} names types that are not trusted by default: {refused}. Loading "
            "them would let the file choose code to import and call. If you trust "
            "the file's source and have reviewed them, pass "
            "skae.load(path, trusted=[...]) with the ones you accept."
        )
    estimators = [decode_estimator(doc, tensors, path) for doc in docs]
    try:
        skeleton = skops_io.loads(data, trusted=[_PLACEHOLDER, *trusted])
    except Exception as exc:  # a corrupt archive raises many kinds
        raise ValueError(
            f"{path} holds a malformed pipeline: skops cannot load it "
            f"({type(exc).__name__}: {exc})."
        ) from None
    return _substitute(skeleton, estimators, path, {})

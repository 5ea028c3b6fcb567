"""scikit-learn's docstring tests over every public skae estimator.

The equivalents of scikit-learn's ``test_docstring_parameters`` and
``test_fit_docstring_attributes`` (``sklearn/tests/test_docstring_parameters.py``).
scikit-learn's helper ``check_docstring_parameters`` skips every function outside
the ``sklearn`` package, so the parameter check is redone here with numpydoc's
``docscrape``, and extended: each documented default must equal the signature's.
The estimators come from ``skae.__all__`` (``tests/_skae_estimators.py``).
"""

from __future__ import annotations

import inspect
import math
import warnings
from numbers import Real

import numpy as np
import pytest
from _skae_estimators import CLASS_IDS, CLASSES, make, training_data

docscrape = pytest.importorskip("numpydoc.docscrape")

# Estimators whose docstrings are known to fail, with the reason.
KNOWN_FAILURES: dict[str, str] = {}

# y is not documented in these methods when its default is None (as scikit-learn).
METHODS_IGNORE_NONE_Y = ("fit", "score", "fit_predict", "fit_transform", "partial_fit")


def _params(cls):
    """``CLASSES`` with the known failures marked xfail (strict: a fix must drop them)."""
    marked = []
    for cls_ in cls:
        reason = KNOWN_FAILURES.get(cls_.__name__)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        marked.append(pytest.param(cls_, marks=marks, id=cls_.__name__))
    return marked


def _class_doc(cls) -> docscrape.ClassDoc:
    with warnings.catch_warnings():
        # numpydoc warns about malformed sections; that is a failure here.
        warnings.simplefilter("error")
        return docscrape.ClassDoc(cls)


def _documented_default(type_spec: str):
    """The value written after ``default=`` in a numpydoc type, or a sentinel."""
    if "default=" not in type_spec:
        return _MISSING
    text = type_spec.split("default=", 1)[1].strip()
    try:
        return eval(text, {"__builtins__": {}, "np": np})
    except Exception:
        return _UNPARSABLE


_MISSING, _UNPARSABLE = object(), object()


def _same_default(documented, actual) -> bool:
    if isinstance(actual, float) and math.isnan(actual):
        return isinstance(documented, float) and math.isnan(documented)
    if isinstance(actual, bool) or isinstance(documented, bool):
        return documented is actual
    if isinstance(actual, Real) and isinstance(documented, Real):
        return documented == actual  # 1e-3 documents 0.001
    return type(documented) is type(actual) and documented == actual


def check_parameters(func, doc, *, ignore=(), check_defaults=False) -> list[str]:
    """Mismatches between ``func``'s signature and the Parameters of ``doc``."""
    name = f"{func.__module__}.{func.__qualname__}"
    signature = inspect.signature(func)
    expected = [
        p
        for p in signature.parameters.values()
        if p.name != "self"
        and p.name not in ignore
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    entries = [e for e in doc["Parameters"] if "*" not in e.name and e.name not in ignore]
    problems = []
    documented = [e.name for e in entries]
    signed = [p.name for p in expected]
    if documented != signed:
        first = next(
            (
                i
                for i, pair in enumerate(zip(documented, signed, strict=False))
                if pair[0] != pair[1]
            ),
            min(len(documented), len(signed)),
        )
        problems.append(
            f"{name}: the documented parameters differ from the signature's from "
            f"position {first} on: documented {documented[first:]}, signature "
            f"{signed[first:]}"
        )
        return problems
    for param, entry in zip(expected, entries, strict=True):
        if not entry.type.strip():
            problems.append(f"{name}: parameter {param.name!r} has no type")
        if not check_defaults or param.default is inspect.Parameter.empty:
            continue
        documented_default = _documented_default(entry.type)
        if documented_default is _MISSING:
            problems.append(f"{name}: parameter {param.name!r} documents no default")
        elif documented_default is _UNPARSABLE:
            problems.append(
                f"{name}: parameter {param.name!r} has an unreadable default in "
                f"{entry.type!r}"
            )
        elif not _same_default(documented_default, param.default):
            problems.append(
                f"{name}: parameter {param.name!r} documents default "
                f"{documented_default!r}, the signature has {param.default!r}"
            )
    return problems


def _own_public_methods(cls) -> list[str]:
    """Public methods of ``cls`` written in skae (scikit-learn tests its own)."""
    names = []
    for method_name in dir(cls):
        if method_name.startswith("_"):
            continue
        method = getattr(cls, method_name)
        if inspect.isfunction(method) and method.__module__.startswith("skae"):
            names.append(method_name)
    return names


@pytest.mark.parametrize("cls", _params(CLASSES))
def test_docstring_parameters(cls):
    """Every parameter of ``__init__`` and of each public method is documented in order."""
    problems = check_parameters(cls.__init__, _class_doc(cls), check_defaults=True)
    for method_name in _own_public_methods(cls):
        method = getattr(cls, method_name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            doc = docscrape.FunctionDoc(method)
        ignore = ()
        if method_name in METHODS_IGNORE_NONE_Y:
            y = inspect.signature(method).parameters.get("y")
            if y is not None and y.default is None:
                ignore = ("y",)
        problems += check_parameters(method, doc, ignore=ignore)
    assert not problems, "\n".join(problems)


def _fitted_attributes(est) -> list[str]:
    """Public attributes ending in ``_`` that ``fit`` set, properties included."""
    names = list(vars(est))
    for name in dir(type(est)):
        if isinstance(getattr(type(est), name), property):
            # As scikit-learn: a deprecated property (FutureWarning) is left out.
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)
                try:
                    getattr(est, name)
                except (AttributeError, FutureWarning):
                    continue
            names.append(name)
    return [n for n in names if n.endswith("_") and not n.startswith("_")]


@pytest.mark.parametrize("cls", _params(CLASSES))
def test_fit_docstring_attributes(cls):
    """Every documented attribute exists after fit, and every fitted one is documented."""
    attributes = _class_doc(cls)["Attributes"]
    est = make(cls).fit(training_data())
    with warnings.catch_warnings():
        # A documented deprecated attribute still counts (as scikit-learn).
        warnings.simplefilter("ignore", FutureWarning)
        missing = [
            a.name
            for a in attributes
            # "only" marks an attribute set in some cases only (as scikit-learn).
            if "only " not in " ".join(a.desc).lower() and not hasattr(est, a.name)
        ]
    undocumented = sorted(set(_fitted_attributes(est)) - {a.name for a in attributes})
    assert not missing, f"documented but not set by fit: {missing}"
    assert not undocumented, f"set by fit but not documented: {undocumented}"


def test_known_failures_are_estimators():
    """A stale entry in KNOWN_FAILURES (a renamed estimator) is an error."""
    assert set(KNOWN_FAILURES) <= set(CLASS_IDS)


def test_substitution_indents_fragments_and_refuses_unknown_placeholders():
    from skae._docstrings import Substitution

    def documented():
        """Summary.

        Parameters
        ----------
        {alpha}
        beta : set of str, default={"a"}
            Braces outside a placeholder line are left alone: {alpha}.
        """

    Substitution(alpha="alpha : int, default=1\n    The alpha.")(documented)
    lines = documented.__doc__.splitlines()
    assert "        alpha : int, default=1" in lines
    assert "            The alpha." in lines
    assert (
        "Braces outside a placeholder line are left alone: {alpha}." in documented.__doc__
    )

    def unknown():
        """Summary.

        {gamma}
        """

    with pytest.raises(KeyError, match="gamma"):
        Substitution(alpha="alpha : int")(unknown)

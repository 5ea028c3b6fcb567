"""Keyword arguments checked against a callable's signature, before it is called.

The estimators pass user dictionaries (``module_kwargs``, ``optimizer_kwargs``)
to classes they call later, inside skorch; a misspelt key is refused here with
a ``ValueError`` naming it and the keywords that are accepted.

This module knows nothing of the estimators, torch or skorch.
"""

from __future__ import annotations

import inspect


def qualified_name(obj) -> str:
    """``obj``'s qualified name, or its class's for an instance."""
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def accepted_keywords(fn) -> set[str] | None:
    """Keyword arguments ``fn`` takes; None if it takes ``**kwargs`` or has no signature."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    names = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            names.add(parameter.name)
    return names


def check_keywords(fn, kwargs: dict, option: str, *, skip: int, owner: str) -> None:
    """Refuse keys of ``kwargs`` that ``fn`` does not take (after ``skip`` positionals)."""
    bad = [k for k in kwargs if not isinstance(k, str)]
    if bad:
        raise ValueError(f"{option} needs string keys; got {bad!r}.")
    accepted = accepted_keywords(fn)
    if accepted is None:
        return
    try:
        positional = list(inspect.signature(fn).parameters)[:skip]
    except (TypeError, ValueError):  # pragma: no cover - accepted_keywords gave None
        positional = []
    accepted -= set(positional)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"{option} has argument(s) {unknown} that {owner} does not take; "
            f"it takes {sorted(accepted)}."
        )

"""Which parts of skae an example needs, and which of them this checkout lacks.

Used by ``docs/conf.py`` (to leave out examples this checkout cannot run yet)
and by ``tests/test_examples.py`` (to skip them). An example *needs* every name
it imports from ``skae`` or ``skae.plotting``, and every keyword argument it
passes to one of skae's estimator classes (for example ``architecture=``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path


def missing_requirements(path: str | Path) -> list[str]:
    """What ``path`` uses from skae that the importable skae lacks (empty: runnable)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    imported: dict[str, object] = {}
    missing: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("skae", "skae.plotting"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    imported[alias.asname or alias.name] = getattr(module, alias.name)
                else:
                    missing.append(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        cls = imported.get(node.func.id)
        if not (isinstance(cls, type) and hasattr(cls, "get_params")):
            continue
        accepted = cls().get_params(deep=False)
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg not in accepted:
                missing.append(f"{cls.__name__}({keyword.arg}=...)")
    return sorted(set(missing))

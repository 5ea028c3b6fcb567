"""Sphinx configuration for skae's documentation.

Build (executing every example): ``make -C docs html``, or equivalently
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
Set ``SKAE_FAST_EXAMPLES=1`` to run the examples with few epochs.
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the skae of this checkout
sys.path.insert(0, str(HERE / "sphinxext"))

import skae  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

project = "skae"
author = "the skae developers"
copyright = "the skae developers"
version = release = skae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated_api.rst", "sphinxext"]
root_doc = "index"

# -- API reference: generated from skae.__all__ ---------------------------------
# api.rst includes _generated_api.rst (git-ignored), written here from the package's
# own __all__, so a name merged into skae appears without editing the docs.
PUBLIC_NAMES = sorted(name for name in skae.__all__ if not name.startswith("_"))
_classes = [n for n in PUBLIC_NAMES if isinstance(getattr(skae, n), type)]
_functions = [n for n in PUBLIC_NAMES if n not in _classes]


def _autosummary(names, template=None):
    lines = [".. autosummary::", "   :toctree: gen_modules/", "   :nosignatures:"]
    if template:
        lines.append(f"   :template: {template}")
    return "\n".join([*lines, "", *(f"   {n}" for n in names), ""])


_api = [
    "Estimators",
    "----------",
    "",
    ".. currentmodule:: skae",
    "",
    _autosummary(_classes),
]
if _functions:
    _api += ["Functions", "---------", "", ".. currentmodule:: skae", ""]
    _api.append(_autosummary(_functions))
_inc = HERE / "_generated_api.rst"
_text = "\n".join(_api)
if not _inc.exists() or _inc.read_text() != _text:  # keep Sphinx's cache valid
    _inc.write_text(_text)

# The included list is not a document of its own, so name it for stub generation.
autosummary_generate = ["api.rst", "_generated_api.rst"]
autodoc_default_options: dict = {}
autodoc_typehints = "none"  # numpydoc docstrings already state the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Docstrings write shapes as in scikit-learn, e.g. ``(n_samples, n_components_)``;
# to reStructuredText a bare word ending in "_" is a link, so quote such names.
_SHAPE = re.compile(r"shape \(([^()]*)\)")
_FITTED_NAME = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?=\s*,|\s*$)")


def _quote_shape(match):
    return "shape (" + _FITTED_NAME.sub(r"``\1``", match.group(1)) + ")"


def _quote_fitted_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        lines[i] = _SHAPE.sub(_quote_shape, line)


def setup(app):
    app.connect("autodoc-process-docstring", _quote_fitted_names)


# -- Example gallery -------------------------------------------------------------
# Every example is executed; one that fails aborts the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.GalleryOrder",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "min_reported_time": 1,
    "remove_config_comments": True,
}

# -- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skae {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path: list[str] = []

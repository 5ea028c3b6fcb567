# Doctests in the package train small networks; keep them single-threaded.
import sys

import pytest
import torch

torch.set_num_threads(1)

try:  # skae.plotting's doctests need the optional matplotlib
    import matplotlib  # noqa: F401
except ImportError:
    collect_ignore = ["plotting.py"]


@pytest.fixture(autouse=True)
def _close_figures():
    """Close figures the plotting doctests open (without importing matplotlib)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")

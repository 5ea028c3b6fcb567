import numpy as np
import pytest
import torch

# Tests train tiny networks: torch's intra-op threads only add contention on
# them (and oversubscribe badly when pytest shares the machine).
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: test needs a CUDA GPU (skipped without one)")


@pytest.fixture
def memmap_of(tmp_path):
    """Write an array to a new file and reopen it read-only as a memmap
    (of ``dtype``, default the array's)."""

    def make(array, dtype=None):
        array = np.asarray(array, dtype=dtype)
        path = tmp_path / f"x{np.random.default_rng().integers(1 << 30)}.dat"
        out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
        out[:] = array
        out.flush()
        del out
        return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)

    return make

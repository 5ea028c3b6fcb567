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

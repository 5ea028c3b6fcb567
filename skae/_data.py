"""Fast batch iteration: rows are converted to a tensor once, batches are slices.

skorch's default path builds every batch from per-row ``Dataset.__getitem__``
calls plus collation, which dominates the cost of small networks. Here a
dataset is a single 2-D tensor (on the training device when it fits there) and
a batch is a slice or an ``index_select`` of it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import torch

# Staging a whole data set on an accelerator is worth it only while it leaves
# room for activations and optimizer state.
_MAX_DEVICE_SHARE = 0.5


def as_float_tensor(X: np.ndarray) -> torch.Tensor:
    """Return ``X`` as a contiguous float32 CPU tensor, sharing memory if possible.

    Read-only arrays (pandas' copy-on-write frames, read-only memmaps) are shared
    too: skae never writes into its input tensors, so torch's warning about
    non-writable arrays does not apply, and copying would double the memory.
    """
    array = np.ascontiguousarray(X, dtype=np.float32)
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def stage(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """Convert ``X`` once and move it to ``device`` when it fits there.

    On a CUDA device too large an array stays in pinned host memory and batches
    are copied over one at a time (asynchronously) by :class:`BatchIterator`.
    """
    tensor = as_float_tensor(X)
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() * tensor.element_size() > _MAX_DEVICE_SHARE * free:
            return tensor.pin_memory()
    return tensor.to(device)


class RowDataset(torch.utils.data.Dataset):
    """Rows of one tensor; the reconstruction target is the input itself."""

    def __init__(self, X: torch.Tensor) -> None:
        self.X = X

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i):  # kept for torch/skorch tools that index rows
        return self.X[i], self.X[i]

    def subset(self, indices: torch.Tensor) -> RowDataset:
        return RowDataset(self.X.index_select(0, indices.to(self.X.device)))


class BatchIterator:
    """Iterate ``(X_batch, X_batch)`` pairs by slicing a :class:`RowDataset`.

    Parameters
    ----------
    dataset : RowDataset
        The rows to iterate over.
    batch_size : int
        Rows per batch; the last batch may be smaller (never dropped, so a data
        set smaller than one batch still trains).
    shuffle : bool
        Draw a fresh permutation at every pass, from torch's default CPU
        generator (which the estimators seed from ``random_state``). Shuffled
        (training) passes never end on a one-row batch: such a row joins the
        batch before it.
    device : torch.device
        Where batches must end up; rows already there are not copied.
    """

    def __init__(
        self,
        dataset: RowDataset,
        batch_size: int,
        shuffle: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = torch.device(device)

    def __len__(self) -> int:
        n, n_batches = len(self.dataset), math.ceil(len(self.dataset) / self.batch_size)
        if self.shuffle and n_batches > 1 and n % self.batch_size == 1:
            return n_batches - 1
        return n_batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X = self.dataset.X
        n, bs = X.shape[0], self.batch_size
        move = X.device != self.device
        starts = list(range(0, n, bs))
        if self.shuffle:
            order = torch.randperm(n).to(X.device)
            if len(starts) > 1 and n - starts[-1] == 1:
                # A one-row training batch is a noisy step and breaks batch
                # normalisation: fold the last row into the batch before it.
                starts.pop()
        ends = [*starts[1:], n]
        for start, end in zip(starts, ends, strict=True):
            if self.shuffle:
                batch = X.index_select(0, order[start:end])
            else:
                batch = X[start:end]
            if move:
                batch = batch.to(self.device, non_blocking=True)
            yield batch, batch


def inference_batch_size(batch_size: int, widest_layer: int) -> int:
    """Rows per forward pass at inference: as many as keep one activation ~64 MB.

    Inference needs no gradients, so batches far larger than the training batch
    amortise the per-call overhead.
    """
    return max(batch_size, (1 << 24) // max(widest_layer, 1))


class RandomSplit:
    """Hold out a random ``fraction`` of the rows for validation (skorch's ``train_split``).

    The permutation comes from torch's default CPU generator, which the
    estimators seed from ``random_state``.
    """

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def __call__(self, dataset: RowDataset, y=None) -> tuple[RowDataset, RowDataset]:
        n = len(dataset)
        n_valid = round(self.fraction * n)
        if n_valid < 1 or n_valid >= n:
            raise ValueError(
                f"validation_fraction={self.fraction} leaves {n_valid} of {n} rows "
                "for validation; it needs at least one row on each side. Use more "
                "rows or a different validation_fraction."
            )
        order = torch.randperm(n)
        return dataset.subset(order[n_valid:]), dataset.subset(order[:n_valid])

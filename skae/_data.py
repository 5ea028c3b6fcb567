"""Fast batch iteration: rows are converted to a tensor once, batches are slices.

skorch's default path builds every batch from per-row ``Dataset.__getitem__``
calls plus collation, which dominates the cost of small networks. Here a
dataset is a single 2-D tensor (on the training device when it fits there) and
a batch is a slice or an ``index_select`` of it.

Data larger than memory (a :class:`numpy.memmap`, or any 2-D array-like that
slices lazily: h5py, zarr, dask arrays) is never materialised: a
:class:`LazyRowDataset` reads it one chunk of rows at a time, and a
:class:`ChunkedBatchIterator` shuffles chunks, then rows within each chunk.
"""

from __future__ import annotations

import math
import mmap
import warnings
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

# Staging a whole data set on an accelerator is worth it only while it leaves
# room for activations and optimizer state.
_MAX_DEVICE_SHARE = 0.5

# Rows read at once from data that stays out of memory (and copied at once from
# pinned host memory to an accelerator): about this many bytes of float32.
CHUNK_BYTES = 1 << 26


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


def chunk_rows(n_features: int, batch_size: int, chunk_bytes: int | None = None) -> int:
    """Rows per chunk: whole batches holding about ``chunk_bytes`` of float32."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    batches = max(1, chunk_bytes // (4 * max(n_features, 1) * batch_size))
    return batches * batch_size


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
        Where batches must end up; rows already there are not copied. Shuffled
        rows that live in (pinned) host memory while ``device`` is an
        accelerator travel in chunks of about ``CHUNK_BYTES``, not batch by batch.
    """

    def __init__(
        self,
        dataset: RowDataset,
        batch_size: int,
        shuffle: bool = False,
        device: torch.device | str | None = "cpu",
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = dataset.X.device if device is None else torch.device(device)
        self.shard_index, self.n_shards = 0, 1

    def shard(self, index: int, count: int) -> BatchIterator:
        """Yield only every ``count``-th batch, starting at ``index`` (one process's share).

        All processes draw the same permutation (same seed), so their shares
        are disjoint and together cover every row once per pass.
        """
        self.shard_index, self.n_shards = index, count
        return self

    def _bounds(self) -> list[tuple[int, int]]:
        """``(start, end)`` of this shard's batches within one pass."""
        n, bs = len(self.dataset), self.batch_size
        starts = list(range(0, n, bs))
        if self.shuffle and len(starts) > 1 and n - starts[-1] == 1:
            # A one-row training batch is a noisy step and breaks batch
            # normalisation: fold the last row into the batch before it.
            starts.pop()
        bounds = list(zip(starts, [*starts[1:], n], strict=True))
        return bounds[self.shard_index :: self.n_shards]

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X = self.dataset.X
        move = X.device != self.device
        bounds = self._bounds()
        if self.shuffle:
            order = torch.randperm(X.shape[0]).to(X.device)
            if move:
                yield from self._shuffled_chunks(X, order, bounds)
                return
        for start, end in bounds:
            if self.shuffle:
                batch = X.index_select(0, order[start:end])
            else:
                batch = X[start:end]
            if move:
                batch = batch.to(self.device, non_blocking=True)
            yield batch, batch

    def _shuffled_chunks(
        self, X: torch.Tensor, order: torch.Tensor, bounds: list[tuple[int, int]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Gather shuffled rows chunk-wise into pinned buffers, copy each chunk once."""
        rows = chunk_rows(X.shape[1], self.batch_size)
        pin = self.device.type == "cuda"
        group: list[tuple[int, int]] = []
        for i, bound in enumerate(bounds):
            group.append(bound)
            if sum(e - s for s, e in group) < rows and i < len(bounds) - 1:
                continue
            index = torch.cat([order[s:e] for s, e in group])
            # A fresh buffer per chunk: torch's caching host allocator does not
            # reuse it until the asynchronous copy that reads it has finished.
            buffer = torch.empty((len(index), X.shape[1]), dtype=X.dtype, pin_memory=pin)
            torch.index_select(X, 0, index, out=buffer)
            chunk = buffer.to(self.device, non_blocking=True)
            offset = 0
            for s, e in group:
                batch = chunk[offset : offset + e - s]
                offset += e - s
                yield batch, batch
            group = []


def inference_batch_size(
    batch_size: int, widest_layer: int, device: torch.device | str = "cpu"
) -> int:
    """Rows per forward pass at inference.

    Inference needs no gradients, so batches larger than the training batch
    amortise the per-call overhead. On an accelerator one activation may take
    ~64 MB; on the CPU ~4 MB, because activations that stay in the CPU's cache
    are faster than larger batches (measured: encoding 200,000 rows through a
    256-wide layer takes half the time in batches of 4,096 as of 65,536).
    """
    budget = 1 << 20 if torch.device(device).type == "cpu" else 1 << 24
    return max(batch_size, budget // max(widest_layer, 1))


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


# -- data that stays out of memory ---------------------------------------------------
def is_lazy_array(X) -> bool:
    """Whether ``X`` should be read chunk by chunk instead of converted whole.

    True for :class:`numpy.memmap` and for non-NumPy 2-D array-likes with a
    NumPy ``dtype`` that slice lazily (h5py datasets, zarr and dask arrays).
    """
    if isinstance(X, np.memmap):
        return X.ndim == 2
    if isinstance(X, np.ndarray) or sp.issparse(X):
        return False
    dtype = getattr(X, "dtype", None)
    return (
        isinstance(dtype, np.dtype)
        and getattr(X, "ndim", None) == 2
        and hasattr(X, "shape")
        and hasattr(X, "__getitem__")
    )


def _shared_mmap(X) -> mmap.mmap | None:
    """The shared file mapping behind a memmap (or view of one), else None."""
    owner = X
    while isinstance(owner, np.ndarray):
        if isinstance(owner, np.memmap) and getattr(owner, "mode", None) == "c":
            return None  # private copy-on-write pages: dropping them loses edits
        owner = owner.base
    return owner if isinstance(owner, mmap.mmap) else None


def release_pages(X) -> None:
    """Drop the pages of a memmap that this process has read (no-op otherwise).

    Pages read through a file mapping count towards the resident memory of the
    process until the kernel needs them back; after each chunk they are handed
    back at once (the data stays in the page cache), so reading a file of any
    size keeps the resident memory of one chunk.
    """
    mapping = _shared_mmap(X)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    if hasattr(mapping, "madvise"):
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed or unsupported: harmless to skip
            pass


def _own_copy(rows) -> np.ndarray:
    """``rows`` as a NumPy array that owns its memory, copied only if it does not.

    A slice of a memmap (or of any array) is a view: it is copied, so that no
    page of the file stays referenced. Arrays that a lazy source builds afresh
    (h5py, zarr, the detector's member rows) are returned as they are: copying
    them would only double the memory of the chunk.
    """
    rows = np.asarray(rows)
    if type(rows) is np.ndarray and rows.flags.owndata:
        return rows
    return np.array(rows, copy=True)


#: Rows picked by index from a file mapping are read a group at a time, the
#: pages released after each group. A scattered row maps more of the file than
#: itself: Linux maps the pages around a fault (64 KiB "fault-around") and,
#: on kernels with large page-cache folios, the whole folio holding it (up to
#: ``MAX_FOLIO_BYTES``). So a group maps about ``rows * min(gap, folio)``
#: bytes, where ``gap`` is the file's bytes per picked row: 1,024 rows picked
#: among 53 M (a 4 GB file, 12,800 picks, gaps of 335 KB) kept 336 MB
#: resident, 128 of them 52 MB (measured, kernel 6.18). Groups are sized to
#: map at most ``SCATTERED_BYTES``, between ``MIN_SCATTERED_ROWS`` and
#: ``SCATTERED_ROWS`` rows.
SCATTERED_ROWS = 1024
MIN_SCATTERED_ROWS = 32
SCATTERED_BYTES = 64 << 20
MAX_FOLIO_BYTES = 2 << 20


def scattered_group(X, picked: int) -> int:
    """Rows of a group when ``picked`` rows of the mapped array ``X`` are read."""
    row_bytes = max(1, X.nbytes // max(X.shape[0], 1))
    gap = max(row_bytes, X.nbytes // max(picked, 1))
    rows = SCATTERED_BYTES // min(gap, MAX_FOLIO_BYTES)
    return int(min(SCATTERED_ROWS, max(MIN_SCATTERED_ROWS, rows)))


def read_rows(X, start: int, stop: int, indices: np.ndarray | None = None) -> np.ndarray:
    """Rows ``start:stop`` of ``X`` (or of ``X[indices]``) as an in-memory NumPy array."""
    if indices is None:
        rows = _own_copy(X[start:stop])
    elif stop - start > MIN_SCATTERED_ROWS and _shared_mmap(X) is not None:
        wanted = indices[start:stop]
        group = scattered_group(X, len(indices))
        rows = np.empty((len(wanted), X.shape[1]), dtype=X.dtype)
        for at in range(0, len(wanted), group):
            end = min(at + group, len(wanted))
            rows[at:end] = _read_picked(X, wanted[at:end])
            release_pages(X)
        return rows
    else:
        rows = _read_picked(X, indices[start:stop])
    release_pages(X)
    return rows


def _read_picked(X, wanted: np.ndarray) -> np.ndarray:
    """``X[wanted]`` as an in-memory array, read in ascending row order."""
    order = np.argsort(wanted, kind="stable")
    if np.array_equal(order, np.arange(len(order))):  # already ascending
        return _own_copy(X[wanted])
    rows = np.asarray(X[wanted[order]])  # ascending reads (h5py needs them)
    return rows[np.argsort(order, kind="stable")]


def iter_row_chunks(X, rows: int) -> Iterator[np.ndarray]:
    """Yield consecutive in-memory chunks of ``rows`` rows of a lazy array."""
    for start in range(0, X.shape[0], rows):
        yield read_rows(X, start, min(start + rows, X.shape[0]))


class LazyRowDataset(torch.utils.data.Dataset):
    """Rows of an array that stays on disk, read as float32 one chunk at a time.

    Parameters
    ----------
    source : array-like of shape (n_samples, n_features)
        A memmap or lazily sliced array; already validated.
    indices : ndarray of int or None
        The rows of ``source`` this dataset holds, in order (None: all of them).
    """

    def __init__(self, source, indices: np.ndarray | None = None) -> None:
        self.source = source
        self.indices = indices

    def __len__(self) -> int:
        return self.source.shape[0] if self.indices is None else len(self.indices)

    @property
    def n_features(self) -> int:
        return self.source.shape[1]

    def __getitem__(self, i):
        row = torch.from_numpy(self.read(i, i + 1)[0])
        return row, row

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of this dataset as a float32 array."""
        rows = read_rows(self.source, start, stop, self.indices)
        return np.ascontiguousarray(rows, dtype=np.float32)

    def subset(self, indices: torch.Tensor) -> LazyRowDataset:
        picked = indices.numpy()
        if self.indices is not None:
            picked = self.indices[picked]
        return LazyRowDataset(self.source, picked)


class ChunkedBatchIterator:
    """Batches of a :class:`LazyRowDataset`, reading one chunk of rows at a time.

    With ``shuffle`` the chunks come in a random order and the rows of each
    chunk are permuted; when the data fit in one chunk this is exactly
    :class:`BatchIterator`'s full permutation (same draws, same batches).
    """

    def __init__(
        self,
        dataset: LazyRowDataset,
        batch_size: int,
        shuffle: bool = False,
        device: torch.device | str | None = "cpu",
        rows_per_chunk: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = torch.device("cpu" if device is None else device)
        self.rows_per_chunk = rows_per_chunk or chunk_rows(dataset.n_features, batch_size)
        self.shard_index, self.n_shards = 0, 1

    shard = BatchIterator.shard

    def __len__(self) -> int:
        n, rows, bs = len(self.dataset), self.rows_per_chunk, self.batch_size
        full, rest = divmod(n, rows)
        n_batches = full * math.ceil(rows / bs) + math.ceil(rest / bs)
        return len(range(self.shard_index, n_batches, self.n_shards))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, rows, bs = len(self.dataset), self.rows_per_chunk, self.batch_size
        starts = list(range(0, n, rows))
        if self.shuffle and len(starts) > 1:
            starts = [starts[i] for i in torch.randperm(len(starts)).tolist()]
        number = 0
        for start in starts:
            chunk = torch.from_numpy(self.dataset.read(start, min(start + rows, n)))
            if self.device.type == "cuda":
                chunk = chunk.pin_memory()
            chunk = chunk.to(self.device, non_blocking=True)
            # Shuffled batches are gathered one at a time through the chunk's
            # permutation: the same rows as permuting the whole chunk first,
            # without a second copy of it.
            order = torch.randperm(len(chunk)).to(self.device) if self.shuffle else None
            for offset in range(0, len(chunk), bs):
                if number % self.n_shards == self.shard_index:
                    if order is None:
                        batch = chunk[offset : offset + bs]
                    else:
                        batch = chunk.index_select(0, order[offset : offset + bs])
                    yield batch, batch
                number += 1


# -- sparse input ---------------------------------------------------------------------
# Rows of a sparse matrix are densified one batch at a time; inference batches are
# capped to about this many bytes of dense float32, whatever ``batch_size`` says.
SPARSE_BATCH_BYTES = 1 << 24


def sparse_batch_rows(n_features: int, batch_size: int) -> int:
    """Rows per densified inference batch: ``batch_size``, capped to the byte budget."""
    cap = max(1, SPARSE_BATCH_BYTES // (4 * max(n_features, 1)))
    return max(1, min(batch_size, cap))


class SparseRowDataset(torch.utils.data.Dataset):
    """Rows of a CSR matrix (float32, already validated), densified on demand.

    The matrix itself stays sparse: only the rows of one batch are ever dense
    at a time (:class:`SparseBatchIterator`). Explicitly stored zeros are
    ordinary zeros, and stored NaN are missing cells as in dense input.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_samples, n_features)
        Converted to CSR float32 if it is not already.
    """

    def __init__(self, X) -> None:
        if not (sp.issparse(X) and X.format == "csr"):
            X = sp.csr_matrix(X)
        self.X = X if X.dtype == np.float32 else X.astype(np.float32)

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def __getitem__(self, i):
        row = torch.from_numpy(self.read(i, i + 1)[0])
        return row, row

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a dense float32 array."""
        return densify(self.X[start:stop])

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """The rows ``indices`` (in that order) as a dense float32 array."""
        return densify(self.X[indices])

    def subset(self, indices: torch.Tensor) -> SparseRowDataset:
        return SparseRowDataset(self.X[indices.numpy()])


def densify(X) -> np.ndarray:
    """A (small) sparse block as a C-contiguous float32 array."""
    return np.ascontiguousarray(X.toarray(), dtype=np.float32)


class SparseBatchIterator:
    """Dense ``(X_batch, X_batch)`` pairs from a :class:`SparseRowDataset`.

    Training passes draw a full permutation of the rows, as
    :class:`BatchIterator` does (and, like it, never end on a one-row batch);
    each batch is gathered from the CSR matrix and densified on its own, so
    memory holds the sparse matrix plus one dense batch.
    """

    def __init__(
        self,
        dataset: SparseRowDataset,
        batch_size: int,
        shuffle: bool = False,
        device: torch.device | str | None = "cpu",
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = torch.device("cpu" if device is None else device)
        self.shard_index, self.n_shards = 0, 1

    shard = BatchIterator.shard
    _bounds = BatchIterator._bounds
    __len__ = BatchIterator.__len__

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.dataset)).numpy() if self.shuffle else None
        pin = self.device.type == "cuda"
        for start, end in self._bounds():
            if order is None:
                rows = self.dataset.read(start, end)
            else:
                rows = self.dataset.read_rows(order[start:end])
            batch = torch.from_numpy(rows)
            if pin:
                batch = batch.pin_memory()
            batch = batch.to(self.device, non_blocking=True)
            yield batch, batch

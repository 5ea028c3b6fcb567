"""How many CPU threads torch uses inside an estimator's calls (``n_jobs``).

Small networks cannot keep several cores busy: every operator of a training
step is over in microseconds, and torch's intra-op thread pool spends that long
waking its workers. When another process holds a core it is worse: each
operator waits for the descheduled worker, and a fit that takes 0.4 s on one
thread took 10 s on two (see ``docs/performance.rst``). So by default
(``n_jobs=None``) a network whose work per batch (batch rows x parameters,
times the positions a weight is applied at) is below :data:`MIN_PARALLEL_WORK`
runs on one thread, and a larger one keeps torch's own setting (every core,
unless the user or ``OMP_NUM_THREADS`` chose otherwise).

The thread count is set only for the duration of an estimator's call and
restored afterwards: :func:`torch_threads`. Depending on how torch was built,
``torch.set_num_threads`` applies to the calling thread only (OpenMP keeps the
count per thread) or to the whole process; :func:`torch_threads` handles both,
so that estimators fitted in several Python threads at once leave every
thread's setting as it found it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Work per training batch (batch rows x parameter uses) from which the default
# keeps torch's thread count. On a 2-core machine (docs/performance.rst) one
# thread was faster at 6e5 (the 20,000 x 64 benchmark network, batch 128) even
# idle, and 10-30x faster with a busy core; the 100 -> 256 -> 128 -> 16
# network at batch 4,096 (5e8) is what torch's thread pool is built for. The
# crossover between could not be measured on an idle machine: 3e7 errs
# towards one thread, which loses little where it is wrong.
MIN_PARALLEL_WORK = 3e7


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def work_per_batch(module: nn.Module, batch_size: int, positions: int = 1) -> float:
    """Multiply-adds of one forward pass, roughly: rows x parameters x positions.

    ``positions`` is how often each weight is applied per row (pixels for a
    convolution, time steps for an LSTM); 1 for dense layers.
    """
    n_parameters = sum(p.numel() for p in module.parameters())
    return float(batch_size) * n_parameters * max(1, positions)


def resolve_n_jobs(n_jobs: int | None, work: float) -> int | None:
    """Threads for a call: an int, or None to keep torch's current setting.

    ``None`` (automatic): 1 below :data:`MIN_PARALLEL_WORK`, torch's setting
    above it. ``-1``: every available core. A positive int: that many threads.
    """
    if n_jobs is None:
        return 1 if work < MIN_PARALLEL_WORK else None
    if n_jobs == -1:
        return available_cores()
    if isinstance(n_jobs, int) and n_jobs >= 1:
        return n_jobs
    raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {n_jobs!r}.")


_lock = threading.Lock()
_local = threading.local()
# Process-wide bookkeeping, used when torch's thread count is process-wide.
_active = 0
_saved_global: int | None = None


@functools.cache
def _setting_is_per_thread() -> bool:
    """Whether ``torch.set_num_threads`` in one thread leaves other threads alone.

    With OpenMP the count is a per-thread variable; other backends keep one
    count for the process. Probed once, in a short-lived thread that restores
    what it changed.
    """
    before = torch.get_num_threads()
    other = 1 if before > 1 else 2
    changed, observed, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def probe() -> None:
        torch.set_num_threads(other)
        changed.set()
        observed.wait()
        torch.set_num_threads(before)
        done.set()

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    changed.wait()
    seen.append(torch.get_num_threads())
    observed.set()
    done.wait()
    thread.join()
    if torch.get_num_threads() != before:  # pragma: no cover - defensive
        torch.set_num_threads(before)
    return seen[0] == before


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run a block with torch's intra-op thread count at ``n_threads``.

    ``None`` leaves the count alone. Afterwards the count is what it was
    before, in this thread and -- where torch keeps one count for the process
    -- once the last of several overlapping blocks (in other threads) ends.
    """
    if n_threads is None:
        yield
        return
    global _active, _saved_global
    per_thread = _setting_is_per_thread()
    with _lock:
        depth = getattr(_local, "depth", 0)
        if depth == 0:
            _local.saved = torch.get_num_threads()
        _local.depth = depth + 1
        if not per_thread:
            if _active == 0:
                _saved_global = torch.get_num_threads()
            _active += 1
        if torch.get_num_threads() != n_threads:
            torch.set_num_threads(n_threads)
        previous = _local.__dict__.get("current", None)
        _local.current = n_threads
    try:
        yield
    finally:
        with _lock:
            _local.depth -= 1
            _local.current = previous
            if per_thread:
                target = _local.saved if _local.depth == 0 else previous
            else:
                _active -= 1
                if _active == 0:
                    target = _saved_global
                elif _local.depth > 0:
                    target = previous
                else:
                    target = None  # other blocks still run with their count
            if target is not None and torch.get_num_threads() != target:
                torch.set_num_threads(target)


def uses_threads(method):
    """Run an inference method of a fitted estimator under its ``n_jobs`` thread count.

    The estimator's ``_threads_for(module)`` gives the context; an unfitted
    estimator (no ``net_``) runs the method as is, which then raises.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        net = getattr(self, "net_", None)
        if net is None or not hasattr(net, "module_"):
            return method(self, *args, **kwargs)  # unfitted: the method raises
        with self._threads_for(net.module_):
            return method(self, *args, **kwargs)

    return wrapper

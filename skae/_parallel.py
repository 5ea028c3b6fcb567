"""Work shared among Python threads on demand, one OpenMP thread each.

scikit-learn's and torch's OpenMP loops split their work evenly among their
threads, so a loop ends with its slowest thread: when another process holds
one of two cores, two threads took longer than one. Here as many Python
threads as OpenMP would use take the items in turn, each with one OpenMP
thread, so a thread on a busy core simply does fewer items. The results are
those of the plain loop, in the items' order, whoever computes them.

Nothing here knows about estimators.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")


@functools.cache
def _openmp_controller() -> ThreadpoolController:
    return ThreadpoolController()  # finds the loaded libraries once (8-15 ms)


def openmp_threads() -> int:
    """Threads an OpenMP loop started in this thread would use.

    The OpenMP setting (``OMP_NUM_THREADS``, ``threadpoolctl``, or torch's
    ``set_num_threads`` where torch uses OpenMP); 1 inside the workers of
    :func:`map_on_demand`.
    """
    pools = _openmp_controller().select(user_api="openmp").info()
    return max([int(pool["num_threads"]) for pool in pools], default=1)


def _one_openmp_thread() -> None:
    # In a worker thread only: OpenMP keeps the thread count per thread. The
    # cached controller: ``threadpool_limits`` would look the libraries up
    # again, 8-15 ms for every worker of every call.
    _openmp_controller().limit(limits=1, user_api="openmp")


def map_on_demand(fn: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """``[fn(item) for item in items]``, the items shared among ``threads`` threads.

    With one thread (or one item) the loop runs here, unchanged. Otherwise
    each worker runs with one OpenMP thread and takes the next item when it
    is done with its last.
    """
    items = list(items)
    if threads <= 1 or len(items) < 2:
        return [fn(item) for item in items]
    workers = min(threads, len(items))
    with ThreadPoolExecutor(workers, initializer=_one_openmp_thread) as pool:
        return list(pool.map(fn, items))

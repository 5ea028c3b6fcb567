"""Machine conditions the speed benchmarks time every method under, in one run.

* ``idle, 1 thread``: torch set to one intra-op thread for every method;
* ``idle, default threads``: torch's default thread count (every core);
* ``busy core``: torch's default, while a Python busy loop pinned to one core
  (started and stopped here) takes that core, as another job would on a laptop
  or a shared server.

"Idle" means no extra load from the benchmark; other jobs on the machine still
count, so the scripts print ``os.getloadavg()`` with each condition.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

CONDITIONS = ("idle, 1 thread", "idle, default threads", "busy core")

_BUSY_LOOP = (
    "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"
)


@contextmanager
def machine_condition(name: str, busy_core: int = 0) -> Iterator[None]:
    """Run a block in one of :data:`CONDITIONS`; torch's thread count is restored."""
    before = torch.get_num_threads()
    busy = None
    if name == "idle, 1 thread":
        torch.set_num_threads(1)
    elif name == "busy core":
        busy = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(busy_core)])
        time.sleep(0.5)  # let it start spinning
    elif name != "idle, default threads":
        raise ValueError(f"unknown condition {name!r}")
    try:
        yield
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        torch.set_num_threads(before)


def on_threads(n: int | None, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with torch at ``n`` threads (None: as it is), restored afterwards."""

    def run():
        if n is None:
            return fn()
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeats: int, patience: float = 30.0
) -> dict:
    """Median seconds of each function, run round-robin so that load drifting on
    a shared machine affects every method alike.

    A method whose first run took longer than ``patience`` seconds (a stalled
    thread pool on a loaded machine can take minutes) is not repeated.
    """
    times = {name: [] for name in fns}
    for round_ in range(repeats):
        for name, fn in fns.items():
            if round_ and times[name][0] > patience:
                continue
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())

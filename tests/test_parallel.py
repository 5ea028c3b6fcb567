"""skae._parallel: items shared among threads, results as the plain loop's."""

import threading

from skae._parallel import map_on_demand, openmp_threads


def test_results_come_back_in_the_items_order_from_worker_threads():
    caller = threading.get_ident()
    seen = []

    def square(item):
        seen.append((threading.get_ident(), openmp_threads()))
        return item * item

    assert map_on_demand(square, range(20), threads=3) == [i * i for i in range(20)]
    assert all(ident != caller for ident, _ in seen)
    assert {threads for _, threads in seen} == {1}  # one OpenMP thread per worker


def test_one_thread_or_one_item_runs_in_the_calling_thread():
    caller = threading.get_ident()
    idents = []

    def identity(item):
        idents.append(threading.get_ident())
        return item

    assert map_on_demand(identity, range(5), threads=1) == list(range(5))
    assert map_on_demand(identity, [7], threads=4) == [7]
    assert set(idents) == {caller}

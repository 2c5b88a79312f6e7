"""Python peers of the `pool` figures: multiprocessing.Pool as the notes use it (fork, two
workers: Pool() would pick os.cpu_count(), which is 2 on the reference machine; it is pinned to 2
so the comparison does not depend on the machine).

Every task is trivial (`x` or `x * 2`): the figures measure what the pool itself costs per
task (pickling, the task queue, the result pipe, the wakeups), not the work.
"""

import time
from multiprocessing import Pool

from _harness import die_with_parent, main

WORKERS = 2


def same(x):
    return x


def double(x):
    return x * 2


def start(n):
    """Milliseconds per pool: `Pool(2)` (two forks), one `apply`, `close` + `join`."""
    t = time.perf_counter()
    for _ in range(n):
        pool = Pool(WORKERS, initializer=die_with_parent)
        assert pool.apply(same, (7,)) == 7
        pool.close()
        pool.join()
    return (time.perf_counter() - t) / n * 1e3


def apply(n):
    """Microseconds per `pool.apply` (synchronous: submit, block until the result is back)."""
    with Pool(WORKERS, initializer=die_with_parent) as pool:
        pool.apply(same, (0,))  # the workers are up and have run once
        t = time.perf_counter()
        for i in range(n):
            assert pool.apply(same, (i,)) == i
        dt = time.perf_counter() - t
    return dt / n * 1e6


def apply_async(n):
    """Thousands of trivial tasks per second: submit n with `apply_async`, then `get` each."""
    with Pool(WORKERS, initializer=die_with_parent) as pool:
        pool.apply(same, (0,))
        t = time.perf_counter()
        pending = [pool.apply_async(same, (i,)) for i in range(n)]
        total = sum(r.get() for r in pending)
        dt = time.perf_counter() - t
    assert total == n * (n - 1) // 2
    return n / dt / 1e3


def _map(n, chunksize):
    with Pool(WORKERS, initializer=die_with_parent) as pool:
        pool.apply(same, (0,))
        t = time.perf_counter()
        out = pool.map(double, range(n), chunksize)
        dt = time.perf_counter() - t
    assert len(out) == n and out[-1] == 2 * (n - 1)
    return n / dt


def map_default(n):
    """Millions of items per second through `pool.map(double, range(n))`, default chunking
    (Python: chunksize = ceil(n / (4 * workers)))."""
    return _map(n, None) / 1e6


def map_chunk1(n):
    """Thousands of items per second through `pool.map(double, range(n), chunksize=1)`."""
    return _map(n, 1) / 1e3


if __name__ == "__main__":
    main({"start": start, "apply": apply, "apply_async": apply_async, "map_default": map_default,
          "map_chunk1": map_chunk1})

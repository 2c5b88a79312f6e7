"""Python peer of the shared-counter figures: the notes' `Value`, two processes incrementing it.

Python has no atomic shared integer: the only exact counter is `with v.get_lock(): v.value += 1`
(a process-shared semaphore around a ctypes int in shared memory). So the same script is the
Python peer of both the locked and the atomic figure.

Timing: both children wait at a Barrier, then note their own start and end time in a shared
array; the figure is the total over first start to last end (time.perf_counter is
CLOCK_MONOTONIC, one clock for every process). Fork is outside the measurement, as on the Rust
side, and so is the parent's late wakeup from the barrier.
"""

import time
from multiprocessing import Array, Barrier, Process, Value

from _harness import main


def _work(v, n, barrier, times, k):
    barrier.wait()
    times[2 * k] = time.perf_counter()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    times[2 * k + 1] = time.perf_counter()


def locked(n):
    """Millions of increments per second; n increments per process, two processes."""
    v = Value("q", 0)
    barrier = Barrier(2)
    times = Array("d", 4, lock=False)
    ps = [Process(target=_work, args=(v, n, barrier, times, k)) for k in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert v.value == 2 * n, (v.value, 2 * n)
    dt = max(times[1], times[3]) - min(times[0], times[2])
    return 2 * n / dt / 1e6


if __name__ == "__main__":
    main({"locked": locked})

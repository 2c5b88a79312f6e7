"""Python peer of the prodcons figure: the notes' producer/consumer with threads, a bounded
queue.Queue between them (a deque guarded by a lock and two conditions), one producer thread,
one consumer thread, a None sentinel at the end."""

import queue
import threading
import time

from _harness import main

CAPACITY = 1000  # the Rust side's CAPACITY (prodcons' largest --capacity)


def threads(n):
    """Millions of items per second from one producer thread to one consumer thread."""
    q = queue.Queue(maxsize=CAPACITY)
    got = [0]

    def producer():
        for i in range(n):
            q.put(i)
        q.put(None)

    def consumer():
        count = 0
        while q.get() is not None:
            count += 1
        got[0] = count

    t = time.perf_counter()
    ts = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    dt = time.perf_counter() - t
    assert got[0] == n
    return n / dt / 1e6


if __name__ == "__main__":
    main({"threads": threads})

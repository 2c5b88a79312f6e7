"""Python peers of the creation-cost figures: a Process started and joined (fork + waitpid) vs a
threading.Thread started and joined, one at a time, each running an empty function."""

import threading
import time
from multiprocessing import Process

from _harness import main


def _nothing():
    pass


def process(n):
    """Microseconds per Process(target=f).start() + join()."""
    t = time.perf_counter()
    for _ in range(n):
        p = Process(target=_nothing)
        p.start()
        p.join()
    return (time.perf_counter() - t) / n * 1e6


def thread(n):
    """Microseconds per threading.Thread(target=f).start() + join()."""
    t = time.perf_counter()
    for _ in range(n):
        th = threading.Thread(target=_nothing)
        th.start()
        th.join()
    return (time.perf_counter() - t) / n * 1e6


if __name__ == "__main__":
    main({"process": process, "thread": thread})

"""Python peer of the queue figure: multiprocessing.Queue, one producer process, the parent as
the one consumer, small messages: the notes' `(2, i)` tuples.

`put` hands the object to a feeder thread that pickles it and writes it to a pipe; `get` reads
one pickled message from the pipe under a lock and unpickles it.
"""

import time
from multiprocessing import Pipe, Process, Queue

from _harness import main


def _producer(go, q, n):
    go.recv_bytes()
    for i in range(n):
        q.put((2, i))


def one_one(n):
    """Millions of messages per second, one producer process, one consumer (the parent)."""
    q = Queue()
    go_r, go_w = Pipe(False)
    p = Process(target=_producer, args=(go_r, q, n))
    p.start()
    t = time.perf_counter()
    go_w.send_bytes(b"g")
    last = None
    for _ in range(n):
        last = q.get()
    dt = time.perf_counter() - t
    p.join()
    assert last == (2, n - 1), last
    return n / dt / 1e6


if __name__ == "__main__":
    main({"one_one": one_one})

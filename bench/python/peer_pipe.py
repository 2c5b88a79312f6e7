"""Python peers of the `pipe` figures: multiprocessing.Pipe, as in the notes' example.

`Pipe()` (duplex) is a socketpair(AF_UNIX, SOCK_STREAM); `Pipe(False)` is an os.pipe(). Messages
go through `send_bytes` / `recv_bytes`: a 4-byte length header plus the payload, exactly the
framing of the Rust `Connection`, with no pickling on either side (the figures measure the
channel, not the serialiser), except `small_obj`: the notes' own `send(obj)` / `recv()`, which
pickles (the Rust side encodes JSON).

One-way figures start with a "go" byte on a separate pipe: the child is forked and waiting, the
clock starts, the go byte is sent, and the clock stops when the last message has been received.
Fork time is therefore outside the measurement, as it is on the Rust side.
"""

import os
import time
from multiprocessing import Pipe, Process

from _harness import main

SMALL = b"0123456789abcdef"  # 16 bytes
BIG = bytes(64 * 1024)
GREETING = "hello! Tom"  # the notes' message


def _pin(cpu):
    """The two ends of the ping-pong on two CPUs, as on the Rust side (see bench/src/pin.rs)."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def _echo(conn, n):
    _pin(1)
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pingpong(n):
    """Microseconds per round trip of a 16-byte message over a duplex Pipe(), the parent on
    CPU 0 and the echo child on CPU 1."""
    saved = os.sched_getaffinity(0)
    _pin(0)
    a, b = Pipe()
    p = Process(target=_echo, args=(b, n + 1))
    p.start()
    a.send_bytes(SMALL)  # the child is up and has answered once
    a.recv_bytes()
    t = time.perf_counter()
    for _ in range(n):
        a.send_bytes(SMALL)
        a.recv_bytes()
    dt = time.perf_counter() - t
    p.join()
    os.sched_setaffinity(0, saved)
    return dt / n * 1e6


def _sender(go, conn, n, payload):
    go.recv_bytes()
    for _ in range(n):
        conn.send_bytes(payload)


def _one_way(n, duplex, payload):
    go_r, go_w = Pipe(False)
    if duplex:
        r, w = Pipe()
    else:
        r, w = Pipe(False)
    p = Process(target=_sender, args=(go_r, w, n, payload))
    p.start()
    w.close()  # the parent only reads: its copy of the write end goes
    t = time.perf_counter()
    go_w.send_bytes(b"g")
    for _ in range(n):
        r.recv_bytes()
    dt = time.perf_counter() - t
    p.join()
    return dt


def small(n):
    """Millions of 16-byte messages per second, one way, over Pipe(False) (an os.pipe)."""
    return n / _one_way(n, False, SMALL) / 1e6


def _obj_sender(go, conn, n):
    go.recv_bytes()
    for _ in range(n):
        conn.send(GREETING)


def small_obj(n):
    """Millions of objects per second, one way, over Pipe(False): the notes' `send("hello! ...")`
    and `recv()`, each message pickled and unpickled."""
    go_r, go_w = Pipe(False)
    r, w = Pipe(False)
    p = Process(target=_obj_sender, args=(go_r, w, n))
    p.start()
    w.close()
    t = time.perf_counter()
    go_w.send_bytes(b"g")
    for _ in range(n):
        assert r.recv() == GREETING
    dt = time.perf_counter() - t
    p.join()
    return n / dt / 1e6


def big(n):
    """GB/s (10^9 bytes) of 64 KiB messages, one way, over a duplex Pipe() (a socketpair)."""
    return n * len(BIG) / _one_way(n, True, BIG) / 1e9


if __name__ == "__main__":
    main({"pingpong": pingpong, "small": small, "small_obj": small_obj, "big": big})

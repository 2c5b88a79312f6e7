"""Python peers of the `ipc` round-trip figures: signals, semaphores, Unix and TCP sockets.

Each forks its echo partner once (multiprocessing.Process, start method fork), does one untimed
round trip so the partner is up, then times `n` round trips. Nothing is pinned, as on the Rust
side of these rows.

- signal: `os.kill(SIGUSR1)` + `signal.sigwait`, the signal blocked (`pthread_sigmask`) in both
  processes, as the Rust side blocks it and uses sigwaitinfo; no Python handler runs.
- semaphore: two `multiprocessing.Semaphore(0)` (POSIX named semaphores, unlinked at once):
  release one, acquire the other.
- unix: `socket.socketpair()` (AF_UNIX stream), 8 bytes each way.
- tcp: a loopback connection with TCP_NODELAY, 8 bytes each way.
"""

import os
import signal
import socket
import time
from multiprocessing import Process, Semaphore

from _harness import main

MSG = b"01234567"  # 8 bytes, as the Rust rows send


def _recv_exactly(s, k):
    data = b""
    while len(data) < k:
        chunk = s.recv(k - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def _signal_echo(parent, n):
    for _ in range(n + 1):
        signal.sigwait({signal.SIGUSR1})
        os.kill(parent, signal.SIGUSR1)


def signal_rt(n):
    """Microseconds per SIGUSR1 round trip."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    p = Process(target=_signal_echo, args=(os.getpid(), n))
    p.start()
    os.kill(p.pid, signal.SIGUSR1)
    signal.sigwait({signal.SIGUSR1})
    t = time.perf_counter()
    for _ in range(n):
        os.kill(p.pid, signal.SIGUSR1)
        signal.sigwait({signal.SIGUSR1})
    dt = time.perf_counter() - t
    p.join()
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return dt / n * 1e6


def _sem_echo(ping, pong, n):
    for _ in range(n + 1):
        ping.acquire()
        pong.release()


def semaphore(n):
    """Microseconds per round trip of a two-semaphore hand-off."""
    ping, pong = Semaphore(0), Semaphore(0)
    p = Process(target=_sem_echo, args=(ping, pong, n))
    p.start()
    ping.release()
    pong.acquire()
    t = time.perf_counter()
    for _ in range(n):
        ping.release()
        pong.acquire()
    dt = time.perf_counter() - t
    p.join()
    return dt / n * 1e6


def _sock_echo(s, n):
    for _ in range(n + 1):
        s.sendall(_recv_exactly(s, 8))


def _ping(s, n):
    s.sendall(MSG)
    _recv_exactly(s, 8)
    t = time.perf_counter()
    for _ in range(n):
        s.sendall(MSG)
        _recv_exactly(s, 8)
    return (time.perf_counter() - t) / n * 1e6


def unix(n):
    """Microseconds per 8-byte round trip over a socketpair."""
    a, b = socket.socketpair()
    p = Process(target=_sock_echo, args=(b, n))
    p.start()
    b.close()
    us = _ping(a, n)
    p.join()
    a.close()
    return us


def _tcp_echo(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _sock_echo(s, n)


def tcp(n):
    """Microseconds per 8-byte round trip over TCP on 127.0.0.1."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    p = Process(target=_tcp_echo, args=(port, n))
    p.start()
    s, _ = srv.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    srv.close()
    us = _ping(s, n)
    p.join()
    s.close()
    return us


if __name__ == "__main__":
    main({"signal": signal_rt, "semaphore": semaphore, "unix": unix, "tcp": tcp})

"""The shared frame of every Python peer: argument parsing, warm-up, repeated runs, one JSON line.

Usage (the bench runs it; you can too):

    python3 peer_pool.py apply 2000 5      # figure, size (operations per run), runs

prints `{"figure": "apply", "size": 2000, "values": [...]}`: one measured value per run, in the
figure's unit (the same unit as the Rust side). Each figure function does its own set-up (start a
Pool, fork a partner), times only the loop that is the figure, tears everything down, and returns
the value. Only the loop is timed, exactly as on the Rust side.
"""

import ctypes
import json
import multiprocessing
import signal
import sys

# The notes' world: fork, the Linux default up to Python 3.13. Said explicitly so a newer Python
# (3.14 defaults to forkserver) measures the same thing.
multiprocessing.set_start_method("fork", force=True)

_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Ask the kernel to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG), so
    an interrupted benchmark leaves no Python process behind. Called once in the main process
    and as the initializer of pool workers; never inside a timed loop."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(figures):
    """Run `figures[argv[1]](size)` once as a warm-up (a tenth of the size) and then `runs`
    times, and print the values as one JSON line."""
    die_with_parent()
    if len(sys.argv) != 4 or sys.argv[1] not in figures:
        names = ", ".join(sorted(figures))
        sys.exit(f"usage: {sys.argv[0]} FIGURE SIZE RUNS   (FIGURE: {names})")
    name, size, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fn = figures[name]
    fn(max(1, size // 10))
    values = [fn(size) for _ in range(runs)]
    print(json.dumps({"figure": name, "size": size, "values": values}), flush=True)

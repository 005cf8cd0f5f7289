"""P2: many syscalls at a shallow Python stack (the per-syscall fixed cost).

usage: p2_stat_shallow.py RESULT_JSON COUNT

Calls os.stat COUNT times from a function called by the module (2 Python
frames on the stack) and writes the in-script timing as JSON to RESULT_JSON.
"""

import time

STARTED = time.monotonic()  # start-up: the harness compares it with its spawn time

import json
import os
import sys


def depth():
    f, n = sys._getframe(1), 0
    while f is not None:
        n, f = n + 1, f.f_back
    return n


def hot(n, path):
    d = depth()
    stat = os.stat
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        stat(path)
    return time.perf_counter() - t0, time.process_time() - c0, d


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    elapsed, cpu, d = hot(n, "/")
    with open(out, "w") as fh:
        json.dump({"workload": "p2_stat_shallow", "started_monotonic": STARTED,
                   "elapsed_s": elapsed, "cpu_s": cpu,
                   "stats": n, "depth": d}, fh)


if __name__ == "__main__":
    main()

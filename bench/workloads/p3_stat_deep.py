"""P3: many syscalls at a deep Python stack (the per-frame cost of the stack walk).

usage: p3_stat_deep.py RESULT_JSON COUNT [DEPTH=30]

Recurses until DEPTH Python frames are on the stack (counting the module's
own frame), then calls os.stat COUNT times from there and writes the in-script
timing, and the depth actually measured, as JSON to RESULT_JSON.
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


def dive(levels, n, path):
    if levels > 0:
        return dive(levels - 1, n, path)
    return hot(n, path)


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    # Frames on the stack when hot() runs: <module>, main, dive * (levels + 1), hot.
    elapsed, cpu, d = dive(max(want - 4, 0), n, "/")
    if d != want:
        sys.exit(f"p3_stat_deep: wanted {want} frames at the syscall, got {d}")
    with open(out, "w") as fh:
        json.dump({"workload": "p3_stat_deep", "started_monotonic": STARTED,
                   "elapsed_s": elapsed, "cpu_s": cpu,
                   "stats": n, "depth": d}, fh)


if __name__ == "__main__":
    main()

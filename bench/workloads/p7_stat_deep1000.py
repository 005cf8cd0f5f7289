"""P7 and P8: a syscall loop from a 1,000-frame (P7) or 4-frame (P8) Python
stack: the cost of walking a deep stack at every syscall.

usage: p7_stat_deep1000.py RESULT_JSON COUNT [DEPTH=1000] [SYSCALL=stat|getppid|openw]

With `stat` (the P2/P3 loop) `secimport run` may not walk at all: the start-up
vocabulary (`base`, `startup`, `frameless`) allows newfstatat to every stack.
With `getppid`, which only this script's modules make, every call is walked
and judged module by module. With `openw` (P9), each call opens a file
beside RESULT_JSON for writing (`openat:write`, then `close`): walked, and its
path resolved and matched against the module's `write` patterns.

Recurses until DEPTH Python frames are on the stack (counting the module's own
frame), cycling through three functions in two modules (dive here, relay and
hop in p7_relay) so that the module changes along the stack, then calls
os.stat COUNT times from there. stat (newfstatat) is not in secimport's fixed
harmless set, so both `secimport trace` and `run` walk the whole stack at each
call. Writes the in-script timing, and the depth actually measured, as JSON to
RESULT_JSON.
"""

import time

STARTED = time.monotonic()  # start-up: the harness compares it with its spawn time

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import p7_relay  # noqa: E402


def depth():
    f, n = sys._getframe(1), 0
    while f is not None:
        n, f = n + 1, f.f_back
    return n


def hot(n, path):
    d = depth()
    c0, t0 = time.process_time(), time.perf_counter()
    if path is None:
        getppid = os.getppid
        for _ in range(n):
            getppid()
    elif isinstance(path, tuple):
        open_, close, flags, target = os.open, os.close, os.O_WRONLY | os.O_CREAT, path[1]
        for _ in range(n):
            close(open_(target, flags, 0o600))
    else:
        stat = os.stat
        for _ in range(n):
            stat(path)
    return time.perf_counter() - t0, time.process_time() - c0, d


def dive(levels, n, path):
    if levels <= 0:
        return hot(n, path)
    return p7_relay.relay(levels - 1, n, path, dive, hot)


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    want = max(int(sys.argv[3]) if len(sys.argv) > 3 else 1000, 4)
    syscall = sys.argv[4] if len(sys.argv) > 4 else "stat"
    if syscall not in ("stat", "getppid", "openw"):
        sys.exit(f"p7_stat_deep1000: SYSCALL must be stat, getppid or openw, not {syscall!r}")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), want + 100))
    # Frames on the stack when hot() runs: <module>, main, (levels + 1) of
    # dive/relay/hop, hot.
    target = {"stat": "/", "getppid": None,
              "openw": ("openw", os.path.join(os.path.dirname(os.path.abspath(out)), "p9.out"))}
    elapsed, cpu, d = dive(want - 4, n, target[syscall])
    if d != want:
        sys.exit(f"p7_stat_deep1000: wanted {want} frames at the syscall, got {d}")
    with open(out, "w") as fh:
        json.dump({"workload": "p7_stat_deep1000", "started_monotonic": STARTED,
                   "elapsed_s": elapsed, "cpu_s": cpu,
                   "stats": n, "depth": d, "syscall": syscall}, fh)


if __name__ == "__main__":
    main()

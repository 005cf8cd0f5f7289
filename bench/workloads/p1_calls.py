"""P1: pure-Python calls — nothing should run per Python call under secimport.

usage: p1_calls.py RESULT_JSON CALLS FIB_N

Times CALLS calls to a small function and a recursive fib(FIB_N), and writes
the in-script timings as JSON to RESULT_JSON (not stdout: the tracer passes the
script's stdout through, and a file cannot be mixed up with anything else).
"""

import time

STARTED = time.monotonic()  # start-up: the harness compares it with its spawn time

import json
import sys


def inc(x):
    return x + 1


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def calls(n):
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


def main():
    out, n_calls, fib_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c0, t0 = time.process_time(), time.perf_counter()
    x = calls(n_calls)
    t1 = time.perf_counter()
    f = fib(fib_n)
    c2, t2 = time.process_time(), time.perf_counter()
    assert x == n_calls
    result = {
        "workload": "p1_calls",
        "started_monotonic": STARTED,
        "elapsed_s": t2 - t0,
        "cpu_s": c2 - c0,
        "parts": {"calls_s": t1 - t0, "fib_s": t2 - t1},
        "calls": n_calls,
        "fib_n": fib_n,
        "fib": f,
    }
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()

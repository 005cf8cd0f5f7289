"""P5: a program whose policy names many modules (copied by bench.py next to a
generated package p5mods/ of module files m00000.py, m00001.py, ...).

usage: p5_driver.py RESULT_JSON N LOOP

Records the time of its first line (start-up, which includes loading the
policy), imports the first N modules of p5mods and calls f() in each (one
os.getppid), then times LOOP calls of os.getppid -- a syscall outside the
interpreter's base set, so a policy is consulted on each -- and LOOP calls of
os.stat, both made from m00000, and writes the timings as JSON to RESULT_JSON.
"""

import time

STARTED = time.monotonic()  # start-up: the harness compares it with its spawn time

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402


def main():
    out, n, loop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t0 = time.perf_counter()
    mods = [importlib.import_module(f"p5mods.m{i:05d}") for i in range(n)]
    t1 = time.perf_counter()
    for m in mods:
        m.f()
    t2 = time.perf_counter()
    c0 = time.process_time()
    mods[0].getppid_loop(loop)
    t3, c1 = time.perf_counter(), time.process_time()
    mods[0].stat_loop(loop, "/")
    t4 = time.perf_counter()
    with open(out, "w") as fh:
        json.dump({"workload": "p5_driver", "started_monotonic": STARTED,
                   "elapsed_s": t3 - t2, "cpu_s": c1 - c0,
                   "parts": {"import_s": t1 - t0, "call_each_s": t2 - t1,
                             "getppid_loop_s": t3 - t2, "stat_loop_s": t4 - t3},
                   "modules": n, "loop": loop}, fh)


if __name__ == "__main__":
    main()

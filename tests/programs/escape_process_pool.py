"""No false positives (issue #6): process pools, run under the policy of one traced run.

usage: escape_process_pool.py executor | escape_process_pool.py pool

`executor`: concurrent.futures.ProcessPoolExecutor (2 workers, fork) maps square() over range(8);
`pool`: multiprocessing's Pool (2 workers, fork) does the same. Workers are forked children that keep
running Python; the pools' helper threads (the executor's manager thread, the pool's handler threads)
start workers and pass results at times that differ from run to run.
"""

import concurrent.futures
import multiprocessing
import os
import sys


def square(n):
    os.getppid()
    return n * n


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    context = multiprocessing.get_context("fork")
    if kind == "executor":
        with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as ex:
            results = list(ex.map(square, range(8)))
    elif kind == "pool":
        # close() and join(), not `with` (whose terminate() polls the task queue only when it finds
        # work left, a path a single traced run may or may not take).
        pool = context.Pool(2)
        results = pool.map(square, range(8))
        pool.close()
        pool.join()
    else:
        return "usage: escape_process_pool.py executor|pool"
    if results != [n * n for n in range(8)]:
        return f"escape_process_pool.py: wrong results {results}"
    return 0


if __name__ == "__main__":
    sys.exit(main())

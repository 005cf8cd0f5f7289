"""Acceptance workload: multiprocessing with every start method + ProcessPoolExecutor.

    python mp_pools.py [--workers N] [--tasks N] [--methods fork,spawn,forkserver]

Each start method runs a Pool.map and a ProcessPoolExecutor.map of a small CPU
task; results are checked. Exit 0 on success.
"""
import argparse
import concurrent.futures
import multiprocessing as mp


def work(n):
    total = 0
    for i in range(n * 1000):
        total += i * i % 7
    return n, total


def expected(n):
    return work(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--methods", default="fork,spawn,forkserver")
    args = ap.parse_args()
    items = list(range(1, args.tasks + 1))
    want = [expected(n) for n in items]
    for method in args.methods.split(","):
        ctx = mp.get_context(method)
        with ctx.Pool(args.workers) as pool:
            got = pool.map(work, items)
        assert got == want, (method, "Pool")
        with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx) as ex:
            got = list(ex.map(work, items))
        assert got == want, (method, "ProcessPoolExecutor")
        print(f"{method}: ok ({len(items)} tasks, {args.workers} workers)", flush=True)


if __name__ == "__main__":
    main()

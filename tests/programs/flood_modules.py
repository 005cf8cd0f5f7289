"""A flood of distinct violations, for the bounded-resources and output-fault
tests (crates/secimport/tests/faults.rs): builds argv[2] modules (code
compiled with distinct file names, no files written) whose `hit()` makes 20
distinct syscalls that no policy learned from the benign run allows.

    benign N SECONDS [EXIT]  builds them, calls nothing (the traced run)
    flood N SECONDS [EXIT]   calls every module's `hit()` over and over for
                             SECONDS seconds, then prints the rounds made
    idle N SECONDS [EXIT]    builds them and sleeps SECONDS seconds, silently

Exits with EXIT (default 0)."""
import os
import sys
import time

SOURCE = '''
import os

def hit():
    os.getppid()
    os.getpgrp()
    os.getsid(0)
    os.getpgid(0)
    os.sched_getaffinity(0)
    os.getpriority(os.PRIO_PROCESS, 0)
    os.uname()
    os.umask(os.umask(0o022))
    os.getgroups()
    os.statvfs("/")
    os.get_blocking(FD)
    try:
        os.readlink("/nonexistent-secimport-flood")
    except OSError:
        pass
    os.getcwd()
    os.times()
    os.sched_getscheduler(0)
    os.sched_getparam(0)
    os.sched_get_priority_max(os.SCHED_OTHER)
    os.sched_get_priority_min(os.SCHED_OTHER)
    os.sched_rr_get_interval(0)
    os.close(os.dup(FD))
'''


def build(n):
    # A descriptor of its own: stdin may be closed.
    fd = os.open("/", os.O_RDONLY)
    funcs = []
    for i in range(n):
        ns = {"FD": fd}
        exec(compile(SOURCE, f"/secimport-flood/mod{i:05}.py", "exec"), ns)
        funcs.append(ns["hit"])
    return funcs


def main(mode, n, seconds):
    funcs = build(n)
    rounds = 0
    if mode == "flood":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for f in funcs:
                f()
            rounds += 1
    elif mode == "idle":
        time.sleep(seconds)
        return
    print(f"{mode}: {n} modules, {rounds} rounds", flush=True)


main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
sys.exit(int(sys.argv[4]) if len(sys.argv) > 4 else 0)

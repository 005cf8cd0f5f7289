"""Runs on the worker thread of thread_split.py and calls `getppid`, never `getpgrp`."""

import os
import time


def loop(started, done, count):
    """Waits until the main thread is inside helpers.sleeper.wait(), then calls os.getppid() `count` times.

    Every 100 calls it sleeps for 0 s to hand the GIL over, so the two threads' syscalls interleave.
    """
    started.wait()
    for i in range(count):
        os.getppid()
        if i % 100 == 0:
            time.sleep(0)
    done.set()

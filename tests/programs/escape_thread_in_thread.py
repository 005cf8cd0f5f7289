"""No false positives (issue #6): threads started by threads, run under the policy of one traced run.

A `threading.Thread` starts another `threading.Thread`, and a `_thread` thread starts another `_thread`
thread; each innermost thread calls os.getppid() and reads this file, each outer one os.getpgrp() after
its inner thread is done. A sandbox that judges a thread by the stack of the thread that created it must
follow that chain without a violation, run after run.
"""

import _thread
import os
import sys
import threading
import time


def inner():
    os.getppid()
    with open(__file__, "rb") as f:
        f.read(256)


def outer():
    worker = threading.Thread(target=inner)
    worker.start()
    worker.join()
    os.getpgrp()


def raw_outer(done):
    finished = _thread.allocate_lock()
    finished.acquire()

    def raw_inner():
        try:
            inner()
        finally:
            finished.release()

    _thread.start_new_thread(raw_inner, ())
    finished.acquire()
    os.getpgrp()
    done.release()


def main():
    worker = threading.Thread(target=outer)
    worker.start()
    worker.join()

    done = _thread.allocate_lock()
    done.acquire()
    _thread.start_new_thread(raw_outer, (done,))
    if not done.acquire(timeout=10):
        return "escape_thread_in_thread.py: the _thread threads did not finish"
    # The release comes before the _thread threads exit: let them go first. Sleep at least once, so
    # that the syscalls made here do not depend on how fast they were.
    deadline = time.monotonic() + 5
    time.sleep(0.01)
    while _thread._count() > 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    return 0


if __name__ == "__main__":
    sys.exit(main())

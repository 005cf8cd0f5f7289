"""Proves each thread is judged by its own stack, whether or not it holds the GIL.

A worker thread runs helpers.worker.loop(), calling os.getppid() in a tight loop (mostly holding the
GIL), while the main thread sits in helpers.sleeper.wait(), calling os.getpgrp() between 1 ms waits (GIL
released). The two loops overlap in time. `getppid` must be charged to helpers.worker (and `threading`,
which started the worker) only; `getpgrp` to helpers.sleeper and __main__ only.
"""

import sys
import threading

import helpers.sleeper
import helpers.worker

CALLS = 2000


def main():
    started = threading.Event()
    done = threading.Event()
    worker = threading.Thread(target=helpers.worker.loop, args=(started, done, CALLS))
    worker.start()
    helpers.sleeper.wait(started, done)
    worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The plugin of escape_thread_start.py: starts a `threading.Thread` or a `_thread` thread.

The thread runs a C function directly (`os.stat` of this file, benign; `os.system` for the attack), so
no frame of this module is ever on the new thread's stack: only `threading`'s bootstrap frames, or no
Python frame at all. Only the stack that created the thread, this module's, says whose it is.
"""

import _thread
import os

import helpers.escape_host as host


def start(kind, function, args):
    """Makes a `getppid`, then runs `function(*args)` on a thread of `kind` (`threading` or
    `_thread`); returns when the thread is done."""
    os.getppid()
    host.run_on_thread(kind, function, args)


def benign_call():
    """A C function and its arguments: stat this file."""
    return os.stat, (__file__,)

"""The plugin of escape_atexit.py: registers a C function to run at interpreter exit.

`atexit` runs it after the main module has finished, with no Python frame on the stack: only the stack
that registered it (this module's) says whose it is. Benign, it is `os.stat` of this file; the attack
registers `os.system("touch MARKER")`.
"""

import atexit
import os


def register(function, *args):
    """Makes a `getppid`, then registers `function(*args)` to run at exit."""
    os.getppid()
    atexit.register(function, *args)


def register_benign():
    register(os.stat, __file__)

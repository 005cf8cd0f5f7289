"""The plugin of escape_subinterpreter.py: runs Python source in a new subinterpreter.

The source runs on this thread but under another interpreter's thread state, whose frame stack holds
only the source's own `<string>` frame: this module's frame, which asked for it, is on the calling
thread state's stack in the main interpreter. Benign, the source stats this file; the attack runs
`touch MARKER` in /bin/sh.
"""

import os

try:
    import _xxsubinterpreters as interpreters  # CPython 3.8 to 3.12
except ImportError:
    try:
        import _interpreters as interpreters  # CPython 3.13+
    except ImportError:  # pragma: no cover
        interpreters = None


def run(source):
    """Makes a `getppid`, then runs `source` in a fresh subinterpreter, destroyed after."""
    os.getppid()
    interp = interpreters.create()
    try:
        interpreters.run_string(interp, source)
    finally:
        interpreters.destroy(interp)


def benign_source():
    """Python source that stats this file."""
    return f"import os\nos.stat({__file__!r})\n"

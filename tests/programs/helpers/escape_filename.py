"""The plugin of escape_unreadable_filename.py: code compiled with a `str` subclass as its file name.

An instance of a `str` subclass is not a compact string (its characters live in a separate buffer), so
a reader that expects the layout CPython gives every real file name cannot read it. Two ways in:

- `call`: `call(action, arg)` itself is compiled here under such a name (at import), so the
  application calls plugin code whose frame names no readable file;
- `exec`: `run_source(source)`, an ordinary function of this module, execs `source` compiled under such
  a name.

Benign, the action is `os.stat` of this file; the attack runs `touch MARKER` in /bin/sh. Both make a
first `getppid`. The module body makes one too, at import, so that the plugin is in the policy whichever
way is used.
"""

import os


class FileName(str):
    """A `str` subclass, for file names the kernel side cannot read as compact strings."""


_SOURCE = '''
def call(action, arg):
    """Calls `action(arg)` after a `getppid`."""
    os.getppid()
    return action(arg)
'''

exec(compile(_SOURCE, FileName("escape_filename_impl.py"), "exec"), globals())
os.getppid()


def run_source(source):
    """Makes a `getppid`, then runs `source` compiled with the file name `x.py` (a `FileName`)."""
    os.getppid()
    exec(compile(source, FileName("x.py"), "exec"), {"__name__": "x"})


def benign_source(path):
    """Python source that stats `path`."""
    return f"import os\nos.stat({path!r})\n"

"""Escape (issue #6): a function a plugin registers with `atexit` is the plugin's, though it runs with no
Python frame.

usage: escape_atexit.py main|thread benign | escape_atexit.py main|thread attack MARKER

The application runs its own shell command (through helpers.escape_host): `main`, on the main thread;
`thread`, also on a `_thread` thread running `os.system` directly (so, frameless: a sandbox that does not
charge a thread to its creator lets the base set allow a shell). helpers.escape_atexit, a plugin,
registers `os.stat` of a file to run at exit; with `attack MARKER` it registers
`os.system("touch MARKER")` instead. Either runs after the main module has returned, frameless.
"""

import os
import sys

import helpers.escape_atexit as plugin
import helpers.escape_host as host


def main():
    attack, marker, rest = host.parse_args(sys.argv[1:], "escape_atexit.py main|thread")
    where = rest[0] if rest else ""
    if where not in ("main", "thread"):
        return f"escape_atexit.py: unknown place {where!r}, expected main or thread"
    host.run_command()
    if where == "thread":
        host.run_on_thread("_thread", os.system, (host.own_command(),))
    if attack:
        plugin.register(os.system, host.touch_command(marker))
    else:
        plugin.register_benign()
    return 0


if __name__ == "__main__":
    sys.exit(main())

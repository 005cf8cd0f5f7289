"""Escape (issue #6): plugin code whose file name cannot be read must still be charged to the plugin.

usage: escape_unreadable_filename.py call|exec benign | escape_unreadable_filename.py call|exec attack MARKER

The application runs its own shell command (through helpers.escape_host, so __main__ is allowed a
shell). Then it uses helpers.escape_filename, a plugin whose code is compiled with a `str` subclass as
file name (see there):

- `call`: __main__ calls the plugin's `call(action, arg)`, whose code object names no readable file:
  the only readable frame left on the stack is __main__'s;
- `exec`: the plugin's `run_source` execs source compiled under such a name: its own frame is readable.

Benign, the plugin stats a file; with `attack MARKER`, it runs `touch MARKER`.
"""

import os
import sys

import helpers.escape_filename as plugin
import helpers.escape_host as host


def main():
    attack, marker, rest = host.parse_args(
        sys.argv[1:], "escape_unreadable_filename.py call|exec"
    )
    way = rest[0] if rest else ""
    if way not in ("call", "exec"):
        return f"escape_unreadable_filename.py: unknown way {way!r}, expected call or exec"
    host.run_command()
    if way == "call":
        if attack:
            plugin.call(os.system, host.touch_command(marker))
        else:
            plugin.call(os.stat, plugin.__file__)
    elif attack:
        plugin.run_source(host.shell_source(host.touch_command(marker)))
    else:
        plugin.run_source(plugin.benign_source(plugin.__file__))
    return 0


if __name__ == "__main__":
    sys.exit(main())

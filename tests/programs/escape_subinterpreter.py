"""Escape (issue #6): code a plugin runs in a subinterpreter is the plugin's.

usage: escape_subinterpreter.py benign | escape_subinterpreter.py attack MARKER

Needs `_xxsubinterpreters` (3.8–3.12) or `_interpreters` (3.13+); exits 2 without them. The application runs its own shell
command on the main thread and in a subinterpreter (`os.system` in source run by
`_xxsubinterpreters.run_string`, so the subinterpreter's `<string>` frames are allowed a shell). Then
helpers.escape_subinterp, a plugin, runs source in a subinterpreter of its own: benign, it stats a file;
with `attack MARKER`, it runs `os.system("touch MARKER")`. The subinterpreter's stack holds no frame of
the plugin; the main interpreter's stack of the same thread does.
"""

import sys

import helpers.escape_host as host
import helpers.escape_subinterp as plugin


def main():
    attack, marker, _ = host.parse_args(sys.argv[1:], "escape_subinterpreter.py")
    if plugin.interpreters is None:
        print("escape_subinterpreter.py: needs _xxsubinterpreters or _interpreters", file=sys.stderr)
        return 2
    host.run_command()
    interp = plugin.interpreters.create()
    try:
        plugin.interpreters.run_string(interp, host.shell_source(host.own_command()))
    finally:
        plugin.interpreters.destroy(interp)
    if attack:
        plugin.run(host.shell_source(host.touch_command(marker)))
    else:
        plugin.run(plugin.benign_source())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Escape (issue #6): a plugin's frame far from the innermost frame must still be charged.

usage: escape_deep_stack.py DEPTH benign | escape_deep_stack.py DEPTH attack MARKER

The application runs its own shell command through helpers.escape_host's recursive walker (so that
module and __main__ are allowed a shell). Then helpers.escape_deep, a plugin, walks a DEPTH-deep nested
list with that same walker: benign, stat-ing a file at the bottom; with `attack MARKER`, running
`touch MARKER` there. The innermost frames (DEPTH of them, 300 or 10,000, beyond the walk limit) are all
the host's; the plugin, which never ran a shell, is only found past them. The recursion limit is raised
to twice DEPTH.
"""

import sys

import helpers.escape_deep as plugin
import helpers.escape_host as host


def main():
    attack, marker, rest = host.parse_args(sys.argv[1:], "escape_deep_stack.py DEPTH")
    depth = int(rest[0])
    sys.setrecursionlimit(max(1000, 2 * depth))
    host.run_commands([[host.own_command()]])
    if attack:
        plugin.attack(depth, marker)
    else:
        plugin.check(depth)
    return 0


if __name__ == "__main__":
    sys.exit(main())

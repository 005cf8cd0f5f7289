"""Escape (issue #6): a thread must be judged by the stack that started it, not only by its own.

usage: escape_thread_start.py threading|_thread benign | escape_thread_start.py threading|_thread attack MARKER

The application runs its own shell command on a thread of the named kind (`threading.Thread`, or
`_thread.start_new_thread`) running `os.system` directly: so `threading`'s bootstrap frames, or a thread
with no Python frame at all, are allowed a shell. Then helpers.escape_threads, a plugin, starts a thread
of the same kind running `os.stat` (benign); with `attack MARKER` that thread runs
`os.system("touch MARKER")` instead. The thread has no frame of the plugin: only its creator's stack
does. The program waits for every thread to finish.
"""

import os
import sys

import helpers.escape_host as host
import helpers.escape_threads as plugin


def main():
    attack, marker, rest = host.parse_args(
        sys.argv[1:], "escape_thread_start.py threading|_thread"
    )
    kind = rest[0] if rest else ""
    if kind not in ("threading", "_thread"):
        return f"escape_thread_start.py: unknown thread kind {kind!r}, expected threading or _thread"
    # The application's own command, on a thread of that kind.
    host.run_on_thread(kind, os.system, (host.own_command(),))
    if attack:
        plugin.start(kind, os.system, (host.touch_command(marker),))
    else:
        plugin.start(kind, *plugin.benign_call())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The trusted application code of the escape_*.py programs: what the program itself is allowed to do.

Each escape program runs its own shell command through this module, `touch $TMPDIR/escape-host-stamp`,
in the same place (same modules on the stack, same kind of thread) where its plugin will later try
`touch MARKER`. So the policy learned from the benign run allows a shell to everything the attack
leaves visible (this module, `threading`, the frameless base...) and forbids it only to the plugin:
the attack is stopped only if the sandbox charges it to the plugin. The command is `touch` in both
cases, so `sh` and `touch` make the same syscalls and the `children` set cannot tell them apart.
"""

import _thread
import os
import shlex
import threading
import time


def _exit_code(status):
    """os.waitstatus_to_exitcode (3.9+), for every supported version."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def stamp_path():
    """The file the application's own command touches: in $TMPDIR, which the tests point at their
    run directory."""
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "escape-host-stamp")


def touch_command(path):
    """`touch PATH`, quoted for the shell."""
    return "touch " + shlex.quote(path)


def own_command():
    """The application's own shell command."""
    return touch_command(stamp_path())


def run_command(command=None):
    """Runs `command` (default: the application's own) in /bin/sh; fails unless it exits 0."""
    code = _exit_code(os.system(command or own_command()))
    if code != 0:
        raise SystemExit(f"escape_host: {command or own_command()!r} exited with {code}")


def shell_source(command):
    """Python source that runs `command` in /bin/sh (for code run elsewhere: a subinterpreter...)."""
    return f"import os\nos.system({command!r})\n"


def each_leaf(tree, action):
    """Calls `action(leaf)` for every leaf of a nested list, depth first: one frame per level."""
    if isinstance(tree, list):
        for item in tree:
            each_leaf(item, action)
        return None
    return action(tree)


def run_commands(tree):
    """Runs every command of a nested list of commands, in /bin/sh."""
    each_leaf(tree, os.system)


def nest(leaf, depth):
    """`leaf` inside `depth` one-element lists."""
    tree = leaf
    for _ in range(depth):
        tree = [tree]
    return tree


def wait_for_threads(count, timeout=10.0):
    """Sleeps until at most `count` threads started by `_thread` are alive (threads running a C
    function directly cannot be joined). Always sleeps at least once, so that the syscalls made here
    do not depend on how fast the threads were."""
    deadline = time.monotonic() + timeout
    time.sleep(0.02)
    while _thread._count() > count and time.monotonic() < deadline:
        time.sleep(0.01)


def run_on_thread(kind, function, args):
    """Runs `function(*args)` on a new thread of `kind`, `threading` (a `threading.Thread`, joined) or
    `_thread` (`_thread.start_new_thread`, waited for with wait_for_threads), and returns when it is
    done. With a C function such as `os.system`, the new thread has no frame of the caller."""
    if kind == "threading":
        worker = threading.Thread(target=function, args=args)
        worker.start()
        worker.join()
    elif kind == "_thread":
        alive = _thread._count()
        _thread.start_new_thread(function, args)
        wait_for_threads(alive)
    else:
        raise SystemExit(f"escape_host: unknown thread kind {kind!r}, expected threading or _thread")


def parse_args(argv, usage):
    """`benign` or `attack MARKER` at the end of `argv`; returns (attack, marker, the arguments before)."""
    if len(argv) >= 1 and argv[-1] == "benign":
        return False, None, argv[:-1]
    if len(argv) >= 2 and argv[-2] == "attack":
        return True, argv[-1], argv[:-2]
    raise SystemExit(f"usage: {usage} benign | attack MARKER")

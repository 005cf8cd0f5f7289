"""The plugin of escape_deep_stack.py: hands an action to the host's recursive walker, `depth` levels deep.

Benign, the action is `os.stat` of this file; the attack passes `os.system` and `touch MARKER`. Either way
the innermost frames are `depth` + 1 frames of helpers.escape_host.each_leaf, far more than the default
walk limit, and this module's frame is beyond them. The first `getppid` is made here, at a shallow depth,
so that this module is in the policy (with no shell).
"""

import os

import helpers.escape_host as host


def walk(depth, action, leaf):
    """Calls `action(leaf)` at the bottom of `depth` levels of the host's walker."""
    os.getppid()
    host.each_leaf(host.nest(leaf, depth), action)


def check(depth):
    """Benign: stats this file, `depth` levels down."""
    walk(depth, os.stat, __file__)


def attack(depth, marker):
    """Runs `touch MARKER`, `depth` levels down."""
    walk(depth, os.system, host.touch_command(marker))

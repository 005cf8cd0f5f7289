"""Recurses to a given depth and calls `getppid` at the bottom, deeper than the walk limit."""

import os


def descend(depth):
    """Adds `depth` frames of this function to the stack, then makes one `getppid` call."""
    if depth <= 1:
        return os.getppid()
    return descend(depth - 1)

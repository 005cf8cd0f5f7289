"""Called only in the fork child of fork_child.py: `getsid` is made by the child alone."""

import os


def child_work():
    """Makes one `getsid` call."""
    return os.getsid(0)

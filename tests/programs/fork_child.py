"""Proves a fork child is traced and inherits its parent's Python state.

The process forks; only the child calls helpers.forker.child_work() (one `getsid`), then leaves with
os._exit(0) without running any more Python. The parent waits for it. `getsid` must be charged to
helpers.forker and __main__, and the trace must list two Python processes, parent and child.
"""

import os
import sys

import helpers.forker


def _exit_code(status):
    """os.waitstatus_to_exitcode (3.9+), for every supported version."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def main():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            helpers.forker.child_work()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = _exit_code(status)
    if code != 0:
        return f"fork_child: the child exited with {code}"
    return 0


if __name__ == "__main__":
    sys.exit(main())

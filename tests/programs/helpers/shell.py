"""Runs a shell through os.system: `execve` of /bin/sh happens in C, below this module's frame."""

import os


def _exit_code(status):
    """os.waitstatus_to_exitcode (3.9+), for every supported version."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def run():
    """Runs `true` in /bin/sh and returns its exit code."""
    return _exit_code(os.system("true"))

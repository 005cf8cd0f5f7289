"""Runs /bin/true through subprocess: the `execve` is asked for by this module (and by `subprocess`)."""

import subprocess


def run_true():
    """Runs /bin/true and returns its exit code."""
    return subprocess.run(["/bin/true"], check=False).returncode

"""Proves an exec is charged to the Python stack that asked for it, and the new program is traced.

helpers.spawner runs /bin/true through subprocess.run(), which forks (vfork) and execs in C. `execve`
must be charged to helpers.spawner, `subprocess` and __main__; /bin/true's own syscalls land in the
non-Python bucket and it appears as a process of the traced tree.
"""

import sys

import helpers.spawner


def main():
    code = helpers.spawner.run_true()
    if code != 0:
        return f"subprocess_exec: /bin/true exited with {code}"
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Proves an exec made by C code (libc's system()) is charged to the Python modules above it.

helpers.shell calls os.system("true"): libc spawns /bin/sh with no Python frame of its own, so
`execve` must be charged to exactly the modules on the stack, helpers.shell and __main__.
"""

import sys

import helpers.shell


def main():
    code = helpers.shell.run()
    if code != 0:
        return f"os_system: `true` exited with {code}"
    return 0


if __name__ == "__main__":
    sys.exit(main())

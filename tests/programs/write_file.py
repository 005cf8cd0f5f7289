"""Proves file syscalls are charged to the module that makes them.

helpers.filewriter creates argv[1] and writes to it: `openat` and `write` belong to helpers.filewriter
(and to __main__, its caller). The path must lie in a temporary directory and must not exist yet.
"""

import sys

import helpers.filewriter

CONTENT = b"written by helpers.filewriter\n"


def main():
    if len(sys.argv) != 2:
        return "usage: write_file.py PATH"
    helpers.filewriter.write(sys.argv[1], CONTENT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

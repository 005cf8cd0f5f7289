"""Argument values (#7): one module of the application (helpers/values_worker.py)
runs a program, writes files in its output directory (by absolute and by
relative path) and connects to a local server. The attacks are the same module
doing the same syscalls with other values:

    values_app.py benign DIR
    values_app.py exec DIR      # runs /bin/sh instead of /bin/true
    values_app.py write DIR     # writes DIR/elsewhere/x instead of DIR/out/...
    values_app.py connect DIR   # connects to 192.0.2.1:9 instead of the local server
"""
import os
import sys

from helpers import values_worker


def main() -> int:
    what, directory = sys.argv[1], sys.argv[2]
    os.chdir(directory)
    os.makedirs("out", exist_ok=True)
    os.makedirs("elsewhere", exist_ok=True)
    values_worker.work(what, directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())

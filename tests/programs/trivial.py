"""Does next to nothing, successfully: the program for tests about policies themselves (their size,
their load time), not about attribution.

It imports helpers.idle and calls it once (one `sched_getaffinity`), prints one line and exits 0.
"""

import sys

import helpers.idle


def main():
    helpers.idle.touch()
    print("trivial: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Proves a stack deeper than the walk limit is counted as truncated and still charged inward.

helpers.recurse.descend() recurses 400 frames deep (far beyond the default walk limit) and calls
os.getppid() at the bottom. The walk sees only the innermost frames: `getppid` is charged to
helpers.recurse, lands in the truncated bucket, and counters.stacks_truncated is non-zero.
"""

import sys

import helpers.recurse

DEPTH = 400


def main():
    helpers.recurse.descend(DEPTH)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Proves the whole stack is walked, and that a stack deeper than the walk limit is counted as truncated.

helpers.recurse.descend() recurses 400 frames deep and calls os.getppid() at the bottom. With the
default limit every frame is seen: `getppid` is charged to helpers.recurse and to __main__. With
`--walk-limit 64` the walk sees only the innermost frames: `getppid` is charged to helpers.recurse,
lands in the truncated bucket, and counters.stacks_truncated is non-zero.
"""

import sys

import helpers.recurse

DEPTH = 400


def main():
    helpers.recurse.descend(DEPTH)
    return 0


if __name__ == "__main__":
    sys.exit(main())

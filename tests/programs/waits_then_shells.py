"""A long-running program that starts a shell only when told to: polls for
the file argv[1] for up to argv[2] seconds; if it appears, runs
`touch argv[1].pwned`. Proves that `secimport run --pid` judges a process it
attached to after it started."""
import os
import sys
import time


def serve(trigger, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(trigger):
            os.system(f"touch {trigger}.pwned")
            return
        time.sleep(0.05)


serve(sys.argv[1], float(sys.argv[2]))

"""Proves a program killed by a signal is reported as 128 + signal: it sends itself SIGTERM (143)."""

import os
import signal
import sys

os.kill(os.getpid(), signal.SIGTERM)
# A signal sent to oneself is delivered before kill() returns; reaching this line is a failure.
sys.exit("killed_by_signal: still alive after SIGTERM")

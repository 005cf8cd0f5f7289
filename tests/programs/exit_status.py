"""Proves the traced program's exit status is passed through: it exits with 7."""

import sys

sys.exit(7)

"""A cold __pycache__ is not a new behaviour (#7): imports `coldmod` from DIR
with bytecode writing on, so a cold cache makes the import system write
DIR/__pycache__/coldmod.cpython-XY.pyc (mkdir, open for writing, rename).

    cold_cache.py DIR
"""
import sys

sys.dont_write_bytecode = False
sys.path.insert(0, sys.argv[1])

import coldmod  # noqa: E402

print(coldmod.answer())

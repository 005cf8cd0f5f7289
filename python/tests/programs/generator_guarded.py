"""A sandboxed generator stays guarded while it runs, after the call that
created it returned. Usage: generator_guarded.py LOG MARKER"""

import os
import sys

import secimport

log, marker = sys.argv[1], sys.argv[2]


@secimport.sandboxed(log_file=log)
def steps():
    yield "first"
    os.system(f"touch {marker}")
    yield "second"


gen = steps()
print(next(gen), flush=True)
print(next(gen), flush=True)

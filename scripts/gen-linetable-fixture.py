#!/usr/bin/env python3
"""Writes crates/secimport-engine/tests/fixtures/linetables-3.11.json: real
co_linetable bytes from CPython 3.11 with the line of every instruction, the
ground truth for the Rust location-table decoder. Run with a 3.11 interpreter."""
import json, os, sys, dis

assert sys.version_info[:2] == (3, 11), "run with CPython 3.11"

SRC = '''
def simple(x):
    return x + 1

def branches(x):
    if x > 3:
        y = x * 2
    else:
        y = x - 2


    for i in range(3):
        y += i
    return y

def calls(path):
    import os
    st = os.stat(path)
    return (st.st_size,
            st.st_mode,
            len(path))

class C:
    def method(self, a, b):
        try:
            return a / b
        except ZeroDivisionError:
            return None
'''

def codes(co):
    yield co
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            yield from codes(c)

out = []
for co in codes(compile(SRC, "<fixture>", "exec")):
    lines = [pos[0] for pos in co.co_positions()]
    out.append({
        "name": co.co_qualname,
        "firstlineno": co.co_firstlineno,
        "linetable": co.co_linetable.hex(),
        "lines": lines,  # line of code unit i (None: no location)
    })
dest = os.path.join(os.path.dirname(__file__), "..", "crates", "secimport-engine", "tests", "fixtures", "linetables-3.11.json")
with open(dest, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(out)} code objects to {os.path.normpath(dest)}")

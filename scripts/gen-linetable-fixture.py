#!/usr/bin/env python3
"""Writes crates/secimport-engine/tests/fixtures/linetables-3.X.json for the
running interpreter (CPython 3.8, 3.9, 3.10 or 3.11): the ground truth for the
Rust line-table decoders (crates/secimport-engine/src/linetable.rs).

Run it once with each interpreter, e.g. /root/.pyenv/versions/3.8.18/bin/python3.8.

Each fixture is a list of code objects, each with:
  name         qualified name (co_qualname on 3.11, rebuilt before that)
  firstlineno  co_firstlineno
  attr         the table's attribute: co_lnotab (3.8/3.9) or co_linetable (3.10+)
  linetable    its bytes, in hex
  lines        the line of each code unit (2-byte instruction word): lines[i] is
               the line CPython reports for the instruction at byte offset 2*i
               (None: no line number). The kernel's lasti for it is 2*i on
               3.8/3.9 (f_lasti counts bytes) and i on 3.10+ (code units).

The lines come from the interpreter twice, and both must agree: from
PyCode_Addr2Line (what tracebacks and frame.f_lineno use), called through
ctypes, and from the documented Python API of that version (dis.findlinestarts
on 3.8/3.9, co_lines() on 3.10, co_positions() on 3.11).
"""
import ctypes
import dis
import itertools
import json
import os
import sys

VERSION = sys.version_info[:2]
assert (3, 8) <= VERSION <= (3, 11), "run with CPython 3.8, 3.9, 3.10 or 3.11"

BLANK = "\n" * 200  # a line jump no single table entry can hold (> 127)
LONG_LINE = " + ".join(["a"] * 150)  # one line of > 255 bytes of code

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
''' + f'''
def long_run(a):
    b = {LONG_LINE}
    return b

def big_jumps(f, a, b):
    c = a{BLANK}
    d = f(a,{BLANK}
          b)
    return c + d

def with_long(p):
    with open(p) as f:
        x = 1{BLANK}
        y = 2
    return x, y

def deco(fn):
    return fn

@deco{BLANK}
def decorated():
    return 0

def no_line(x):
    try:
        x()
    except ValueError as e:
        raise
    except Exception:
        pass
    return x

def outer(a):
    def inner(b):
        def innermost(c):
            return a + b + c
        return innermost
    squares = [i * i for i in range(a)]
    return inner(a)(sum(squares))

def gen(n):
    yield from (i for i in range(n))
''' + "\ndef many_lines(x):\n" + "".join(
    # over 512 line changes: every format's table is longer than the 1024
    # bytes the kernel copies, for the truncation tests
    f"    x += {i}\n" + ("\n" * (i % 3))
    for i in range(600)
) + "    return x\n"

CO_OPTIMIZED = 0x1


def codes(co, parent=None):
    if hasattr(co, "co_qualname"):
        name = co.co_qualname
    elif parent is None or parent[0] == "<module>":
        name = co.co_name
    elif parent[1].co_flags & CO_OPTIMIZED:
        name = f"{parent[0]}.<locals>.{co.co_name}"
    else:
        name = f"{parent[0]}.{co.co_name}"
    yield name, co
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            yield from codes(c, (name, co))


addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
addr2line.restype = ctypes.c_int


def lines_from_c(co):
    """PyCode_Addr2Line at each code unit's byte offset (-1: no line)."""
    lines = []
    for unit in range(len(co.co_code) // 2):
        line = addr2line(co, 2 * unit)
        lines.append(None if line < 0 else line)
    return lines


def lines_from_python(co):
    """The same from the version's Python-level API."""
    units = len(co.co_code) // 2
    if VERSION >= (3, 11):
        return [pos[0] for pos in co.co_positions()]
    if VERSION == (3, 10):
        lines = [None] * units
        for start, end, line in co.co_lines():
            for unit in range(start // 2, end // 2):
                lines[unit] = line
        return lines
    # 3.8/3.9: each line start covers up to the next one
    starts = dict(dis.findlinestarts(co))
    lines, line = [], None
    for unit in range(units):
        line = starts.get(2 * unit, line)
        lines.append(line)
    return lines


def table(co):
    return co.co_linetable if VERSION >= (3, 10) else co.co_lnotab


def pairs(co):
    """(unsigned, signed) byte pairs of a 3.8-3.10 table."""
    t = table(co)
    return [(t[i], t[i + 1] - 256 if t[i + 1] > 127 else t[i + 1]) for i in range(0, len(t) - 1, 2)]


out = []
seen = {}
for name, co in codes(compile(SRC, "<fixture>", "exec")):
    lines = lines_from_c(co)
    assert lines == lines_from_python(co), name
    out.append({
        "name": name,
        "firstlineno": co.co_firstlineno,
        "attr": "co_linetable" if VERSION >= (3, 10) else "co_lnotab",
        "linetable": table(co).hex(),
        "lines": lines,
    })
    seen[name] = co

# The fixture must exercise what makes each format delicate.
steps, runs = [], []
for c in out:
    known = [line for line in c["lines"] if line is not None]
    steps += [b - a for a, b in zip(known, known[1:])]
    runs += [len(list(group)) for _, group in itertools.groupby(c["lines"])]
assert max(steps) > 127 and min(steps) < -127, "line jumps beyond a signed byte"
assert max(runs) * 2 > 255, "over 255 bytes of code on one line"
assert any(len(table(co)) > 1024 for co in seen.values()), "a table longer than the kernel copies"
assert any("<locals>" in name for name in seen), "nested functions"
if VERSION >= (3, 10):
    assert any(None in c["lines"] for c in out), "instructions with no line"
if VERSION <= (3, 10):
    all_pairs = [p for co in seen.values() for p in pairs(co)]
    longest = 255 if VERSION < (3, 10) else 254
    assert (longest, 0) in all_pairs, "an address step split over pairs"
    assert any(d == 0 for d, _ in all_pairs), "line steps split over pairs"
if VERSION == (3, 10):
    assert any(l == -128 for _, l in all_pairs), "ranges with no line"

dest = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "secimport-engine", "tests", "fixtures",
    "linetables-%d.%d.json" % VERSION,
)
with open(dest, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(out)} code objects to {os.path.normpath(dest)}")

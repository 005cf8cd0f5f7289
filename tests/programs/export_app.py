"""`secimport export` (crates/secimport/tests/export.rs): a program run under the OCI seccomp profile
exported from its own policy, by a libseccomp launcher.

`export_app.py benign DIR` reads DIR/data.json, hashes it on a thread, talks over a unix socket pair,
and prints the result: traced, then run under the profile, it must print the same and exit 0 (with
a cold `__pycache__`: the profile leaves the import system's writes out and CPython goes on).
`shell DIR` then runs `os.system` (a process clone the policy never allowed) and `write DIR` opens
DIR/out.txt for writing (`openat:write`, never traced): both are refused with EPERM under the
profile, and both work without it. `x32 DIR` makes a syscall of the x32 ABI, which the profile
does not list: its thread is killed in the syscall (libseccomp's bad-architecture action).
"""

import os
import sys

from helpers.export_worker import digest_of

mode, directory = sys.argv[1], sys.argv[2]
print("digest", digest_of(os.path.join(directory, "data.json")), flush=True)
if mode == "shell":
    status = os.system("echo shell-ran")
    print("os.system returned", status, flush=True)
elif mode == "write":
    try:
        with open(os.path.join(directory, "out.txt"), "w") as f:
            f.write("written\n")
        print("wrote out.txt", flush=True)
    except PermissionError as e:
        print("write refused:", e.errno, flush=True)
        sys.exit(3)
elif mode == "x32":
    import ctypes

    # getpid on the x32 ABI (bit 30 of the number): not the policy's architecture.
    result = ctypes.CDLL(None).syscall(0x40000000 | 39)
    print("x32 getpid returned", result, flush=True)
elif mode != "benign":
    sys.exit(f"unknown mode {mode}")

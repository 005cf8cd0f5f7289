"""A process forked by the guarded module (shells allowed, networking not)
connects: its copied stack holds the guarded frames, so it is judged.
Usage: child_from_guard.py PORT LOG MARKER"""

import os
import socket
import sys

import secimport

port, log, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
netmod = secimport.secure_import("netmod", allow_shells=True, allow_networking=False, log_file=log)


def connect_in_child():
    print(f"child {os.getpid()} connecting", flush=True)
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    open(marker, "w").close()


socket.create_connection(("127.0.0.1", port), timeout=5).close()
print(f"main {os.getpid()} connected", flush=True)
status = netmod.fork_and_call(connect_in_child)
print(f"child exited with wait status {status}", flush=True)

"""A thread started by the guarded module runs code of __main__ that
connects: the thread inherited the guard, so it is judged by it.
Usage: thread_from_guard.py PORT LOG MARKER"""

import socket
import sys

import secimport

port, log, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
netmod = secimport.secure_import("netmod", allow_networking=False, log_file=log)


def connect_from_main_code():
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    open(marker, "w").close()


socket.create_connection(("127.0.0.1", port), timeout=5).close()
print("main connected", flush=True)
netmod.start_thread(connect_from_main_code)
print("thread finished", flush=True)

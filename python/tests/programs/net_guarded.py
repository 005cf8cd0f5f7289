"""allow_networking=False: the main program connects, the guarded module may
not. Usage: net_guarded.py PORT LOG MODE"""

import socket
import sys

import secimport

port, log, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
netmod = secimport.secure_import("netmod", allow_networking=False, mode=mode, log_file=log)

socket.create_connection(("127.0.0.1", port), timeout=5).close()
print("main connected", flush=True)
netmod.connect(port)
print("module connected", flush=True)
socket.create_connection(("127.0.0.1", port), timeout=5).close()
print("main connected again", flush=True)

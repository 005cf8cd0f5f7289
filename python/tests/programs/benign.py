"""Guarded modules used normally; the main program keeps its own rights (it
starts a program and connects after the guards exist); the process exits 0.
Usage: benign.py LOG PORT"""

import json as plain_json
import socket
import subprocess
import sys

import secimport

log, port = sys.argv[1], int(sys.argv[2])
pickle = secimport.secure_import("pickle", log_file=log)
json = secimport.secure_import("json", log_file=log)
print(json.dumps(pickle.loads(pickle.dumps({"a": [1, 2]}))), flush=True)
print(type(json.JSONDecoder().decode("[1]")).__name__, flush=True)
try:
    json.loads("{")
except json.JSONDecodeError as e:
    print("caught", type(e).__name__, flush=True)
print(plain_json.dumps({"plain": True}), flush=True)
subprocess.run(["true"], check=True)
socket.create_connection(("127.0.0.1", port), timeout=5).close()
print("main program started a program and connected", flush=True)

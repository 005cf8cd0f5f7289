"""A pickle exploit that would run `touch MARKER`, loaded through
secure_import("pickle"). Usage: pickle_marker.py MARKER LOG MODE"""

import sys

import secimport

marker, log, mode = sys.argv[1:4]
payload = f"__import__('os').system('touch {marker}')"
exploit = b"cbuiltins\neval\n(V" + payload.encode() + b"\ntR."

pickle = secimport.secure_import("pickle", mode=mode, log_file=log)
result = pickle.loads(exploit)
print(f"loads returned {result}", flush=True)

"""A pickle exploit that hides the guard frame below a stack deeper than the
kernel's walk limit (70,000 frames) before running `touch MARKER`, loaded
through secure_import("pickle"). What the walk cannot see is judged by the
guards' rule, so the shell is still denied. Usage: pickle_deep.py MARKER LOG

It runs on a thread with a 1 GiB stack: before 3.11 each Python call also
recurses in C, and 70,000 of them overflow the main thread's 8 MiB."""

import sys
import threading

import secimport

marker, log = sys.argv[1:3]
sys.setrecursionlimit(200_000)
payload = (
    "(lambda f: f(f, 70000))(lambda f, n: f(f, n - 1) if n else "
    f"__import__('os').system('touch {marker}'))"
)
exploit = b"cbuiltins\neval\n(V" + payload.encode() + b"\ntR."

pickle = secimport.secure_import("pickle", mode="kill", log_file=log)


def load() -> None:
    result = pickle.loads(exploit)
    print(f"loads returned {result}", flush=True)


threading.stack_size(1 << 30)
t = threading.Thread(target=load)
t.start()
t.join()

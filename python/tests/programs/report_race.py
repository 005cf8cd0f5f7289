"""A guarded pickle payload makes one denied syscall and the process ends
right there: killed at it (kill mode), or exiting at once after it (log mode,
os._exit). Its report must still reach the log.
Usage: report_race.py SHELL|NET|CHILD MODE LOG [OTHER_LOG]
SHELL runs os.system (clone3), NET makes a socket. CHILD forks (the guard
allows shells) and the child makes the socket while the parent exits at once.
With OTHER_LOG, a guard in the other mode (of json, never violated) is made
first, so that this mode's supervisor is started by a process another
supervisor already follows."""

import os
import sys

import secimport

what, mode, log = sys.argv[1:4]
payload = {
    "SHELL": "__import__('os').system('true')",
    "NET": "__import__('socket').socket()",
    "CHILD": "__import__('os').fork() or __import__('socket').socket()",
}[what]
exploit = b"cbuiltins\neval\n(V" + payload.encode() + b"\ntR."
if len(sys.argv) > 4:
    secimport.secure_import("json", mode="log" if mode == "kill" else "kill", log_file=sys.argv[4])
pickle = secimport.secure_import("pickle", mode=mode, log_file=log, allow_shells=what == "CHILD")
pickle.loads(exploit)
os._exit(0)

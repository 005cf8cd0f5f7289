"""A denial logged by a log-mode guard, then at once a kill by a kill-mode
guard of the same process (whose supervisor was started first).
Usage: log_then_kill.py KILL_LOG LOG_LOG"""

import os
import sys

import secimport

kill_log, log_log = sys.argv[1:3]
killer = secimport.sandboxed(mode="kill", log_file=kill_log)(os.system)
pickle = secimport.secure_import("pickle", mode="log", log_file=log_log)
pickle.loads(b"cbuiltins\neval\n(V__import__('socket').socket()\ntR.")
killer("true")

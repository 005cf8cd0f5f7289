"""A forked child defines guards of its own (its own supervisor): the child is
killed by them, the parent lives on. Usage: fork_then_guard.py LOG"""

import os
import sys

import secimport

log = sys.argv[1]
json = secimport.secure_import("json", log_file=log)
pid = os.fork()
if pid == 0:
    pickle = secimport.secure_import("pickle", log_file=log)
    pickle.loads(b"cbuiltins\neval\n(V__import__('os').system('echo child exploited')\ntR.")
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(f"child killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "child exited", flush=True)
print("parent", json.dumps({"alive": True}), flush=True)

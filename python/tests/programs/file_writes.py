"""A pickle payload that changes files by name, loaded through
secure_import("pickle"). Usage: file_writes.py WHAT TARGET LOG MODE [allow]

WHAT (each prints what it did once its syscall returned):
  open        open(TARGET, "w"), then writes "payload" to it
  filehandler logging.FileHandler(TARGET) (opens for appending), logs "payload"
  rename      os.rename(TARGET, TARGET + ".moved")
  unlink      os.unlink(TARGET)
  rmtree      shutil.rmtree(TARGET) (a directory)
  py_compile  py_compile.compile(TARGET) (a .py file): writes __pycache__
With `allow`, the guard allows file writes."""

import pickle as plain_pickle
import sys

import secimport

what, target, log, mode = sys.argv[1:5]
allow = len(sys.argv) > 5 and sys.argv[5] == "allow"

PAYLOADS = {
    "open": "f = open(T, 'w'); print('opened', flush=True); f.write('payload'); f.close()",
    "filehandler": (
        "import logging; h = logging.FileHandler(T); print('opened', flush=True); "
        "h.emit(logging.makeLogRecord({'msg': 'payload'})); h.close()"
    ),
    "rename": "import os; os.rename(T, T + '.moved')",
    "unlink": "import os; os.unlink(T)",
    "rmtree": "import shutil; shutil.rmtree(T)",
    "py_compile": "import py_compile; py_compile.compile(T, doraise=True)",
}


class Payload:
    def __reduce__(self):
        code = f"T = {target!r}\n{PAYLOADS[what]}\nprint('done: {what}', flush=True)\n"
        return (exec, (code,))


exploit = plain_pickle.dumps(Payload())
pickle = secimport.secure_import("pickle", mode=mode, log_file=log, allow_file_writes=allow)
print("guard made", flush=True)
pickle.loads(exploit)
print("loads returned", flush=True)

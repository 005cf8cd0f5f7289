"""Imports under a guard that denies file writes, with no bytecode cached
yet: the import system's own __pycache__ writes are skipped (not reported),
and a module imported outside the guards afterwards is cached as usual.
Usage: cold_import.py DIR LOG MODE  (DIR: an empty directory, put on sys.path)"""

import os
import sys
import threading

import secimport

directory, log, mode = sys.argv[1:4]
sources = {
    # secure_import of a module not imported yet: its import runs under the
    # guard, and imports a package of its own.
    "coldmod.py": "import coldpkg.sub\n\ndef f():\n    import coldlazy\n    return coldpkg.sub.VALUE + coldlazy.ONE\n",
    "coldpkg/__init__.py": "",
    "coldpkg/sub.py": "VALUE = 40\n",
    "coldlazy.py": "ONE = 1\n",  # imported by a guarded call
    "coldpickled.py": "def make(n):\n    return ['made'] * n\n",  # imported by find_class
    "coldthread.py": "NAME = 'thread'\n",  # imported by a thread started under a guard
    "coldafter.py": "AFTER = True\n",  # imported by the main program afterwards
}
for name, text in sources.items():
    path = os.path.join(directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
sys.path.insert(0, directory)
print("dont_write_bytecode", sys.dont_write_bytecode, flush=True)

coldmod = secimport.secure_import("coldmod", mode=mode, log_file=log)
print("coldmod.f()", coldmod.f(), flush=True)
pickle = secimport.secure_import("pickle", mode=mode, log_file=log)
print("loads", pickle.loads(b"ccoldpickled\nmake\n(I2\ntR."), flush=True)


@secimport.sandboxed(mode=mode, log_file=log)
def in_a_thread():
    found = []
    t = threading.Thread(target=lambda: found.append(__import__("coldthread").NAME))
    t.start()
    t.join()
    return found


print("thread", in_a_thread(), flush=True)
import coldafter  # noqa: E402

print("coldafter", coldafter.AFTER, flush=True)

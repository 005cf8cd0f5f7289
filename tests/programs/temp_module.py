"""A module in a fresh random temporary directory every run (#7, stable
names): writes DIR/setup.py into tempfile.mkdtemp() and runs it the way pip
runs a setup.py, compiled under its path (outside every import root). Its
name is the same every run (`$TMPDIR/tmp*/setup.py`), so the policy's entry
for it applies: `run` installs it when the kernel first meets the file.

The setup.py first lists a directory (`getdents64`, in `base`: the first
syscall whose stack is walked meets the file, and is judged by the unknown
rule before its entry can be installed), then, a moment later, makes one
only its own entry allows (`times`).
"""
import os
import tempfile

directory = tempfile.mkdtemp()
path = os.path.join(directory, "setup.py")
with open(path, "w") as f:
    f.write("import os, time\nos.listdir('.')\ntime.sleep(0.3)\nos.times()\n")
with open(path) as f:
    source = f.read()
exec(compile(source, path, "exec"), {"__name__": "__main__"})

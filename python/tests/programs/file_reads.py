"""Guarded code that only reads files (and writes to descriptors opened
before): no violation, the process exits 0. Usage: file_reads.py DIR LOG"""

import os
import sys

import secimport

directory, log = sys.argv[1:3]
data = os.path.join(directory, "data.json")
with open(data, "w") as f:  # the main program may write files
    f.write('{"weights": [1, 2, 3]}')
out = open(os.path.join(directory, "out.txt"), "w")  # opened outside the guard

json = secimport.secure_import("json", log_file=log)


@secimport.sandboxed(log_file=log)
def load(path, sink):
    names = sorted(os.listdir(os.path.dirname(path)))
    size = os.stat(path).st_size
    with open(path) as f:  # openat(O_RDONLY): a read
        text = f.read()
    with open(path, "rb", buffering=0) as f:
        first = f.read(1)
    sink.write(f"{names} {size} {first!r}\n")  # write(2) on a descriptor already open
    sink.flush()
    print("loaded", text, flush=True)  # and on stdout
    return json.loads(text)


with open(data) as f:
    print("json.load", json.load(f), flush=True)
print("sum", sum(load(data, out)["weights"]), flush=True)
out.close()
with open(os.path.join(directory, "after.txt"), "w") as f:  # and still may afterwards
    f.write("after")
print("main program wrote after.txt", flush=True)

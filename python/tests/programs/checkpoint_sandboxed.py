"""sandboxed() around checkpoint loading: a benign checkpoint loads, the main
program may still start programs, a malicious checkpoint is killed before its
command runs. Usage: checkpoint_sandboxed.py DIR LOG MARKER FORM
FORM: decorator | wrapper (sandboxed()(pickle.load)(f))"""

import os
import pickle
import subprocess
import sys

import secimport

directory, log, marker, form = sys.argv[1:5]


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))


benign = os.path.join(directory, "model.ckpt")
malicious = os.path.join(directory, "evil.ckpt")
with open(benign, "wb") as f:
    pickle.dump({"epoch": 3, "state_dict": {"layer.weight": [0.5, -0.25]}, "optimizer": {"lr": 0.01}}, f)
with open(malicious, "wb") as f:
    pickle.dump({"epoch": 3, "state_dict": {"layer.weight": Exploit()}}, f)

if form == "decorator":
    import checkpoint

    @secimport.sandboxed(log_file=log)
    def load_checkpoint(path):
        return checkpoint.load(path)

else:
    guarded_load = secimport.sandboxed(log_file=log)(pickle.load)

    def load_checkpoint(path):
        with open(path, "rb") as f:
            return guarded_load(f)


state = load_checkpoint(benign)
print(f"loaded epoch {state['epoch']}", flush=True)
subprocess.run(["true"], check=True)
print("main program started a program", flush=True)
load_checkpoint(malicious)
print("loaded the malicious checkpoint", flush=True)

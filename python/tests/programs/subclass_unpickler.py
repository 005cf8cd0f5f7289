"""Classes derived from a guarded pickle's Unpickler stay guarded: a benign
pickle loads, a malicious one (`__reduce__` -> os.system("touch MARKER")) is
stopped before the command runs. Usage: subclass_unpickler.py MARKER LOG MODE FORM
FORM: subclass (a find_class override calling super) | torch (torch.load's
pattern, without torch) | plain (a subclass that overrides nothing)"""

import io
import os
import pickle as plain_pickle
import subprocess
import sys

import secimport

marker, log, mode, form = sys.argv[1:5]


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))


benign = plain_pickle.dumps({"epoch": 3, "weights": [0.5, -0.25]})
malicious = plain_pickle.dumps({"epoch": 3, "weights": Exploit()})

pickle = secimport.secure_import("pickle", mode=mode, log_file=log)

if form == "subclass":

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            print(f"find_class {module}.{name}", flush=True)
            return super().find_class(module, name)

    def load(data):
        return U(io.BytesIO(data)).load()

elif form == "torch":

    def _load(f, pickle_module, **pickle_load_args):
        # torch.serialization._load, reduced to what touches pickle_module.
        class UnpicklerWrapper(pickle_module.Unpickler):
            def find_class(self, mod_name, name):
                if type(name) is str and "Storage" in name:
                    raise RuntimeError("no storages in this test")
                return super().find_class(mod_name, name)

        unpickler = UnpicklerWrapper(f, **pickle_load_args)
        unpickler.persistent_load = lambda saved_id: saved_id
        try:
            return unpickler.load()
        except pickle_module.UnpicklingError as e:
            raise RuntimeError(f"bad checkpoint: {e}") from e

    def load(data):
        return _load(io.BytesIO(data), pickle_module=pickle, encoding="utf-8")

else:

    class Plain(pickle.Unpickler):
        pass

    def load(data):
        return Plain(io.BytesIO(data)).load()


print("benign", load(benign)["epoch"], flush=True)
try:
    load(b"not a pickle.")
except (pickle.UnpicklingError, RuntimeError) as e:
    print("caught", type(e).__name__, flush=True)
subprocess.run(["true"], check=True)
print("main program started a program", flush=True)
result = load(malicious)
print(f"malicious load returned {result['weights']}", flush=True)

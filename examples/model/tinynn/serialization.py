import json
import os


def save(module, path):
    """Writes the parameters as JSON (atomically, like torch.save callers often do)."""
    state = {name: p.value for name, p in vars(module).items() if hasattr(p, "grad")}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)

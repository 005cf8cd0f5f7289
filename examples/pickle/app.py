"""Loads a pickled checkpoint the way ML code often does.

    python app.py benign.pkl     # what secimport traces
    python app.py exploit.pkl    # the seed's exploit: __reduce__ -> eval -> os.system
"""
import sys

import checkpoint

state = checkpoint.load(sys.argv[1])
print(f"loaded {sys.argv[1]}: {type(state).__name__}")

"""The seed's example, exactly: secure_import("pickle"), then pickle.loads of
the exploit whose __reduce__ runs `echo Exploited!`. Killed before the shell
runs. Usage: seed_pickle.py [LOG]  (default log: /tmp/.secimport/sandbox_pickle.log)"""

import sys

import secimport

kwargs = {"log_file": sys.argv[1]} if len(sys.argv) > 1 else {}
pickle = secimport.secure_import("pickle", **kwargs)
print("imported pickle", flush=True)
pickle.loads(
    b"\x80\x04\x95F\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c*__import__('os').system('echo Exploited!')\x94\x85\x94R\x94."  # noqa: E501
)
print("survived the exploit", flush=True)

"""secimport: a per-module syscall sandbox for Python, enforced by the kernel.

The in-process API::

    import secimport

    pickle = secimport.secure_import("pickle")       # shells, networking, file writes denied
    pickle.loads(untrusted)                          # an exploit is killed before its shell runs

    @secimport.sandboxed(allow_networking=False)     # any call, not only imports
    def load_checkpoint(path):
        with open(path, "rb") as f:
            return pickle.load(f)

Both attach a supervisor (the ``secimport guard`` command of the binary that
this package carries) to the running process, and wait until it is attached;
they raise :class:`SecimportError` instead of returning anything unprotected.
They need root (eBPF). The command line (``secimport trace/build/run``) is the
same binary: ``secimport --help`` or ``python -m secimport --help``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._api import LOG_DIR, Sandbox, default_log_file, sandboxed, secure_import
from ._binary import find_secimport_bin
from ._errors import SecimportError
from ._proxy import GuardedClass, GuardedModule, GuardedObject, unwrap

try:
    __version__ = version("secimport")
except PackageNotFoundError:  # imported from a source checkout
    __version__ = "0+unknown"

__all__ = [
    "LOG_DIR",
    "GuardedClass",
    "GuardedModule",
    "GuardedObject",
    "Sandbox",
    "SecimportError",
    "default_log_file",
    "find_secimport_bin",
    "sandboxed",
    "secure_import",
    "unwrap",
    "__version__",
]

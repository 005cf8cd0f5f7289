"""Finding the ``secimport`` binary that the wheel carries.

The Python package is a thin front end: everything that touches the kernel is
done by the Rust binary. The wheel installs it into the scripts directory of
the environment (beside ``python``), like ruff's and uv's wheels do. This
module finds it, and when it cannot, says every place it looked.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from ._errors import SecimportError

#: The name of the binary in a scripts directory or on PATH.
BINARY_NAME = "secimport"


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _is_elf(path: str) -> bool:
    """True for a compiled program (not a script such as a pyenv shim or the
    console-script entry point of an unrelated ``secimport`` distribution)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _scripts_dirs() -> list[tuple[str, str]]:
    dirs = [(sysconfig.get_path("scripts"), "the scripts directory of this Python environment")]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        dirs.append((sysconfig.get_path("scripts", user_scheme), "the user scripts directory (pip install --user)"))
    dirs.append((os.path.dirname(sys.executable), "the directory of sys.executable"))
    return dirs


def _source_checkout_binary() -> str | None:
    """``target/release/secimport`` when this package is imported from a clone
    of the repository (``python/secimport`` beside ``Cargo.toml``)."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "Cargo.toml").is_file() and (root / "crates" / "secimport").is_dir():
        return str(root / "target" / "release" / BINARY_NAME)
    return None


def find_secimport_bin() -> str:
    """Returns the path of the ``secimport`` binary.

    Looks, in order, at ``$SECIMPORT_BIN``, the scripts directories of this
    Python, the directory of ``sys.executable``, ``PATH`` and, in a source
    checkout, ``target/release/secimport``. Raises :class:`SecimportError`
    listing every place it looked when none holds the binary.
    """
    env = os.environ.get("SECIMPORT_BIN")
    if env:
        # An explicit choice is never second-guessed by a fallback.
        if _is_executable(env):
            return env
        raise SecimportError(f"SECIMPORT_BIN={env!r} is not an executable file; unset it to search the usual places")

    looked: list[str] = ["$SECIMPORT_BIN (not set)"]
    seen = set()

    def consider(path: str | None, why: str) -> str | None:
        if not path:
            return None
        if path in seen:
            return None
        seen.add(path)
        if not _is_executable(path):
            looked.append(f"{path} ({why}): not there")
            return None
        if not _is_elf(path):
            looked.append(f"{path} ({why}): a script, not the secimport binary")
            return None
        return path

    for directory, why in _scripts_dirs():
        if directory:
            found = consider(os.path.join(directory, BINARY_NAME), why)
            if found:
                return found
    on_path = shutil.which(BINARY_NAME)
    if on_path is None:
        looked.append(f"PATH={os.environ.get('PATH', '')!r}: no {BINARY_NAME} on it")
    else:
        found = consider(on_path, "found on PATH")
        if found:
            return found
    checkout = _source_checkout_binary()
    if checkout:
        found = consider(checkout, "the source checkout's release build")
        if found:
            return found

    places = "\n".join(f"  - {p}" for p in looked)
    raise SecimportError(
        "the secimport binary was not found. Looked at:\n"
        f"{places}\n"
        "Install the package with `pip install .` from the repository (the wheel carries the binary), "
        "build it with `cargo build --release -p secimport`, or set SECIMPORT_BIN=/path/to/secimport."
    )

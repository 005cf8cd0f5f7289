"""When the sandbox cannot be attached, secure_import and sandboxed raise a
SecimportError that says why; they never return something unprotected."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_python

# Prints what the call raised (or, wrongly, returned) and exits 0.
ATTEMPT = """
import secimport
try:
    result = {call}
except secimport.SecimportError as e:
    print("SecimportError:", e)
else:
    print("RETURNED", result)
"""

# The test runs as root and drops to nobody; what Python needs from root's
# home (pyenv's stdlib, sysconfig's data) is loaded first.
DROP_ROOT = """
import os, pickle, sysconfig, secimport, secimport._supervisor
sysconfig.get_paths()
os.setgroups([]); os.setgid(65534); os.setuid(65534)
"""


def fake_binary(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-secimport"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_not_root_raises_and_says_root_is_needed(root: None) -> None:
    code = DROP_ROOT + ATTEMPT.format(call='secimport.secure_import("pickle")')
    r = run_python(["-c", code], cwd=Path("/"))
    assert r.returncode == 0, r
    assert "RETURNED" not in r.stdout, r
    assert "SecimportError: could not attach the secimport sandbox" in r.stdout, r
    assert "needs root" in r.stdout and "CAP_BPF" in r.stdout, r
    assert "not root (euid 65534)" in r.stdout, r
    # The guard's own message is part of the exception.
    assert "exited with status 2" in r.stdout, r


def test_sandboxed_not_root_raises_at_decoration(root: None) -> None:
    code = DROP_ROOT + ATTEMPT.format(call="secimport.sandboxed()(len)")
    r = run_python(["-c", code], cwd=Path("/"))
    assert r.returncode == 0, r
    assert "RETURNED" not in r.stdout, r
    assert "not root (euid 65534)" in r.stdout, r


def test_guard_exiting_early_is_reported_with_its_stderr(tmp_path: Path) -> None:
    fake = fake_binary(tmp_path, 'echo "secimport: error: simulated: this kernel has no BTF" >&2\nexit 2')
    r = run_python(["-c", ATTEMPT.format(call='secimport.secure_import("pickle")')], env={"SECIMPORT_BIN": str(fake)})
    assert r.returncode == 0, r
    assert "RETURNED" not in r.stdout, r
    assert f"`{fake} guard --pid" in r.stdout, r
    assert "exited with status 2 before it was attached" in r.stdout, r
    assert "simulated: this kernel has no BTF" in r.stdout, r


def test_guard_printing_something_else_is_refused(tmp_path: Path) -> None:
    fake = fake_binary(tmp_path, "echo 'usage: something else'\nexec sleep 30")
    r = run_python(["-c", ATTEMPT.format(call='secimport.secure_import("pickle")')], env={"SECIMPORT_BIN": str(fake)})
    assert r.returncode == 0, r
    assert "RETURNED" not in r.stdout, r
    assert "printed b'usage: something else' instead of b'ready" in r.stdout, r


def test_guard_not_ready_in_time(tmp_path: Path) -> None:
    fake = fake_binary(tmp_path, "exec sleep 30")
    r = run_python(
        ["-c", ATTEMPT.format(call='secimport.secure_import("pickle")')],
        env={"SECIMPORT_BIN": str(fake), "SECIMPORT_ATTACH_TIMEOUT": "1"},
    )
    assert r.returncode == 0, r
    assert "did not report `ready` within 1 s" in r.stdout, r


def test_secimport_bin_pointing_nowhere(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    r = run_python(
        ["-c", ATTEMPT.format(call='secimport.secure_import("pickle")')], env={"SECIMPORT_BIN": str(missing)}
    )
    assert f"SECIMPORT_BIN='{missing}' is not an executable file" in r.stdout, r


def test_missing_binary_lists_where_it_looked(tmp_path: Path) -> None:
    """A copy of the package, run by an interpreter that has no secimport
    binary anywhere: the error lists every place looked at."""
    import secimport

    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    base_bin = os.path.dirname(base)
    if os.path.exists(os.path.join(base_bin, "secimport")):
        pytest.fail(f"precondition: {base_bin}/secimport exists; this test needs an interpreter without it")
    shutil.copytree(Path(secimport.__file__).parent, tmp_path / "pkg" / "secimport")
    env: dict[str, str | None] = {
        "SECIMPORT_BIN": None,
        "VIRTUAL_ENV": None,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),  # no ~/.local/bin/secimport
    }
    code = f"import sys; sys.path.insert(0, {str(tmp_path / 'pkg')!r})\n" + ATTEMPT.format(
        call='secimport.secure_import("pickle")'
    )
    r = run_python(["-s", "-c", code], python=base, env={**env, "PYTHONPATH": ""})
    assert "RETURNED" not in r.stdout, r
    out = r.stdout
    assert "the secimport binary was not found. Looked at:" in out, r
    assert "$SECIMPORT_BIN (not set)" in out, r
    # The environment's scripts directory (pyenv: beside the interpreter;
    # Debian: /usr/local/bin) and the interpreter's own directory.
    assert "(the scripts directory of this Python environment): not there" in out, r
    assert f"{base_bin}/secimport (" in out, r
    assert "PATH='/usr/bin:/bin': no secimport on it" in out, r
    assert "SECIMPORT_BIN=/path/to/secimport" in out, r

    # python -m secimport says the same and exits 2.
    r = run_python(["-s", "-m", "secimport", "--help"], python=base, env={**env, "PYTHONPATH": str(tmp_path / "pkg")})
    assert r.returncode == 2, r
    assert "the secimport binary was not found" in r.stderr, r


def test_bad_mode_is_a_value_error() -> None:
    import secimport

    with pytest.raises(ValueError, match="mode must be one of 'kill', 'log'"):
        secimport.secure_import("pickle", mode="deny")
    with pytest.raises(ValueError, match="mode must be one of"):
        secimport.sandboxed(mode="stop")

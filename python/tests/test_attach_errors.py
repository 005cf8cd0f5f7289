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


# A process that changed its uid is not dumpable (its /proc files stay
# root's), which a user starting it as nobody is not: make it so again.
AS_NOBODY = "import ctypes, ctypes.util, signal, time\n" + DROP_ROOT + "ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)\n"


def _as_nobody(code: str, timeout: float = 120) -> object:
    """Runs `code` as nobody with this interpreter, or Debian's
    /usr/bin/python3.11 when it is pyenv's (under /root, which nobody cannot
    read), with the installed package and its binary."""
    import secimport
    from secimport._binary import find_secimport_bin

    site = os.path.dirname(os.path.dirname(secimport.__file__))
    # This interpreter, unless nobody cannot read it (pyenv's, under /root).
    python = sys.executable
    if os.path.realpath(python).startswith("/root/"):
        python = "/usr/bin/python3.11"
    return run_python(
        ["-c", AS_NOBODY + code],
        python=python,
        cwd=Path("/"),
        env={"PYTHONPATH": site, "SECIMPORT_BIN": find_secimport_bin()},
        timeout=timeout,
    )


def _nobody_dir(tmp_path: Path) -> Path:
    """A directory nobody owns and can reach (pytest's are under root's
    0700 directory; guards refuse logs where another user writes)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="secimport-nobody-", dir="/tmp"))
    os.chown(d, 65534, 65534)
    (tmp_path / "nobody-dir").write_text(str(d))
    return d


# The seed's exploit: loads runs `touch MARKER` through eval.
EXPLOIT = """
payload = "__import__('os').system('touch {marker}')"
exploit = b"cbuiltins\\neval\\n(V" + payload.encode() + b"\\ntR."
"""


@pytest.mark.parametrize("mode", ["deny", "kill", "log"])
def test_not_root_guards_run_on_seccomp(root: None, tmp_path: Path, mode: str) -> None:
    """Without root the guard runs on the seccomp backend: deny fails the
    shell and the program goes on; kill kills it before the shell; log lets
    it run and reports it."""
    d = _nobody_dir(tmp_path)
    marker, log = d / "pwned", d / "guard.log"
    code = (
        EXPLOIT.format(marker=marker)
        + f"""
pickle = secimport.secure_import("pickle", mode={mode!r}, log_file={str(log)!r})
print("returned", pickle.loads(exploit), flush=True)
print("benign", pickle.loads(pickle.dumps([1, 2])), flush=True)
"""
    )
    r = _as_nobody(code)
    text = log.read_text() if log.exists() else ""
    if mode == "deny":
        assert r.returncode == 0, r
        assert "returned 32512" in r.stdout and "benign [1, 2]" in r.stdout, r
        assert not marker.exists(), r
        assert "VIOLATION (DENIED)" in text and "<secimport guard" in text, text
    elif mode == "kill":
        assert r.returncode == -9, r
        assert "returned" not in r.stdout, r
        assert not marker.exists(), r
        assert "VIOLATION (KILLED)" in text, text
    else:
        assert r.returncode == 0 and marker.exists(), r
        assert "VIOLATION (LOGGED)" in text, text


def test_sandboxed_without_root_denies(root: None, tmp_path: Path) -> None:
    d = _nobody_dir(tmp_path)
    marker, log = d / "pwned", d / "guard.log"
    code = f"""
import os
run = secimport.sandboxed(mode="deny", log_file={str(log)!r})(os.system)
print("rc", run("touch {marker}"), flush=True)
print("after", os.getppid() > 0, flush=True)
"""
    r = _as_nobody(code)
    assert r.returncode == 0, r
    assert "rc 32512" in r.stdout and "after True" in r.stdout, r
    assert not marker.exists(), r


def test_one_guard_mode_per_process_without_root(root: None, tmp_path: Path) -> None:
    """On the seccomp backend a second mode would take the first one's held
    syscalls: refused, saying why; and a forked child cannot add guards."""
    d = _nobody_dir(tmp_path)
    code = f"""
import os
secimport.secure_import("pickle", mode="deny", log_file={str(d / "g.log")!r})
try:
    secimport.secure_import("json", mode="kill", log_file={str(d / "g.log")!r})
except secimport.SecimportError as e:
    print("refused:", e, flush=True)
pid = os.fork()
if pid == 0:
    try:
        secimport.secure_import("csv", mode="deny", log_file={str(d / "g.log")!r})
    except secimport.SecimportError as e:
        print("child refused:", e, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""
    r = _as_nobody(code)
    assert r.returncode == 0, r
    assert "refused:" in r.stdout and "one mode per process" in r.stdout, r
    assert "child refused:" in r.stdout and "before forking" in r.stdout, r


def test_a_dead_seccomp_supervisor_kills_the_process(root: None, tmp_path: Path) -> None:
    """Killing the guard's supervisor (SIGKILL) ends the guarded process
    (status 137): its watchdog sees the supervisor's pipe close (otherwise
    its held syscalls would fail with ENOSYS and the program go on)."""
    d = _nobody_dir(tmp_path)
    code = f"""
import os, signal, time
secimport.secure_import("json", mode="deny", log_file={str(d / "g.log")!r})
sup = secimport._supervisor.supervisor("deny")._proc.pid
print("supervisor", sup, flush=True)
os.kill(sup, signal.SIGKILL)
time.sleep(10)
print("still alive", flush=True)
"""
    r = _as_nobody(code, timeout=60)
    assert "supervisor" in r.stdout, r
    assert "still alive" not in r.stdout, r
    assert r.returncode == 137, r


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

    with pytest.raises(ValueError, match="mode must be one of 'kill', 'log', 'deny'"):
        secimport.secure_import("pickle", mode="refuse")
    with pytest.raises(ValueError, match="mode must be one of"):
        secimport.sandboxed(mode="stop")

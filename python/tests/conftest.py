"""Fixtures for the Python package's tests.

Every test that attaches the sandbox runs a small program from ``programs/``
in a subprocess (a guarded process may be SIGKILLed) and looks at its exit
status, its output, marker files and the guard's log. Those tests need root
and a BPF-capable kernel: without root they fail, they are never skipped.

They run against whatever ``import secimport`` finds for ``sys.executable``:
``scripts/test-python.sh`` runs them in a fresh virtualenv where the wheel is
installed (and sets SECIMPORT_TEST_INSTALLED=1 so that this is checked).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import pytest

PROGRAMS = Path(__file__).resolve().parent / "programs"

#: The seed's exploit: eval("__import__('os').system('echo Exploited!')").
SEED_EXPLOIT = (
    b"\x80\x04\x95F\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
    b"\x8c*__import__('os').system('echo Exploited!')\x94\x85\x94R\x94."
)

KILLED = -9


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("SECIMPORT_TEST_INSTALLED") == "1":
        import secimport

        where = Path(secimport.__file__).resolve()
        if "site-packages" not in where.parts:
            raise pytest.UsageError(
                f"SECIMPORT_TEST_INSTALLED=1 but secimport was imported from {where}, not from an installed wheel"
            )


@pytest.fixture
def root() -> None:
    """Fails (never skips) the test when not root: the sandbox loads eBPF."""
    if os.geteuid() != 0:
        pytest.fail(
            "this test attaches the secimport sandbox, which loads eBPF programs and needs root: "
            "run the tests as root (sudo ./scripts/test-python.sh)",
            pytrace=False,
        )


class Result:
    """A finished program: exit status (negative: killed by that signal),
    output, and the guard log it was given."""

    def __init__(self, proc: subprocess.CompletedProcess[str], log: Path | None) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.args = proc.args
        self.log_path = log

    @property
    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text()

    def __repr__(self) -> str:
        return (
            f"<{self.args!r} exited {self.returncode}>\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            f"\n--- log {self.log_path}\n{self.log}"
        )


def run_python(
    args: Sequence[str],
    *,
    python_flags: Sequence[str] = (),
    env: dict[str, str | None] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    python: str | None = None,
    timeout: float = 120,
) -> Result:
    """Runs ``python [flags] args`` (a program name in programs/ is resolved).
    ``env`` adds to the environment; a None value removes that variable."""
    argv: list[str] = [python or sys.executable, *python_flags]
    first, *rest = args
    program = PROGRAMS / first
    argv += [str(program) if program.is_file() else first, *rest]
    full_env = dict(os.environ)
    full_env.pop("PYTHONOPTIMIZE", None)
    # Programs import their helper modules (programs/*.py) from here.
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROGRAMS), full_env.get("PYTHONPATH", "")) if p)
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd) if cwd else None,
        timeout=timeout,
    )
    return Result(proc, log)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "guard.log"


class Listener:
    """A TCP server on 127.0.0.1 counting the connections it accepted."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self._count += 1
            conn.close()

    def accepted(self, settle: float = 0.5) -> int:
        time.sleep(settle)
        return self._count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()

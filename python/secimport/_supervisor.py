"""The supervisor: a ``secimport guard`` process that follows this process.

``secimport guard --pid PID --mode MODE`` loads the BPF programs, starts
following this process (its threads, and the children it forks from then on),
prints ``ready PID`` once attached, then takes commands on stdin, one per line,
each answered by one line on stdout (``ok`` or ``error <message>``):

    guard <id> <allow_shells 0|1> <allow_networking 0|1> <allow_file_writes 0|1> <log-path>
    file <id> <co_filename>
    root <path>

The channel only lets guards get stricter: ``guard`` for an id that exists
must deny at least what it denied (same log), ``file`` may not bind a file to
a guard denying less than the file is already denied, and nothing removes a
guard; the supervisor answers ``error ...`` otherwise. The kernel denies
writes to it from under a guard. So this package writes to it only from
``secure_import``/``sandboxed``, which refuse to run under a guard:

- on the first use of a mode: ``root`` for each ``sys.path`` entry (names in
  reports);
- when a guard is made: ``guard``, then ``file`` for its synthetic file name
  and the module's source files (every ``.py`` under a package);
- right after a guarded import returned: ``file`` for source files the import
  revealed that the module spec did not name.

Nothing else does: proxies of submodules, wrappers and guarded subclasses are
made in-process and need no command.

There is one supervisor per mode (kill, log) per Python process, started on
first use and kept for the life of the process. If it dies while this process
lives, the kernel kills this process (fail closed); so it runs in its own
session (a Ctrl-C in the terminal does not reach it) and its stdin stays open
until this process exits.

Its stderr (where violations are also reported) reaches ours through ``tee``,
which keeps a copy of what it printed before it was attached: when attaching
fails, that message goes into the exception. ``tee`` is started before the
guard, so it is not part of the followed tree, and it outlives us, so a report
printed after this process was killed still reaches the terminal.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Sequence

from ._binary import find_secimport_bin
from ._errors import SecimportError

#: Modes the guard understands. ``deny`` (the syscall fails with EPERM, the
#: program goes on) runs on the seccomp backend.
MODES = ("kill", "log", "deny")

#: Seconds to wait for ``ready`` (loading and verifying the BPF programs).
DEFAULT_ATTACH_TIMEOUT = 60.0
#: Seconds to wait for the answer to one batch of commands.
COMMAND_TIMEOUT = 30.0
#: Commands sent before reading their answers: the guard's answers (3 bytes
#: each) must fit in the pipe while we are still writing.
BATCH = 512


def _attach_timeout() -> float:
    raw = os.environ.get("SECIMPORT_ATTACH_TIMEOUT")
    if not raw:
        return DEFAULT_ATTACH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise SecimportError(f"SECIMPORT_ATTACH_TIMEOUT={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SecimportError(f"SECIMPORT_ATTACH_TIMEOUT={raw!r} must be positive")
    return value


def _privilege_hint() -> str:
    uid = os.geteuid()
    if uid == 0:
        return ""
    return (
        f"\nThis process is not root (euid {uid}): secimport loads eBPF programs into the kernel, "
        "which needs root (or the capabilities CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE). "
        "Run the program as root, e.g. with sudo."
    )


class _LineReader:
    """Reads lines from a pipe with a deadline (no buffering surprises: the
    same buffer serves ``ready`` and every answer)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = b""

    def readline(self, deadline: float) -> bytes | None:
        """The next line without its newline; None at end of file; raises
        TimeoutError at the deadline."""
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            with selectors.DefaultSelector() as sel:
                sel.register(self._fd, selectors.EVENT_READ)
                if not sel.select(remaining):
                    continue
            chunk = os.read(self._fd, 4096)
            if not chunk:
                if self._buf:
                    line, self._buf = self._buf, b""
                    return line
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line


class Supervisor:
    """One ``secimport guard`` process following this process in one mode."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.pid = os.getpid()
        self.binary = find_secimport_bin()
        self.argv = [self.binary, "guard", "--pid", str(self.pid), "--mode", mode]
        # Without root, or for deny mode: the seccomp backend, which this
        # process installs on itself (see _install_filter).
        self.seccomp = mode == "deny" or os.geteuid() != 0 or os.environ.get("SECIMPORT_BACKEND") == "seccomp"
        if self.seccomp:
            self.argv += ["--backend", "seccomp"]
        self._watchdog_w = -1
        self._lock = threading.Lock()
        self._early_stderr: IO[bytes] | None = None
        self._tee: subprocess.Popen[bytes] | None = None
        self._proc = self._spawn()
        self._stdout = _LineReader(self._proc.stdout.fileno())  # type: ignore[union-attr]
        self._stdin: IO[bytes] = self._proc.stdin  # type: ignore[assignment]
        # A second descriptor for the guard's stdin that nothing closes: even
        # when interpreter shutdown collects the pipe objects, the guard keeps
        # its stdin until this process has really exited.
        self._keepalive = os.dup(self._stdin.fileno())
        try:
            self._wait_ready()
            # Our own sys.path (a virtualenv's differs from the interpreter's)
            # names modules in the guard's reports.
            roots = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
            self.request([b"root " + r.encode("utf-8", "surrogateescape") for r in reversed(roots)])
        except BaseException:
            os.close(self._keepalive)
            self._stdin.close()
            self._proc.stdout.close()  # type: ignore[union-attr]
            raise

    # -- starting ---------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        err_target: int | None = None  # None: the guard inherits our stderr
        err_r = err_w = -1
        tee_path = shutil.which("tee")
        if tee_path:
            self._early_stderr = tempfile.TemporaryFile(prefix="secimport-guard-stderr-")
            err_r, err_w = os.pipe()
            copy_fd = self._early_stderr.fileno()
            try:
                # -p: keep going when our stderr is a pipe whose reader went
                # away; the guard must never see EPIPE (it would die, and the
                # kernel would kill us with it).
                self._tee = subprocess.Popen(
                    [tee_path, "-p", "-a", f"/dev/fd/{copy_fd}"],
                    stdin=err_r,
                    stdout=2,  # our stderr
                    pass_fds=(copy_fd,),
                    start_new_session=True,
                )
                err_target = err_w
            except OSError:
                self._tee = None
                self._early_stderr.close()
                self._early_stderr = None
            finally:
                os.close(err_r)
        pass_fds: tuple[int, ...] = ()
        if self.seccomp:
            # The watchdog: the supervisor holds the write end; if it dies,
            # our read sees the end of the pipe and this process kills itself
            # (a dead seccomp supervisor would otherwise leave the program
            # running, its held syscalls failing with ENOSYS).
            self._watchdog_r, self._watchdog_w = os.pipe()
            pass_fds = (self._watchdog_w,)
        try:
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err_target,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        except OSError as e:
            raise SecimportError(f"could not start {self.binary}: {e}") from e
        finally:
            if err_w >= 0:
                os.close(err_w)
            if self._watchdog_w >= 0:
                os.close(self._watchdog_w)

    def _early_output(self) -> str:
        """What the guard printed on stderr (once it has exited)."""
        if self._early_stderr is None:
            return "(its messages are printed above, on stderr)"
        if self._tee is not None:
            try:
                self._tee.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._early_stderr.seek(0)
        text = self._early_stderr.read().decode("utf-8", "replace").strip()
        return text or "(it printed nothing on stderr)"

    def _command_line(self) -> str:
        return " ".join(self.argv)

    def _wait_ready(self) -> None:
        timeout = _attach_timeout()
        try:
            line = self._stdout.readline(time.monotonic() + timeout)
            if self.seccomp and line is not None and line.startswith(b"filter "):
                fd = _install_filter(bytes.fromhex(line[len(b"filter ") :].decode()), self._proc.pid)
                try:
                    self._stdin.write(b"listener %d\n" % fd)
                    self._stdin.flush()
                    line = self._stdout.readline(time.monotonic() + timeout)
                finally:
                    os.close(fd)
                if line is not None and line.strip() == f"ready {self.pid}".encode():
                    _start_watchdog(self._watchdog_r)
        except TimeoutError:
            self._proc.kill()
            self._proc.wait()
            raise SecimportError(
                f"could not attach the secimport sandbox to this process (pid {self.pid}): "
                f"`{self._command_line()}` did not report `ready` within {timeout:g} s "
                "(set SECIMPORT_ATTACH_TIMEOUT to wait longer). Its output:\n"
                f"{self._early_output()}"
            ) from None
        expected = f"ready {self.pid}".encode()
        if line is not None and line.strip() == expected:
            self._forget_early_output()
            return
        if line is None:
            status = self._proc.wait()
            what = f"exited with status {status} before it was attached"
        else:
            self._proc.kill()
            status = self._proc.wait()
            what = f"printed {line!r} instead of {expected!r} (is SECIMPORT_BIN the right program?)"
        raise SecimportError(
            f"could not attach the secimport sandbox to this process (pid {self.pid}, {self.mode} mode): "
            f"`{self._command_line()}` {what}. Its output:\n"
            f"{self._early_output()}"
            f"{'' if self.seccomp else _privilege_hint()}"
        )

    def _forget_early_output(self) -> None:
        # tee keeps its own descriptor of the (unlinked) file; ours can go.
        if self._early_stderr is not None:
            self._early_stderr.close()
            self._early_stderr = None

    # -- commands ---------------------------------------------------------

    def request(self, commands: Sequence[bytes]) -> None:
        """Sends commands (without newlines) and checks that each is answered
        ``ok``; raises SecimportError naming the first that was not."""
        with self._lock:
            for start in range(0, len(commands), BATCH):
                self._request_batch(commands[start : start + BATCH])

    def _request_batch(self, batch: Sequence[bytes]) -> None:
        if self._proc.poll() is not None:
            raise SecimportError(
                f"the secimport guard (pid {self._proc.pid}, {self.mode} mode) exited with status "
                f"{self._proc.returncode}; this process is no longer supervised"
            )
        try:
            self._stdin.write(b"".join(c + b"\n" for c in batch))
            self._stdin.flush()
        except OSError as e:
            raise SecimportError(f"the secimport guard (pid {self._proc.pid}) stopped reading commands: {e}") from e
        deadline = time.monotonic() + COMMAND_TIMEOUT
        errors: list[str] = []
        for command in batch:
            try:
                answer = self._stdout.readline(deadline)
            except TimeoutError:
                raise SecimportError(
                    f"the secimport guard (pid {self._proc.pid}) did not answer {command!r} "
                    f"within {COMMAND_TIMEOUT:g} s"
                ) from None
            if answer is None:
                raise SecimportError(f"the secimport guard (pid {self._proc.pid}) exited while answering {command!r}")
            if answer.strip() != b"ok":
                errors.append(f"{command.decode('utf-8', 'replace')!r}: {answer.decode('utf-8', 'replace')}")
        if errors:
            raise SecimportError("the secimport guard refused:\n" + "\n".join(f"  {e}" for e in errors))


# -- the seccomp backend ------------------------------------------------------

_SYS_SECCOMP = 317  # x86-64
_SECCOMP_SET_MODE_FILTER = 1
_TSYNC, _NEW_LISTENER, _TSYNC_ESRCH, _WAIT_KILLABLE_RECV = 1, 8, 16, 32
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PTRACER = 0x59616D61


def _install_filter(program: bytes, supervisor_pid: int) -> int:
    """Installs the seccomp program on every thread of this process and
    returns the listener's descriptor (for the supervisor to take)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # Where Yama restricts ptrace, let the supervisor read our memory (it
    # is our child, not our ancestor); without Yama this fails harmlessly.
    libc.prctl(_PR_SET_PTRACER, supervisor_pid, 0, 0, 0)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SecimportError(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
    base = _TSYNC | _NEW_LISTENER | _TSYNC_ESRCH
    for flags in (base | _WAIT_KILLABLE_RECV, base):
        fd = libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != 22:  # EINVAL: a kernel without WAIT_KILLABLE_RECV
            break
    raise SecimportError(
        f"could not install the seccomp filter: {os.strerror(err)} (the seccomp backend needs "
        "seccomp user notification, Linux 5.7+)"
    )


def _start_watchdog(fd: int) -> None:
    """Ends this process when the supervisor's end of `fd` closes. With
    `_exit` (exit_group, which the filter never holds): a signal to itself
    would be a held `kill`, failing with ENOSYS once nobody answers."""
    exit_now, getpid, read = os._exit, os.getpid, os.read
    me = getpid()

    def watch() -> None:
        try:
            while read(fd, 1):
                pass
        except OSError:
            pass
        if getpid() == me:
            exit_now(137)

    threading.Thread(target=watch, name="secimport-watchdog", daemon=True).start()


_lock = threading.Lock()
_supervisors: dict[str, Supervisor] = {}


def supervisor(mode: str) -> Supervisor:
    """The supervisor for ``mode``, started (and attached) on first use."""
    with _lock:
        # The seccomp backend: one filter, so one supervisor, per process
        # tree. A filter added later would take every held syscall from the
        # first one's supervisor, which alone knows the guards made before.
        seccomp = [s for s in _supervisors.values() if s.seccomp]
        if seccomp:
            sup = seccomp[0]
            if sup.mode != mode:
                raise SecimportError(
                    f"this process has guards in {sup.mode} mode on the seccomp backend (no root); "
                    f"a guard in {mode} mode cannot be added: use one mode per process there "
                    "(as root, the eBPF backend has none of this limit)"
                )
            if sup.pid != os.getpid():
                # The child is followed by its parent's filter and supervisor,
                # whose command channel the parent still uses.
                raise SecimportError(
                    "a forked child cannot add guards on the seccomp backend (no root): the "
                    "guards of its parent still judge it; make the guards before forking"
                )
            return sup
        sup = _supervisors.get(mode)
        # A forked child has its own pid: the parent's supervisor follows it
        # (guards inherited through its copied stack keep working), but new
        # guards are defined in a supervisor of its own.
        if sup is None or sup.pid != os.getpid():
            sup = Supervisor(mode)
            _supervisors[mode] = sup
        return sup


def _after_fork_in_child() -> None:
    # The lock may have been held by another thread at fork time.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

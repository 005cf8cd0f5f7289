"""A pytest plugin: learn a test suite's syscalls per module, or run the
suite under a secimport policy.

::

    pytest --secimport-trace trace.json            # record the session (what `secimport trace` writes)
    secimport build trace.json                     # -> policy.yaml + policy.json
    pytest --secimport-policy policy.yaml --secimport-mode kill   # enforce it

Registered through the ``pytest11`` entry point as ``secimport`` (disable it
with ``-p no:secimport``). Without its options it does nothing: no re-exec, no
hook beyond reading the options.

How: when an option is given, the plugin does not sandbox the process it runs
in (that process already ran pytest's start-up unwatched). It re-executes the
same pytest command under the ``secimport`` binary that the wheel ships, from
``pytest_cmdline_main`` before any test is collected::

    secimport trace -o trace.json -- python -m pytest ARGS
    secimport run --policy policy.yaml [--mode M] --log-file LOG -- python -m pytest ARGS

so the whole session, its children (xdist workers, subprocesses) included,
is watched from the first instruction. The inner pytest sees
``SECIMPORT_PYTEST_INNER=1`` and does not re-execute again; it only tells the
outer one which test is running (one line per test start and end on an
inherited pipe). The outer one then exits with the inner's status, after
listing the violations (from the JSON Lines log of ``secimport run``) in a
``secimport`` section: the right, the modules that refused it, the test
that was running and the Python stack that asked. Any violation fails the
session (exit status 1), as ``secimport run`` does.

pytest is not a dependency of the package: this module is imported only by
pytest, through its entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

import pytest

#: Set in the environment of the re-executed pytest (and so of everything it
#: starts): the plugin then never re-executes.
INNER_ENV = "SECIMPORT_PYTEST_INNER"
#: The descriptor of the pipe on which the inner pytest reports each test's
#: start and end; removed from the environment by the inner pytest itself,
#: so that its own children (xdist workers) do not write on another file.
PIPE_ENV = "SECIMPORT_PYTEST_PIPE_FD"

MODES = ("log", "kill", "deny")
BACKENDS = ("auto", "bpf", "seccomp")

#: Options of this plugin that take a value, removed from the inner command.
_VALUE_OPTIONS = (
    "--secimport-trace",
    "--secimport-policy",
    "--secimport-mode",
    "--secimport-log",
    "--secimport-backend",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("secimport", "secimport: per-module syscall sandbox for the test session")
    group.addoption(
        "--secimport-trace",
        metavar="FILE",
        default=None,
        help="Run the session under `secimport trace` and write the syscalls of each module to FILE "
        "(make a policy from it with `secimport build FILE`).",
    )
    group.addoption(
        "--secimport-policy",
        metavar="FILE",
        default=None,
        help="Run the session under `secimport run --policy FILE`: any violation fails the session "
        "and is listed with the right, the modules that refused it and the Python stack. "
        "Also the ini option secimport_policy.",
    )
    group.addoption(
        "--secimport-mode",
        choices=MODES,
        default=None,
        help="With --secimport-policy: log (report, go on), kill (kill the session at the first violation) "
        "or deny (the syscall fails with EPERM: the test sees PermissionError; seccomp backend). "
        "Default: the policy's own mode. Also the ini option secimport_mode.",
    )
    group.addoption(
        "--secimport-log",
        metavar="FILE",
        default=None,
        help="With --secimport-policy: where `secimport run` writes the violations (JSON Lines). "
        "Default: a new private temporary directory, kept (and named) when there were violations.",
    )
    group.addoption(
        "--secimport-backend",
        choices=BACKENDS,
        default=None,
        help="auto (default: eBPF as root, seccomp otherwise and for deny mode), bpf or seccomp.",
    )
    parser.addini(
        "secimport_policy", "Policy to run the session under (as --secimport-policy), relative to the ini file."
    )
    parser.addini("secimport_mode", "Mode for secimport_policy: log, kill or deny (as --secimport-mode).")


# ---------------------------------------------------------------- the outer pytest


def _ini_path(config: pytest.Config, value: str) -> Path:
    inipath = getattr(config, "inipath", None)
    base = inipath.parent if inipath else config.invocation_params.dir
    return (Path(base) / value).resolve()


def _settings(config: pytest.Config) -> dict[str, Any] | None:
    """What was asked for, or None when the plugin has nothing to do.
    Raises pytest.UsageError on contradictory options."""
    here = Path(config.invocation_params.dir)
    trace = config.getoption("secimport_trace")
    policy = config.getoption("secimport_policy")
    mode = config.getoption("secimport_mode")
    policy_path: Path | None = (here / policy).resolve() if policy else None
    ini_mode = (config.getini("secimport_mode") or "").strip()
    if ini_mode and ini_mode not in MODES:
        raise pytest.UsageError(
            f"{getattr(config, 'inipath', None) or 'the ini file'}: secimport_mode = {ini_mode!r} "
            f"is not a mode; use one of {', '.join(MODES)}"
        )
    if policy_path is None and not trace:
        ini_policy = (config.getini("secimport_policy") or "").strip()
        if ini_policy:
            policy_path = _ini_path(config, ini_policy)
    if trace and policy_path is not None:
        raise pytest.UsageError(
            "--secimport-trace and --secimport-policy are exclusive: trace first, `secimport build`, then run "
            "under the policy"
        )
    if trace:
        for name in ("secimport_mode", "secimport_log"):
            if config.getoption(name):
                raise pytest.UsageError(f"--{name.replace('_', '-')} needs --secimport-policy, not --secimport-trace")
        return {"action": "trace", "trace": (here / trace).resolve(), "backend": config.getoption("secimport_backend")}
    if policy_path is None:
        if mode or config.getoption("secimport_log") or config.getoption("secimport_backend"):
            raise pytest.UsageError(
                "--secimport-mode, --secimport-log and --secimport-backend need --secimport-policy FILE "
                "(or --secimport-trace FILE for --secimport-backend)"
            )
        return None
    log = config.getoption("secimport_log")
    return {
        "action": "run",
        "policy": policy_path,
        "mode": mode or ini_mode or None,
        "log": (here / log).resolve() if log else None,
        "backend": config.getoption("secimport_backend"),
    }


def _strip_own_options(args: Sequence[str]) -> list[str]:
    """The command line without this plugin's options (the inner pytest
    would ignore them; they are removed so that its header shows the user's
    own arguments)."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--":
            out.extend(args[i:])
            break
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if any(arg.startswith(opt + "=") for opt in _VALUE_OPTIONS):
            continue
        out.append(arg)
    return out


def _backend_name(settings: dict[str, Any]) -> str:
    backend = settings.get("backend") or "auto"
    if backend == "auto":
        if settings.get("mode") == "deny" or os.geteuid() != 0:
            return "seccomp backend"
        return "eBPF backend"
    return {"bpf": "eBPF backend", "seccomp": "seccomp backend"}[backend]


class _Bookkeeping:
    """Reads the inner pytest's `start NODEID` / `end NODEID` lines: which
    tests were running when the session ended (killed, or not)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.running: dict[str, None] = {}
        self.started = 0
        self._thread = threading.Thread(target=self._read, name="secimport-bookkeeping", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with os.fdopen(self._fd, "rb") as pipe:
            for raw in pipe:
                what, _, nodeid = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
                if what == "start":
                    self.running[nodeid] = None
                    self.started += 1
                elif what == "end":
                    self.running.pop(nodeid, None)

    def join(self) -> None:
        # The pipe closes when the last process holding it exits; a
        # straggler that inherited it does not hold the report up.
        self._thread.join(5)


def _command(binary: str, settings: dict[str, Any], log: Path | None, inner: list[str]) -> list[str]:
    cmd = [binary, settings["action"]]
    if settings["action"] == "trace":
        cmd += ["-o", str(settings["trace"])]
    else:
        cmd += ["--policy", str(settings["policy"]), "--log-file", str(log)]
        if settings["mode"]:
            cmd += ["--mode", settings["mode"]]
    if settings.get("backend"):
        cmd += ["--backend", settings["backend"]]
    # The same interpreter, with the same flags (-O, -X, -W ...).
    python = [sys.executable, *subprocess._args_from_interpreter_flags()]  # type: ignore[attr-defined]
    return [*cmd, "--", *python, "-m", "pytest", *inner]


def _say(message: str) -> None:
    sys.stderr.write(f"secimport: {message}\n")
    sys.stderr.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if os.environ.get(INNER_ENV) == "1":
        return None
    if getattr(config.option, "help", False) or getattr(config.option, "version", False):
        return None
    settings = _settings(config)
    if settings is None:
        return None

    from ._binary import find_secimport_bin
    from ._errors import SecimportError

    try:
        binary = find_secimport_bin()
    except SecimportError as e:
        raise pytest.UsageError(f"the secimport pytest plugin needs the secimport binary: {e}") from None

    log: Path | None = None
    own_log_dir: str | None = None
    if settings["action"] == "run":
        if not settings["policy"].is_file():
            where = (
                ""
                if config.getoption("secimport_policy")
                else f" (secimport_policy in {getattr(config, 'inipath', None)})"
            )
            raise pytest.UsageError(
                f"the policy {settings['policy']}{where} does not exist: make one with "
                "`pytest --secimport-trace trace.json` then `secimport build trace.json`"
            )
        log = settings["log"]
        if log is None:
            own_log_dir = tempfile.mkdtemp(prefix="secimport-pytest-")
            log = Path(own_log_dir) / "violations.jsonl"
        elif log.exists():
            # Only this session's violations are reported.
            log.unlink()

    inner = _strip_own_options([str(a) for a in config.invocation_params.args])
    cmd = _command(binary, settings, log, inner)
    backend = _backend_name(settings)
    if settings["action"] == "trace":
        _say(f"tracing the test session into {settings['trace']} ({backend})")
    else:
        mode = settings["mode"] or "the policy's own"
        _say(f"running the test session under {settings['policy']} ({mode} mode, {backend})")

    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env[INNER_ENV] = "1"
    env[PIPE_ENV] = str(write_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.Popen(cmd, cwd=str(config.invocation_params.dir), env=env, pass_fds=(write_fd,))
    except OSError as e:
        os.close(read_fd)
        os.close(write_fd)
        raise pytest.UsageError(f"cannot start {binary}: {e}") from None
    os.close(write_fd)
    book = _Bookkeeping(read_fd)
    while True:
        try:
            status = proc.wait()
            break
        except KeyboardInterrupt:
            # The terminal's Ctrl-C reached secimport and the session too:
            # wait for them to end.
            continue
    book.join()
    if status < 0:  # secimport itself was killed by a signal
        status = 128 - status

    if settings["action"] == "trace":
        return _report_trace(settings["trace"], status, book)
    assert log is not None
    return _report_run(config, settings, log, own_log_dir, status, book)


def _report_trace(trace: Path, status: int, book: _Bookkeeping) -> int:
    if status == 2 and not trace.is_file():
        _say("secimport trace refused to run (its message is above); nothing was traced")
        return 2
    if trace.is_file():
        try:
            modules = len(json.loads(trace.read_text()).get("modules", {}))
            what = f"{modules} modules, " if modules else ""
        except (OSError, ValueError, AttributeError):
            what = ""
        _say(
            f"wrote {trace} ({what}{book.started} tests started); make a policy with `secimport build {trace}`"
            + ("" if status == 0 else f" (the session exited with status {status}: the trace has what it ran)")
        )
    else:
        _say(f"no trace was written to {trace} (status {status})")
    return status


def _read_log(log: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    violations: list[dict[str, Any]] = []
    summary: dict[str, Any] | None = None
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return violations, summary
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if record.get("event") == "violation":
            violations.append(record)
        elif record.get("event") == "summary":
            summary = record
    return violations, summary


def _test_of(stack: Sequence[dict[str, Any]]) -> str | None:
    """The test function (or fixture) on a violation's stack: the frame
    that pytest's own call of it called, as `file:line in function`."""
    for i, frame in enumerate(stack):
        path = str(frame.get("file", "")).replace(os.sep, "/")
        function = str(frame.get("function", ""))
        caller = (path.endswith("_pytest/python.py") and function.endswith("pytest_pyfunc_call")) or (
            path.endswith("_pytest/fixtures.py") and function.endswith("call_fixture_func")
        )
        if caller and i > 0:
            inner = stack[i - 1]
            kind = "fixture" if path.endswith("fixtures.py") else "test"
            return f"{kind} {inner.get('function')} ({inner.get('file')}:{inner.get('line')})"
    for frame in stack:
        name = os.path.basename(str(frame.get("file", "")))
        if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
            return f"{frame.get('function')} ({frame.get('file')}:{frame.get('line')})"
    return None


_ACTIONS = {"log": "LOGGED", "kill": "KILLED", "deny": "DENIED", "stop": "STOPPED"}


def _own_frames(stack: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """The stack down to the test function (or fixture) that pytest called:
    the frames below it are pytest's own and the same for every test."""
    for i, frame in enumerate(stack):
        path = str(frame.get("file", "")).replace(os.sep, "/")
        if "/_pytest/" in path and i > 0:
            return stack[:i]
    return stack


def _terminal(config: pytest.Config) -> Any:
    try:
        from _pytest.config import create_terminal_writer

        return create_terminal_writer(config, sys.stdout)
    except Exception:  # an older or newer pytest: plain text
        return None


def _report_run(
    config: pytest.Config,
    settings: dict[str, Any],
    log: Path,
    own_log_dir: str | None,
    status: int,
    book: _Bookkeeping,
) -> int:
    violations, summary = _read_log(log)
    killed = any(v.get("action") == "kill" for v in violations)
    if not violations and not (summary and summary.get("violations")):
        if own_log_dir:
            shutil.rmtree(own_log_dir, ignore_errors=True)
        if status == 2:
            _say(
                "the session ended with status 2 and no violation: "
                "an error of secimport or pytest (above), or an interruption"
            )
        else:
            _say(f"no violation of {settings['policy']}")
        return status

    tw = _terminal(config)
    lines: list[str] = []
    if killed:
        lines.append("the session was KILLED at its first violation (kill mode): the tests after it did not run")
        if book.running:
            lines.append("running then: " + ", ".join(book.running))
    total = len(violations)
    if summary and summary.get("violations", 0) > total:
        lines.append(
            f"{summary['violations']} violations counted, {total} reported in full "
            f"({summary.get('repeats', 0)} repeats of a reported one)"
        )
    programs: dict[Any, list[str]] = {}
    for v in violations:
        action = _ACTIONS.get(str(v.get("action")), str(v.get("action", "")).upper())
        stack = v.get("stack") or []
        if not stack and list(v.get("denied_by") or []) == ["<non-python>"]:
            # A program that is not Python: one line for all it did.
            exe = next((a.get("value") for a in v.get("arguments") or [] if a.get("kind") == "exec"), None)
            key = (v.get("pid"), v.get("comm"), exe)
            programs.setdefault(key, []).append(f"{v.get('syscall')} ({action})")
            continue
        lines.append("")
        head = f"{v.get('syscall')} {action} in pid {v.get('pid')} ({v.get('comm')})"
        test = _test_of(stack)
        if test:
            head += f" during {test}"
        lines.append(head)
        lines.append("  refused by: " + (", ".join(v.get("denied_by") or []) or "?"))
        if v.get("inherited"):
            lines.append("  inherited from the thread's creator: " + ", ".join(v["inherited"]))
        for arg in v.get("arguments") or []:
            lines.append(f"  {arg.get('kind')}: {arg.get('value')}")
        if stack:
            lines.append("  Python stack (innermost first):")
            shown = _own_frames(stack)
            for frame in shown:
                line = frame.get("line")
                where = f"{frame.get('file')}:{line}" if line is not None else str(frame.get("file"))
                lines.append(f"    {where} in {frame.get('function')}  [{frame.get('module')}]")
            depth = max(int(v.get("depth") or 0), len(stack))
            if depth > len(shown):
                lines.append(f"    ... {depth - len(shown)} more frames (pytest's own)")
        else:
            lines.append("  (no Python frame)")
    for (pid, comm, exe), rights in programs.items():
        lines.append("")
        lines.append(
            f"{exe or comm} (pid {pid}, not Python; the policy does not name this program): " + ", ".join(rights)
        )
    lines.append("")
    lines.append(
        f"violations logged to {log}; if this behaviour is expected, "
        "trace the suite again (pytest --secimport-trace) and rebuild the policy"
    )

    title = f"secimport: {total} violation{'s' if total != 1 else ''} of {settings['policy'].name}"
    if tw is not None:
        tw.line()
        tw.sep("=", title, red=True, bold=True)
        for line in lines:
            tw.line(line)
        verdict = "KILLED" if killed else "FAILED"
        tw.sep("=", f"{verdict}: the session broke its secimport policy", red=True, bold=True)
    else:
        print(f"\n===== {title} =====")
        print("\n".join(lines))
    sys.stdout.flush()
    return status if status not in (0, 5) else 1


# ---------------------------------------------------------------- the inner pytest

_pipe_fd: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _pipe_fd
    if os.environ.get(INNER_ENV) != "1":
        return
    value = os.environ.pop(PIPE_ENV, None)
    if not value:
        return
    try:
        fd = int(value)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        os.set_inheritable(fd, False)
    except (ValueError, OSError):
        return
    _pipe_fd = fd


def _tell(what: str, nodeid: str) -> None:
    global _pipe_fd
    if _pipe_fd is None:
        return
    # One write of at most PIPE_BUF bytes: lines never interleave.
    data = f"{what} {nodeid}".replace("\n", " ").encode("utf-8", "replace")[:4000] + b"\n"
    try:
        os.write(_pipe_fd, data)
    except OSError:
        _pipe_fd = None


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _tell("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    _tell("end", nodeid)

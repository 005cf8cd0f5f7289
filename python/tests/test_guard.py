"""End to end: programs run under secure_import/sandboxed with the real
supervisor (root + BPF). Each asserts on exit status, output, marker files and
the guard's log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import KILLED, Listener, run_python

pytestmark = pytest.mark.usefixtures("root")


def assert_killed_block(log: str, syscalls: str) -> None:
    """The log has a KILLED block for one of ``syscalls`` (a regex), with a
    Python stack, innermost first."""
    assert re.search(rf"VIOLATION \(KILLED\) ({syscalls}) by pid \d+ tid \d+", log), log
    assert "Python stack (innermost first):" in log, log


def test_seed_pickle_example_is_killed_before_the_shell_runs(log: Path) -> None:
    r = run_python(["seed_pickle.py", str(log)], log=log)
    assert r.returncode == KILLED, r
    assert "imported pickle" in r.stdout, r
    assert "Exploited!" not in r.stdout, r
    assert "survived" not in r.stdout, r
    # os.system forks (clone/clone3/vfork) before it execs: that is stopped.
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")
    # The stack names the exploit's eval frame and the guarded pickle call.
    assert "<string>:1 in <module>" in r.log, r
    assert re.search(r"<secimport guard \d+: pickle>:\d+ in loads", r.log), r
    assert "seed_pickle.py" in r.log, r
    assert "guard: denies shells and networking" in r.log, r
    # The guard also reports on stderr, and we printed where the log is.
    assert f"violations are logged to {log}" in r.stderr, r
    assert "VIOLATION (KILLED)" in r.stderr, r


def test_seed_pickle_example_default_log_location() -> None:
    default = Path("/tmp/.secimport/sandbox_pickle.log")
    before = default.stat().st_size if default.exists() else 0
    r = run_python(["seed_pickle.py"])
    assert r.returncode == KILLED, r
    assert "Exploited!" not in r.stdout, r
    assert f"violations are logged to {default}" in r.stderr, r
    assert default.stat().st_size > before, r
    assert_killed_block(default.read_text()[before:], "clone3|clone|vfork|fork|execve")


def test_seed_pickle_example_under_python_O(log: Path) -> None:
    r = run_python(["seed_pickle.py", str(log)], python_flags=["-O"], log=log)
    assert r.returncode == KILLED, r
    assert "Exploited!" not in r.stdout, r
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")


@pytest.mark.parametrize("flags", [[], ["-OO"]])
def test_exploit_command_never_runs(tmp_path: Path, log: Path, flags: list) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["pickle_marker.py", str(marker), str(log), "kill"], python_flags=flags, log=log)
    assert r.returncode == KILLED, r
    assert not marker.exists(), r
    assert "loads returned" not in r.stdout, r


def test_a_stack_deeper_than_the_walk_limit_does_not_hide_the_guard(tmp_path: Path, log: Path) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["pickle_deep.py", str(marker), str(log)], log=log)
    assert r.returncode == KILLED, r
    assert not marker.exists(), r
    assert "loads returned" not in r.stdout, r
    assert "<truncated>" in r.log, r


def test_log_mode_reports_and_continues(tmp_path: Path, log: Path) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["pickle_marker.py", str(marker), str(log), "log"], log=log)
    assert r.returncode == 0, r
    assert marker.exists(), r  # log mode lets it happen...
    assert "loads returned 0" in r.stdout, r
    # ...and says so, with names and the stack.
    assert re.search(r"VIOLATION \(LOGGED\) (clone3|clone|vfork|fork) by pid", r.log), r
    assert re.search(r"VIOLATION \(LOGGED\) execve by pid", r.log), r
    assert re.search(r"<secimport guard \d+: pickle>:\d+ in loads", r.log), r


def test_networking_denied_in_module_main_program_still_connects(listener: Listener, log: Path) -> None:
    r = run_python(["net_guarded.py", str(listener.port), str(log), "kill"], log=log)
    assert r.returncode == KILLED, r
    assert "main connected" in r.stdout, r
    assert "module connected" not in r.stdout, r
    # The module's socket() was stopped at entry: only the main program connected.
    assert listener.accepted() == 1, r
    assert_killed_block(r.log, "socket|connect")
    assert "netmod.py" in r.log and "in connect" in r.log, r


def test_networking_log_mode_reports_and_continues(listener: Listener, log: Path) -> None:
    r = run_python(["net_guarded.py", str(listener.port), str(log), "log"], log=log)
    assert r.returncode == 0, r
    assert "module connected" in r.stdout and "main connected again" in r.stdout, r
    assert listener.accepted() == 3, r
    assert re.search(r"VIOLATION \(LOGGED\) socket by pid", r.log), r
    assert re.search(r"VIOLATION \(LOGGED\) connect by pid", r.log), r
    assert "(KILLED)" not in r.log, r


def test_thread_started_by_guarded_module_inherits_the_guard(tmp_path: Path, listener: Listener, log: Path) -> None:
    marker = tmp_path / "thread-connected"
    r = run_python(["thread_from_guard.py", str(listener.port), str(log), str(marker)], log=log)
    assert r.returncode == KILLED, r
    assert "main connected" in r.stdout, r
    assert "thread finished" not in r.stdout, r
    assert not marker.exists(), r
    assert listener.accepted() == 1, r
    assert_killed_block(r.log, "socket|connect")
    # The thread's own stack has no netmod frame: it was judged by inheritance.
    assert "connect_from_main_code" in r.log, r


def test_child_process_forked_by_guarded_module_is_judged(tmp_path: Path, listener: Listener, log: Path) -> None:
    marker = tmp_path / "child-connected"
    r = run_python(["child_from_guard.py", str(listener.port), str(log), str(marker)], log=log)
    child = re.search(r"forked child (\d+)", r.stdout)
    assert child, r  # fork itself was allowed (allow_shells=True)
    assert not marker.exists(), r
    assert listener.accepted() == 1, r
    assert_killed_block(r.log, "socket|connect")
    assert f"by pid {child.group(1)} " in r.log, r
    assert "connect_in_child" in r.log and "fork_and_call" in r.log, r
    # Kill mode kills the whole tree: the parent too, at its next syscall
    # (which may still complete: it may print the child's status first).
    assert r.returncode == KILLED, r


def test_threads_started_inside_a_guarded_call_keep_working(log: Path) -> None:
    r = run_python(["threads_work.py", str(log)], log=log)
    assert r.returncode == 0, r
    assert "work: ([0, 1, 4, 9], 285)" in r.stdout, r
    assert "VIOLATION" not in r.log + r.stderr, r


@pytest.mark.parametrize("form", ["decorator", "wrapper"])
def test_sandboxed_checkpoint_loading(tmp_path: Path, log: Path, form: str) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["checkpoint_sandboxed.py", str(tmp_path), str(log), str(marker), form], log=log)
    assert "loaded epoch 3" in r.stdout, r
    assert "main program started a program" in r.stdout, r
    assert r.returncode == KILLED, r
    assert "loaded the malicious checkpoint" not in r.stdout, r
    assert not marker.exists(), r
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")
    name = "load_checkpoint" if form == "decorator" else "load"
    assert re.search(rf"<secimport guard \d+: [^>]*{name}>:\d+ in [^\n]*{name}", r.log), r


def test_sandboxed_generator_stays_guarded_while_it_runs(tmp_path: Path, log: Path) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["generator_guarded.py", str(log), str(marker)], log=log)
    assert r.returncode == KILLED, r
    assert "first" in r.stdout and "second" not in r.stdout, r
    assert not marker.exists(), r
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")


def test_benign_use_exits_normally(listener: Listener, log: Path) -> None:
    r = run_python(["benign.py", str(log), str(listener.port)], log=log)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [
        '{"a": [1, 2]}',
        "list",
        "caught JSONDecodeError",
        '{"plain": true}',
        "main program started a program and connected",
    ], r
    assert listener.accepted() == 1, r
    assert "VIOLATION" not in r.stderr and not r.log, r
    assert r.stderr.count("secimport: guarding module") == 2, r


def test_guards_in_both_modes_in_one_process(tmp_path: Path, listener: Listener) -> None:
    """One supervisor per mode: a log-mode guard reports, then a kill-mode
    guard in the same process kills."""
    log_log, kill_log = tmp_path / "log.log", tmp_path / "kill.log"
    code = f"""
import secimport, netmod
logged = secimport.sandboxed(allow_networking=False, mode="log", log_file={str(log_log)!r})(netmod.connect)
print(logged({listener.port}), flush=True)
killed = secimport.sandboxed(allow_networking=False, mode="kill", log_file={str(kill_log)!r})(netmod.connect)
print(killed({listener.port}), flush=True)
"""
    r = run_python(["-c", code])
    assert r.returncode == KILLED, r
    assert r.stdout.splitlines() == ["connected"], r
    assert listener.accepted() == 1, r
    assert "(LOGGED) socket" in log_log.read_text(), r
    assert "(KILLED) socket" in kill_log.read_text(), r
    assert r.stderr.count("violations are logged to") == 2, r


def test_nothing_is_left_running(log: Path) -> None:
    """The supervisor exits by itself when the process does."""
    code = f"""
import os, secimport
pickle = secimport.secure_import("pickle", log_file={str(log)!r})
print(os.getpid(), flush=True)
"""
    r = run_python(["-c", code])
    assert r.returncode == 0, r
    pid = r.stdout.strip()
    # subprocess.run returned: our stderr pipe was closed by every holder,
    # the supervisor included. Check no `secimport guard --pid PID` remains.
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            assert not (b"guard" in cmdline and pid.encode() in cmdline), (proc, cmdline)
    assert not log.exists(), r


def test_forked_child_defines_its_own_guards(log: Path) -> None:
    r = run_python(["fork_then_guard.py", str(log)], log=log)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["child killed by signal 9", 'parent {"alive": true}'], r
    assert "child exploited" not in r.stdout, r
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")


@pytest.mark.parametrize("form", ["subclass", "torch", "plain"])
def test_classes_derived_from_a_guarded_class_are_guarded(tmp_path: Path, log: Path, form: str) -> None:
    """`class U(guarded_pickle.Unpickler)` (as torch.load(f,
    pickle_module=...) does): the inherited C `load` runs under the guard, so
    the malicious pickle's os.system is killed before its command runs."""
    marker = tmp_path / "pwned"
    r = run_python(["subclass_unpickler.py", str(marker), str(log), "kill", form], log=log)
    assert "benign 3" in r.stdout, r
    assert "caught" in r.stdout, r
    assert "main program started a program" in r.stdout, r
    assert r.returncode == KILLED, r
    assert not marker.exists(), r
    assert "malicious load returned" not in r.stdout, r
    assert_killed_block(r.log, "clone3|clone|vfork|fork|execve")
    # The guard's frame is the inherited C method's wrapper.
    assert re.search(r"<secimport guard \d+: pickle>:\d+ in Unpickler\.load", r.log), r
    if form == "subclass":
        # find_class, called back from C, ran: the pickle named os.system.
        assert re.search(r"find_class (posix|os)\.system", r.stdout), r


def test_derived_class_in_log_mode_reports_and_continues(tmp_path: Path, log: Path) -> None:
    marker = tmp_path / "pwned"
    r = run_python(["subclass_unpickler.py", str(marker), str(log), "log", "torch"], log=log)
    assert r.returncode == 0, r
    assert marker.exists(), r
    assert "malicious load returned 0" in r.stdout, r
    assert re.search(r"VIOLATION \(LOGGED\) (clone3|clone|vfork|fork) by pid", r.log), r
    assert re.search(r"<secimport guard \d+: pickle>:\d+ in Unpickler\.load", r.log), r
    # The main program's own `true` (before) was not reported.
    assert r.log.count("VIOLATION") == r.log.count("in Unpickler.load"), r


@pytest.mark.parametrize("mode", ["kill", "log"])
def test_guarded_code_cannot_loosen_its_guard(tmp_path: Path, log: Path, mode: str) -> None:
    """From inside a guarded call, an exploit writes loosening commands to
    the supervisor (through secimport._supervisor and straight to the pipe),
    then runs a command: it is still judged by its guard as it was made."""
    marker = tmp_path / "pwned"
    r = run_python(["loosen_guard.py", str(marker), str(log), mode], log=log)
    assert "guard made" in r.stdout, r
    # Every attempt that reached the supervisor was refused. (The kernel may
    # also stop the write itself: then no attempt is printed.)
    assert "loosen: accepted" not in r.stdout, r
    assert "raw answer b'ok'" not in r.stdout, r
    for line in r.stdout.splitlines():
        if line.startswith("loosen: raw answer"):
            assert "error" in line, r
    if mode == "kill":
        assert r.returncode == KILLED, r
        assert not marker.exists(), r
        assert "attack ran its command" not in r.stdout, r
        assert re.search(r"VIOLATION \(KILLED\) \S+ by pid", r.log), r
    else:
        # Log mode lets it run, and reports the command it ran.
        assert r.returncode == 0, r
        assert r.stdout.count("loosen: refused") == 5, r
        assert re.search(r"VIOLATION \(LOGGED\) (clone3|clone|vfork|fork) by pid", r.log), r
        assert re.search(r"VIOLATION \(LOGGED\) execve by pid", r.log), r
    # Its reports still go to its own log, not to /dev/null or /tmp/x.log.
    assert "<string>" in r.log, r


def test_a_module_guarded_twice_keeps_the_stricter_guard(log: Path) -> None:
    """Guarding files that are already guarded: as strict is fine (a package
    and its submodule), looser is refused (it could not apply)."""
    code = f"""
import secimport
json = secimport.secure_import("json", log_file={str(log)!r})
decoder = secimport.secure_import("json.decoder", log_file={str(log)!r})
print(decoder.JSONDecoder().decode("[1]"), flush=True)
again = secimport.secure_import("json", log_file={str(log)!r})
try:
    secimport.secure_import("json.decoder", allow_networking=True, log_file={str(log)!r})
except secimport.SecimportError as e:
    print("refused:", e, flush=True)
else:
    print("accepted a looser guard", flush=True)
print(json.dumps(again.loads("[2]")), flush=True)
"""
    r = run_python(["-c", code])
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "[1]" and lines[-1] == "[2]", r
    assert "refused:" in r.stdout and "accepted a looser guard" not in r.stdout, r
    assert "already judged by guard" in r.stdout and "can only get stricter" in r.stdout, r
    assert "decoder.py" in r.stdout, r

"""The pytest plugin (``pytest --secimport-trace`` / ``--secimport-policy``).

Each test runs a separate ``python -m pytest`` on a small suite written to a
temporary directory (the plugin re-executes pytest under the secimport
binary, so it is tested as users run it). The suite is traced once per
module, as root (eBPF) and, in its own test, as ``nobody`` (seccomp).

The last test runs a real third-party suite (more-itertools' own tests,
from its sdist on PyPI) traced, then under the policy in kill mode. It needs
PyPI: where SECIMPORT_TEST_PYPI=1 (scripts/test-python.sh sets it) a failed
download fails the test; elsewhere it is skipped when PyPI cannot be reached.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from secimport._binary import find_secimport_bin
from secimport.pytest_plugin import INNER_ENV, PIPE_ENV

SUITE = """\
import json
import os
import subprocess


def test_json():
    assert json.loads('{"a": [1, 2]}') == {"a": [1, 2]}


def test_writes_a_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("hello")
    assert path.read_text() == "hello"


def test_maybe_shell():
    marker = os.environ.get("SUITE_SHELL_MARKER")
    if marker:
        subprocess.run(["/bin/touch", marker], check=True)  # SHELL LINE


def test_after():
    assert os.getpid() > 0
"""
SHELL_LINE = next(i for i, line in enumerate(SUITE.splitlines(), 1) if "# SHELL LINE" in line)

#: The suite's own pytest options: no cache directory in the suite.
BASE_ARGS = ["-p", "no:cacheprovider", "-v"]


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (INNER_ENV, PIPE_ENV, "PYTEST_ADDOPTS")}
    env.pop("SUITE_SHELL_MARKER", None)
    env.update(extra or {})
    return env


def pytest_in(
    cwd: Path,
    args: Sequence[str],
    *,
    env: dict | None = None,
    python: str | None = None,
    preexec: Callable[[], None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [python or sys.executable, "-m", "pytest", *args],
        cwd=str(cwd),
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )
    return proc


def show(proc: subprocess.CompletedProcess) -> str:
    return f"{proc.args} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def build(trace: Path, policy: Path, *, preexec: Callable[[], None] | None = None) -> None:
    proc = subprocess.run(
        [find_secimport_bin(), "build", str(trace), "-o", str(policy)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
        env=clean_env(),
    )
    assert proc.returncode == 0, show(proc)
    assert policy.is_file()


def write_suite(directory: Path) -> None:
    (directory / "test_suite.py").write_text(SUITE)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite, traced as root with the plugin, and its policy built."""
    if os.geteuid() != 0:
        pytest.fail("the plugin's kernel tests attach the eBPF sandbox and need root", pytrace=False)
    suite = tmp_path_factory.mktemp("suite")
    write_suite(suite)
    proc = pytest_in(suite, [*BASE_ARGS, "--secimport-trace", "trace.json"])
    assert proc.returncode == 0, show(proc)
    assert "secimport: tracing the test session into" in proc.stderr, show(proc)
    assert "4 passed" in proc.stdout, show(proc)
    trace = json.loads((suite / "trace.json").read_text())
    # The test module itself was traced, with pytest around it.
    assert "test_suite" in trace["modules"], sorted(trace["modules"])
    assert "_pytest.runner" in trace["modules"], sorted(trace["modules"])
    build(suite / "trace.json", suite / "policy.yaml")
    return suite


VIOLATIONS = re.compile(r"=+ secimport: \d+ violations? of policy\.yaml =+")


def test_the_plugin_is_registered_and_pytest_is_not_a_dependency(tmp_path: Path) -> None:
    requires = importlib.metadata.requires("secimport") or []
    assert all("pytest" not in r or "extra" in r for r in requires), requires
    eps = importlib.metadata.entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
    assert [ep.value for ep in group if ep.name == "secimport"] == ["secimport.pytest_plugin"]
    # `-p no:secimport` turns it off: its options are then unknown.
    write_suite(tmp_path)
    proc = pytest_in(tmp_path, ["-p", "no:secimport", "--secimport-trace", "t.json"])
    assert proc.returncode == 4 and "--secimport-trace" in proc.stderr, show(proc)
    assert not (tmp_path / "t.json").exists()


def test_without_its_options_the_plugin_does_nothing(tmp_path: Path) -> None:
    # The suite says which process ran it: the pytest we started, not a re-executed one.
    (tmp_path / "test_pid.py").write_text(
        "import os\n\ndef test_pid():\n    open('pid', 'w').write(str(os.getpid()))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *BASE_ARGS],
        cwd=str(tmp_path),
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "plugins:" in out and "secimport" in out, out  # it is loaded
    assert (tmp_path / "pid").read_text() == str(proc.pid), "pytest was re-executed without any option"
    assert "secimport" not in err, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--secimport-trace", "t.json", "--secimport-policy", "p.yaml"], "are exclusive"),
        (["--secimport-policy", "missing.yaml"], "missing.yaml does not exist: make one with"),
        (["--secimport-mode", "kill"], "need --secimport-policy FILE"),
        (["--secimport-backend", "seccomp"], "need --secimport-policy FILE"),
        (["--secimport-trace", "t.json", "--secimport-mode", "kill"], "--secimport-mode needs --secimport-policy"),
        (["--secimport-policy", "p.yaml", "--secimport-mode", "stop"], "invalid choice: 'stop'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list, message: str) -> None:
    write_suite(tmp_path)
    (tmp_path / "p.yaml").write_text("not used\n")
    proc = pytest_in(tmp_path, args)
    assert proc.returncode == 4, show(proc)
    assert message in proc.stderr, show(proc)
    assert not (tmp_path / "t.json").exists()


def test_a_bad_ini_mode_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    write_suite(tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\nsecimport_policy = p.yaml\nsecimport_mode = strict\n")
    proc = pytest_in(tmp_path, [])
    assert proc.returncode == 4, show(proc)
    assert "pytest.ini: secimport_mode = 'strict' is not a mode" in proc.stderr, show(proc)


def test_the_traced_suite_runs_clean_under_its_policy_set_in_the_ini_file(traced: Path) -> None:
    ini = traced / "pytest.ini"
    ini.write_text("[pytest]\nsecimport_policy = policy.yaml\nsecimport_mode = log\n")
    try:
        proc = pytest_in(traced, BASE_ARGS)
    finally:
        ini.unlink()
    assert proc.returncode == 0, show(proc)
    assert "(log mode, eBPF backend)" in proc.stderr, show(proc)
    assert f"secimport: no violation of {traced / 'policy.yaml'}" in proc.stderr, show(proc)
    assert "4 passed" in proc.stdout and not VIOLATIONS.search(proc.stdout), show(proc)


def shell_stack_line(suite: Path) -> str:
    return f"{suite / 'test_suite.py'}:{SHELL_LINE} in test_maybe_shell  [test_suite]"


def test_a_new_shell_fails_the_session_with_the_violation_and_its_stack(traced: Path, tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    log = tmp_path / "violations.jsonl"
    proc = pytest_in(
        traced,
        [*BASE_ARGS, "--secimport-policy", "policy.yaml", "--secimport-mode", "log", "--secimport-log", str(log)],
        env={"SUITE_SHELL_MARKER": str(marker)},
    )
    # Log mode: the shell ran and every test passed, but the session fails.
    assert marker.exists(), show(proc)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r.get("syscall") == "execve" and r.get("action") == "log" for r in records), records
    assert f"violations logged to {log}" in proc.stdout, show(proc)
    assert "4 passed" in proc.stdout, show(proc)
    assert proc.returncode == 1, show(proc)
    assert VIOLATIONS.search(proc.stdout), show(proc)
    assert re.search(r"^execve LOGGED in pid \d+ .* during test test_maybe_shell ", proc.stdout, re.M), show(proc)
    assert "exec: /bin/touch" in proc.stdout, show(proc)
    assert re.search(r"refused by: (\S+, )*test_suite\b", proc.stdout), show(proc)
    assert shell_stack_line(traced) in proc.stdout, show(proc)
    assert "FAILED: the session broke its secimport policy" in proc.stdout, show(proc)


@pytest.mark.parametrize("backend", ["bpf", "seccomp"])
def test_kill_mode_kills_the_session_before_the_shell_runs(traced: Path, tmp_path: Path, backend: str) -> None:
    marker = tmp_path / "shell-ran"
    proc = pytest_in(
        traced,
        [*BASE_ARGS, "--secimport-policy", "policy.yaml", "--secimport-mode", "kill", "--secimport-backend", backend],
        env={"SUITE_SHELL_MARKER": str(marker)},
    )
    assert not marker.exists(), show(proc)
    assert proc.returncode == 1, show(proc)
    name = {"bpf": "eBPF", "seccomp": "seccomp"}[backend]
    assert f"(kill mode, {name} backend)" in proc.stderr, show(proc)
    assert "the session was KILLED at its first violation" in proc.stdout, show(proc)
    assert "running then: test_suite.py::test_maybe_shell" in proc.stdout, show(proc)
    assert shell_stack_line(traced) in proc.stdout, show(proc)
    assert "test_suite.py::test_json PASSED" in proc.stdout, show(proc)
    assert "test_after" not in proc.stdout, show(proc)  # never ran
    assert "KILLED: the session broke its secimport policy" in proc.stdout, show(proc)


def test_deny_mode_fails_the_call_with_permission_error_and_the_session(traced: Path, tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    proc = pytest_in(
        traced,
        [*BASE_ARGS, "--secimport-policy", "policy.yaml", "--secimport-mode", "deny"],
        env={"SUITE_SHELL_MARKER": str(marker)},
    )
    assert not marker.exists(), show(proc)
    assert proc.returncode == 1, show(proc)
    assert "(deny mode, seccomp backend)" in proc.stderr, show(proc)
    assert "PermissionError" in proc.stdout, show(proc)
    assert "FAILED test_suite.py::test_maybe_shell" in proc.stdout, show(proc)
    assert "test_suite.py::test_after PASSED" in proc.stdout, show(proc)  # the session went on
    assert re.search(r"^\S+ DENIED in pid \d+ .* during test test_maybe_shell ", proc.stdout, re.M), show(proc)
    assert shell_stack_line(traced) in proc.stdout, show(proc)


def test_xdist_workers_are_followed(traced: Path, tmp_path: Path) -> None:
    try:
        import xdist  # noqa: F401
    except ImportError:
        pytest.fail(
            "this test needs pytest-xdist: pip install pytest-xdist (scripts/test-python.sh does)", pytrace=False
        )
    # Traced with two workers: the workers' syscalls are learned too.
    proc = pytest_in(traced, [*BASE_ARGS, "-n", "2", "--secimport-trace", "trace-xdist.json"])
    assert proc.returncode == 0 and "4 passed" in proc.stdout, show(proc)
    build(traced / "trace-xdist.json", tmp_path / "policy.yaml")
    policy = str(tmp_path / "policy.yaml")
    clean = pytest_in(traced, [*BASE_ARGS, "-n", "2", "--secimport-policy", policy, "--secimport-mode", "kill"])
    assert clean.returncode == 0 and "4 passed" in clean.stdout, show(clean)
    marker = tmp_path / "shell-ran"
    killed = pytest_in(
        traced,
        [*BASE_ARGS, "-n", "2", "--secimport-policy", policy, "--secimport-mode", "kill"],
        env={"SUITE_SHELL_MARKER": str(marker)},
    )
    assert not marker.exists(), show(killed)
    assert killed.returncode == 1, show(killed)
    assert "the session was KILLED at its first violation" in killed.stdout, show(killed)
    # A worker's violation: the stack names the test.
    assert re.search(r"KILLED in pid \d+ .* during test test_maybe_shell ", killed.stdout), show(killed)
    assert shell_stack_line(traced) in killed.stdout, show(killed)


def _nobody_python() -> str:
    """This interpreter, unless nobody cannot read it (pyenv's, under /root)."""
    if os.path.realpath(sys.executable).startswith("/root/"):
        return "/usr/bin/python3.11"
    return sys.executable


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory nobody owns (pytest's are under root's 0700 directory)."""
    d = Path(tempfile.mkdtemp(prefix="secimport-pytest-nobody-", dir="/tmp"))
    os.chown(d, 65534, 65534)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _userns_allowed(python: str) -> bool:
    """Whether nobody may make a user namespace, which the seccomp backend
    needs without root (a chroot, as scripts/in-chroot.sh makes, may not)."""
    probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0)"
    return subprocess.run([python, "-c", probe], preexec_fn=_drop_to_nobody, timeout=60).returncode == 0


def test_without_root_the_seccomp_backend_traces_and_denies(nobody_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test drops from root to nobody", pytrace=False)
    import secimport

    site = os.path.dirname(os.path.dirname(secimport.__file__))
    env = {"PYTHONPATH": site, "SECIMPORT_BIN": find_secimport_bin(), "HOME": str(nobody_dir)}
    python = _nobody_python()
    suite = nobody_dir / "suite"
    suite.mkdir()
    os.chown(suite, 65534, 65534)
    write_suite(suite)

    def run(args: Sequence[str], extra: dict | None = None) -> subprocess.CompletedProcess:
        return pytest_in(
            suite, [*BASE_ARGS, *args], env={**env, **(extra or {})}, python=python, preexec=_drop_to_nobody
        )

    proc = run(["--secimport-trace", "trace.json"])
    if not _userns_allowed(python):
        # No user namespace here (a chroot): the session does not run, and says why.
        assert proc.returncode == 2, show(proc)
        assert "unprivileged user namespaces may be disabled" in proc.stderr, show(proc)
        assert "secimport trace refused to run (its message is above); nothing was traced" in proc.stderr, show(proc)
        assert "passed" not in proc.stdout and not (suite / "trace.json").exists(), show(proc)
        return
    assert proc.returncode == 0, show(proc)
    assert "(seccomp backend)" in proc.stderr and "4 passed" in proc.stdout, show(proc)
    build(suite / "trace.json", suite / "policy.yaml", preexec=_drop_to_nobody)

    clean = run(["--secimport-policy", "policy.yaml", "--secimport-mode", "kill"])
    assert clean.returncode == 0 and "4 passed" in clean.stdout, show(clean)
    assert "no violation of" in clean.stderr, show(clean)

    marker = nobody_dir / "shell-ran"
    denied = run(["--secimport-policy", "policy.yaml", "--secimport-mode", "deny"], {"SUITE_SHELL_MARKER": str(marker)})
    assert not marker.exists(), show(denied)
    assert denied.returncode == 1, show(denied)
    assert "PermissionError" in denied.stdout and "FAILED test_suite.py::test_maybe_shell" in denied.stdout, show(
        denied
    )
    assert VIOLATIONS.search(denied.stdout) and shell_stack_line(suite) in denied.stdout, show(denied)


# ---------------------------------------------------------------- a real third-party suite

#: A small pure-Python project whose sdist ships its tests (no dependencies).
THIRD_PARTY = ("more-itertools==10.2.0", "more-itertools-10.2.0")


def _download_sdist(into: Path) -> Path:
    requirement, directory = THIRD_PARTY
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q"]
    cmd += ["--no-binary", ":all:", "--no-deps", "-d", str(into), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    archives = sorted(into.glob(directory + ".tar.gz"))
    if proc.returncode != 0 or not archives:
        why = f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-2000:]}"
        if os.environ.get("SECIMPORT_TEST_PYPI") == "1":
            pytest.fail(f"SECIMPORT_TEST_PYPI=1 but the sdist could not be downloaded: {why}", pytrace=False)
        pytest.skip(f"PyPI is not reachable (set SECIMPORT_TEST_PYPI=1 to make this a failure): {why}")
    with tarfile.open(archives[0]) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.12+, and 3.8-3.11 security releases
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    return into / directory


def _passed(stdout: str) -> str:
    found = re.search(r"(\d+) passed", stdout)
    assert found, stdout
    return found.group(1)


def test_a_third_party_suite_traced_then_killed_on_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test attaches the eBPF sandbox and needs root", pytrace=False)
    project = _download_sdist(tmp_path)
    args = ["-q", "-p", "no:cacheprovider", "tests"]
    timings: dict = {"plain": [], "traced": [], "under policy (kill)": []}

    def timed(kind: str, extra: Sequence[str]) -> subprocess.CompletedProcess:
        start = time.monotonic()
        proc = pytest_in(project, [*args, *extra], timeout=600)
        timings[kind].append(time.monotonic() - start)
        return proc

    plain = timed("plain", [])
    assert plain.returncode == 0, show(plain)
    passed = _passed(plain.stdout)

    trace = tmp_path / "trace.json"
    traced = timed("traced", ["--secimport-trace", str(trace)])
    assert traced.returncode == 0, show(traced)
    assert _passed(traced.stdout) == passed, show(traced)
    modules = json.loads(trace.read_text())["modules"]
    assert "tests.test_more" in modules and "more_itertools.more" in modules, sorted(modules)
    build(trace, tmp_path / "policy.yaml")

    for _ in range(2):
        enforced = timed(
            "under policy (kill)", ["--secimport-policy", str(tmp_path / "policy.yaml"), "--secimport-mode", "kill"]
        )
        assert enforced.returncode == 0, show(enforced)
        assert _passed(enforced.stdout) == passed, show(enforced)
        assert "secimport: no violation of" in enforced.stderr, show(enforced)
        assert "KILLED" not in enforced.stdout + enforced.stderr, show(enforced)
    print(
        f"\n{THIRD_PARTY[0]}: {passed} tests passed; trace {trace.stat().st_size} bytes, {len(modules)} modules; "
        + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in timings.items())
    )

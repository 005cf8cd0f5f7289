"""The command line that the wheel installs: `secimport` on PATH and
`python -m secimport`, both the Rust binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import secimport
from conftest import run_python


def test_python_m_secimport_help() -> None:
    r = run_python(["-m", "secimport", "--help"])
    assert r.returncode == 0, r
    for command in ("trace", "build", "run", "guard"):
        assert f"\n  {command} " in r.stdout, r


def test_python_m_secimport_passes_exit_status() -> None:
    r = run_python(["-m", "secimport", "no-such-command"])
    assert r.returncode == 2, r
    assert "no-such-command" in r.stderr, r


def test_secimport_on_path_after_install() -> None:
    scripts = sysconfig.get_path("scripts")
    env = dict(os.environ, PATH=os.pathsep.join([scripts, "/usr/bin", "/bin"]))
    env.pop("SECIMPORT_BIN", None)
    found = shutil.which("secimport", path=env["PATH"])
    assert found is not None, f"no secimport on PATH={env['PATH']}"
    if os.environ.get("SECIMPORT_TEST_INSTALLED") == "1":
        assert Path(found).parent == Path(scripts), found
    r = subprocess.run(["secimport", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert "Usage: secimport" in r.stdout, r
    r = subprocess.run(["secimport", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("secimport "), r


def test_package_finds_the_installed_binary() -> None:
    if os.environ.get("SECIMPORT_BIN"):
        assert secimport.find_secimport_bin() == os.environ["SECIMPORT_BIN"]
        return
    found = secimport.find_secimport_bin()
    with open(found, "rb") as f:
        assert f.read(4) == b"\x7fELF", found
    if os.environ.get("SECIMPORT_TEST_INSTALLED") == "1":
        assert Path(found).parent == Path(sysconfig.get_path("scripts")), found


def test_api_surface() -> None:
    assert callable(secimport.secure_import)
    assert callable(secimport.sandboxed)
    assert issubclass(secimport.SecimportError, RuntimeError)
    assert (Path(secimport.__file__).parent / "py.typed").is_file()
    if os.environ.get("SECIMPORT_TEST_INSTALLED") == "1":
        assert secimport.__version__[0].isdigit(), secimport.__version__
    # The installed package is importable with -O (no asserts relied upon).
    r = run_python(["-OO", "-c", "import secimport; print(secimport.secure_import.__name__)"])
    assert r.returncode == 0 and r.stdout.strip() == "secure_import", r

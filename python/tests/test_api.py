"""The API's arguments and the bytecode-cache rule under guards, without the
kernel (no supervisor is started). No root needed."""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

import secimport
from secimport import _api
from secimport._guard import Guard


def test_every_permission_defaults_to_denied() -> None:
    for fn in (secimport.secure_import, secimport.sandboxed, secimport.Sandbox):
        params = inspect.signature(fn).parameters
        for name in ("allow_shells", "allow_networking", "allow_file_writes"):
            assert params[name].default is False, (fn, name)
        # Keyword-only: the positional order of earlier versions is kept.
        assert params["allow_file_writes"].kind is inspect.Parameter.KEYWORD_ONLY, fn


def test_describe_and_repr_say_what_is_allowed() -> None:
    g = Guard(3, "pickle", mode="kill", allow_shells=False, allow_networking=True, log_file="/tmp/x.log")
    assert g.allow_file_writes is False
    assert g.describe() == "guard 3, kill mode: shells denied, networking allowed, file writes denied"
    assert "file writes denied" in repr(g)
    g = Guard(
        4, "m", mode="log", allow_shells=True, allow_networking=False, allow_file_writes=True, log_file="/tmp/x.log"
    )
    assert g.describe() == "guard 4, log mode: shells allowed, networking denied, file writes allowed"
    s = secimport.sandboxed(allow_file_writes=True, mode="log")
    assert isinstance(s, secimport.Sandbox)
    assert s.allow_file_writes is True
    assert repr(s) == (
        "sandboxed(allow_shells=False, allow_networking=False, allow_file_writes=True, "
        "mode='log', log_file=None, name=None)"
    )
    assert secimport.Sandbox().allow_file_writes is False


@pytest.fixture
def cold_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path with modules never imported nor cached, with
    bytecode writing on (whatever PYTHONDONTWRITEBYTECODE says)."""
    for name in ("cold_guarded", "cold_thread", "cold_free"):
        (tmp_path / f"{name}.py").write_text(f"NAME = {name!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("cold_guarded", "cold_thread", "cold_free"):
        sys.modules.pop(name, None)


def cached(directory: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in directory.rglob("*.pyc"))


def test_no_bytecode_is_written_under_a_guard_denying_file_writes(
    cold_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the kernel would report as file writes of the guarded code are
    skipped: the cache of a module imported with the guard's frame on the
    stack, or in another thread once such a guard exists. The main thread
    outside the guards caches as usual."""
    g = Guard(9, "cold", mode="kill", allow_shells=False, allow_networking=False, log_file="/tmp/x.log")
    monkeypatch.setattr(_api, "_no_file_writes", {g.filename})
    _api._skip_bytecode_writes_under_guards()
    assert g.wrap(importlib.import_module)("cold_guarded").NAME == "cold_guarded"
    assert cached(cold_modules) == []
    found: list[str] = []
    t = threading.Thread(target=lambda: found.append(importlib.import_module("cold_thread").NAME))
    t.start()
    t.join()
    assert found == ["cold_thread"]
    assert cached(cold_modules) == []
    assert importlib.import_module("cold_free").NAME == "cold_free"
    assert cached(cold_modules) == ["cold_free"]


def test_bytecode_is_written_when_no_guard_denies_file_writes(
    cold_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = Guard(
        10,
        "cold",
        mode="kill",
        allow_shells=False,
        allow_networking=False,
        allow_file_writes=True,
        log_file="/tmp/x.log",
    )
    monkeypatch.setattr(_api, "_no_file_writes", set())
    _api._skip_bytecode_writes_under_guards()
    g.wrap(importlib.import_module)("cold_guarded")
    assert cached(cold_modules) == ["cold_guarded"]

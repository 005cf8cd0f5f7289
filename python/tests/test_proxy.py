"""The proxies, without the kernel: calls made through a guarded module,
class, object or function must run with the guard's frame on the stack (that
frame is what the kernel recognises), C code included. No root needed."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import sys
import threading

import pytest

from secimport._guard import FILENAME_MAX, Guard
from secimport._proxy import GuardedClass, GuardedModule, GuardedObject, guard_value, unwrap


def make_guard(name: str = "pickle", gid: int = 7) -> Guard:
    return Guard(gid, name, mode="kill", allow_shells=False, allow_networking=False, log_file="/tmp/x.log")


def stack_files() -> list[str]:
    frame: object | None = sys._getframe(1)
    files = []
    while frame is not None:
        files.append(frame.f_code.co_filename)  # type: ignore[attr-defined]
        frame = frame.f_back  # type: ignore[attr-defined]
    return files


seen: list[list[str]] = []


def record_stack() -> str:
    seen.append(stack_files())
    return "recorded"


class Recorder:
    """Unpickling it calls record_stack from inside the C unpickler."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (record_stack, ())


def test_synthetic_filename() -> None:
    g = make_guard()
    assert g.filename == "<secimport guard 7: pickle>"
    long = make_guard("é" + "x" * 400, gid=123456)
    assert long.filename.isascii()
    assert len(long.filename.encode()) <= FILENAME_MAX
    assert long.filename.startswith("<secimport guard 123456: _xxx") and long.filename.endswith(">")


def test_c_function_runs_inside_the_guard_frame() -> None:
    g = make_guard()
    p = GuardedModule(pickle, g)
    assert p.loads(pickle.dumps(Recorder())) == "recorded"
    # The C unpickler leaves no pickle.py frame: the wrapper's is there.
    assert g.filename in seen[-1]
    assert pickle.__file__ not in seen[-1]
    # The frame is named after what it wraps (reports read `... in loads`).
    assert p.loads.__code__.co_name == "loads"
    assert p.loads.__code__.co_filename == g.filename
    assert p.loads.__wrapped__ is pickle.loads


def test_plain_module_is_untouched() -> None:
    GuardedModule(pickle, make_guard())
    assert pickle.loads(pickle.dumps(Recorder())) == "recorded"
    assert not any(f.startswith("<secimport guard") for f in seen[-1])


def test_module_attributes() -> None:
    g = make_guard()
    p = GuardedModule(pickle, g)
    assert p.HIGHEST_PROTOCOL == pickle.HIGHEST_PROTOCOL
    assert p.__name__ == "pickle" and p.__file__ == pickle.__file__
    assert p.__spec__ is pickle.__spec__
    assert "loads" in dir(p)
    assert p.loads is p.loads  # wrappers are cached
    assert "guarded module 'pickle'" in repr(p)
    # Exception classes are the real ones: `except p.Error` works.
    assert p.UnpicklingError is pickle.UnpicklingError
    with pytest.raises(p.UnpicklingError):
        p.loads(b"not a pickle.")
    # Setting an attribute sets it on the module.
    p._secimport_test_attr = 1
    assert pickle._secimport_test_attr == 1  # type: ignore[attr-defined]
    del p._secimport_test_attr
    assert not hasattr(pickle, "_secimport_test_attr")


def test_submodules_are_guarded_too() -> None:
    g = make_guard("json")
    j = GuardedModule(json, g)
    assert isinstance(j.decoder, GuardedModule)
    assert j.decoder.JSONDecoder().decode("[1]") == [1]
    assert j.loads("[1, 2]") == [1, 2]


def test_class_instances_and_methods_are_guarded() -> None:
    g = make_guard()
    p = GuardedModule(pickle, g)
    cls = p.Unpickler
    assert isinstance(cls, GuardedClass)
    u = cls(io.BytesIO(pickle.dumps(Recorder())))
    assert isinstance(u, GuardedObject)
    assert u.load() == "recorded"
    assert g.filename in seen[-1]
    # isinstance/issubclass see through the proxies.
    assert isinstance(u, p.Unpickler) and isinstance(u, pickle.Unpickler) is False
    assert isinstance(unwrap(u), pickle.Unpickler)
    assert isinstance(pickle.Unpickler(io.BytesIO(b"")), p.Unpickler)
    assert issubclass(pickle.Unpickler, p.Unpickler)
    assert p.Unpickler == pickle.Unpickler

    # Subclassing a guarded class subclasses the real one.
    class Mine(p.Unpickler):  # type: ignore[misc]
        pass

    assert Mine.__mro__[1] is pickle.Unpickler


def test_object_protocols_run_inside_the_guard() -> None:
    g = make_guard("items")
    calls: list[list[str]] = []

    class Box:
        def __init__(self) -> None:
            self.items = [1, 2]

        def __enter__(self) -> Box:
            calls.append(stack_files())
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append(stack_files())

        def __iter__(self):  # type: ignore[no-untyped-def]
            calls.append(stack_files())
            return iter(self.items)

        def __len__(self) -> int:
            calls.append(stack_files())
            return len(self.items)

        def __call__(self, x: int) -> int:
            calls.append(stack_files())
            return x + 1

    box = GuardedClass(Box, g)()
    with box as b:
        assert b is box
    assert list(box) == [1, 2]
    assert len(box) == 2
    assert bool(box)  # bool() falls back to __len__: one more guarded call
    assert box(1) == 2
    assert box.items == [1, 2]
    # enter, exit, iter (+ len: list() asks for a length hint), len, bool's len, call
    assert len(calls) == 7
    assert all(g.filename in c for c in calls)


def test_generators_and_coroutines_stay_guarded_while_running() -> None:
    g = make_guard("gen")

    def gen():  # type: ignore[no-untyped-def]
        yield stack_files()
        received = yield stack_files()
        yield received

    wrapped = g.wrap(gen)
    it = wrapped()
    # The generator runs after the call that made it returned, still guarded.
    assert g.filename in next(it)
    assert g.filename in next(it)
    assert it.send("sent") == "sent"

    async def coro() -> list[str]:
        await asyncio.sleep(0)
        return stack_files()

    assert g.filename in asyncio.run(g.wrap(coro)())

    async def agen():  # type: ignore[no-untyped-def]
        yield stack_files()

    async def consume() -> list[list[str]]:
        return [x async for x in g.wrap(agen)()]

    assert g.filename in asyncio.run(consume())[0]


def test_threads_do_not_carry_the_frame() -> None:
    """A thread started inside a guarded call has its own stack: the kernel
    makes it inherit the guard; Python stacks alone would not show it."""
    g = make_guard("threads")
    out: list[list[str]] = []

    def start() -> None:
        t = threading.Thread(target=lambda: out.append(stack_files()))
        t.start()
        t.join()

    g.wrap(start)()
    assert g.filename not in out[0]


def test_guard_value_kinds() -> None:
    g = make_guard()
    assert guard_value(3, g) == 3
    assert guard_value("s", g) == "s"
    assert guard_value(ValueError, g) is ValueError
    assert isinstance(guard_value(json, g), GuardedModule)
    assert isinstance(guard_value(io.BytesIO, g), GuardedClass)
    wrapped = guard_value(len, g)
    assert wrapped([1]) == 1 and wrapped.__code__.co_filename == g.filename
    assert guard_value(wrapped, g) is wrapped

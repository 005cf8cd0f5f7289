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
from secimport._proxy import GuardedClass, GuardedModule, GuardedObject, guard_value, guarded_base, unwrap


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

    # Subclassing a guarded class derives from the guard's guarded subclass
    # of the real one (see the tests below).
    class Mine(p.Unpickler):  # type: ignore[misc]
        pass

    assert Mine.__mro__[1] is guarded_base(pickle.Unpickler, g)
    assert Mine.__mro__[2] is pickle.Unpickler


def test_object_protocols_run_inside_the_guard() -> None:
    g = make_guard("items")
    calls: list[tuple[str, list[str]]] = []

    class Box:
        def __init__(self) -> None:
            self.items = [1, 2]

        def __enter__(self) -> Box:
            calls.append(("enter", stack_files()))
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append(("exit", stack_files()))

        def __iter__(self):  # type: ignore[no-untyped-def]
            calls.append(("iter", stack_files()))
            return iter(self.items)

        def __len__(self) -> int:
            calls.append(("len", stack_files()))
            return len(self.items)

        def __call__(self, x: int) -> int:
            calls.append(("call", stack_files()))
            return x + 1

    box = GuardedClass(Box, g)()
    with box as b:
        assert b is box
    assert list(box) == [1, 2]
    assert len(box) == 2
    assert bool(box)  # bool() falls back to __len__: one more guarded call
    assert box(1) == 2
    assert box.items == [1, 2]
    # Every protocol ran (list() may also ask __len__ for a length hint, as
    # many times as the version likes), each inside the guard.
    assert {name for name, _ in calls} == {"enter", "exit", "iter", "len", "call"}
    assert sum(name == "len" for name, _ in calls) >= 2  # len() and bool()
    assert all(g.filename in files for _, files in calls)


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


# -- classes derived from guarded classes -------------------------------------


class Marker:
    """Unpickling it would call record_stack(); a stand-in for os.system."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (record_stack, ())


def guarded(files: list[str], g: Guard) -> bool:
    return g.filename in files


def test_subclass_of_a_guarded_unpickler_loads_under_the_guard() -> None:
    g = make_guard()
    p = GuardedModule(pickle, g)
    found: list[tuple[str, bool]] = []

    class U(p.Unpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> object:
            found.append((name, guarded(stack_files(), g)))
            return super().find_class(module, name)

    # The inherited C method `load` runs inside the guard's frame; the
    # override it calls back from C does too, and so does the exploit's call.
    assert U(io.BytesIO(pickle.dumps({"x": Marker()}))).load() == {"x": "recorded"}
    assert guarded(seen[-1], g)
    assert ("record_stack", True) in found
    # Benign pickles load as before.
    assert U(io.BytesIO(pickle.dumps({"a": [1, 2.5, "s"]}))).load() == {"a": [1, 2.5, "s"]}
    # isinstance / issubclass, with the proxy and with the real class.
    u = U(io.BytesIO(b""))
    assert isinstance(u, U) and isinstance(u, p.Unpickler) and isinstance(u, pickle.Unpickler)
    assert issubclass(U, p.Unpickler) and issubclass(U, pickle.Unpickler)
    assert not issubclass(pickle.Unpickler, U)
    # The guard's own error classes are still caught.
    with pytest.raises(p.UnpicklingError):
        U(io.BytesIO(b"not a pickle.")).load()
    with pytest.raises(pickle.UnpicklingError):
        U(io.BytesIO(b"not a pickle.")).load()
    # Reports name the frame after the method it guards.
    assert U.load.__code__.co_filename == g.filename
    assert U.load.__code__.co_name == "Unpickler.load"


def test_torch_like_unpickler_wrapper_is_guarded() -> None:
    """torch.load(f, pickle_module=guarded_pickle): a class derived inside a
    function from pickle_module.Unpickler, with persistent_load set on the
    instance and UnpicklingError caught from the module."""

    def load(f: io.BytesIO, pickle_module: object) -> object:
        class UnpicklerWrapper(pickle_module.Unpickler):  # type: ignore[name-defined,misc]
            def find_class(self, mod_name: str, name: str) -> object:
                if type(name) is str and "Storage" in name:
                    raise AssertionError("no storages here")
                return super().find_class(mod_name, name)

        unpickler = UnpicklerWrapper(f)
        unpickler.persistent_load = lambda saved_id: saved_id
        try:
            return unpickler.load()
        except pickle_module.UnpicklingError:  # type: ignore[attr-defined]
            return "caught"

    g = make_guard()
    p = GuardedModule(pickle, g)
    assert load(io.BytesIO(pickle.dumps([Marker()])), p) == ["recorded"]
    assert guarded(seen[-1], g)
    assert load(io.BytesIO(pickle.dumps({"epoch": 3})), p) == {"epoch": 3}
    assert load(io.BytesIO(b"\xffjunk"), p) == "caught"  # invalid load key, on every version
    # With the plain module nothing is guarded (the gap this closes).
    assert load(io.BytesIO(pickle.dumps([Marker()])), pickle) == ["recorded"]
    assert not guarded(seen[-1], g)


def test_pure_python_unpickler_subclass_is_guarded() -> None:
    g = make_guard()
    p = GuardedModule(pickle, g)

    class U(p._Unpickler):  # type: ignore[misc]
        pass

    assert U(io.BytesIO(pickle.dumps(Marker()))).load() == "recorded"
    assert guarded(seen[-1], g)


class Box:
    """A class of a guarded module, with every kind of member."""

    made = 0

    def __init__(self, items: list[int]) -> None:
        calls.append(("__init__", stack_files()))
        self.items = items

    def __enter__(self) -> Box:
        calls.append(("__enter__", stack_files()))
        return self

    def __exit__(self, *exc: object) -> None:
        calls.append(("__exit__", stack_files()))

    def __iter__(self):  # type: ignore[no-untyped-def]
        calls.append(("__iter__", stack_files()))
        yield from self.items
        calls.append(("__iter__ end", stack_files()))

    def __len__(self) -> int:
        calls.append(("__len__", stack_files()))
        return len(self.items)

    def __getitem__(self, i: int) -> int:
        calls.append(("__getitem__", stack_files()))
        return self.items[i]

    def __call__(self, x: int) -> int:
        calls.append(("__call__", stack_files()))
        return x + 1

    def __eq__(self, other: object) -> bool:
        calls.append(("__eq__", stack_files()))
        return isinstance(other, Box) and other.items == self.items

    def __hash__(self) -> int:
        return hash(tuple(self.items))

    def total(self) -> int:
        calls.append(("total", stack_files()))
        return sum(self.items)

    @property
    def first(self) -> int:
        calls.append(("first", stack_files()))
        return self.items[0]

    @classmethod
    def make(cls, *items: int) -> Box:
        calls.append(("make", stack_files()))
        return cls(list(items))

    @staticmethod
    def double(x: int) -> int:
        calls.append(("double", stack_files()))
        return 2 * x


calls: list[tuple[str, list[str]]] = []


def run_every_member(box_class: type, g: Guard) -> set[str]:
    """Uses each member of a Box-like class; the names of those that ran
    without the guard's frame on the stack."""
    calls.clear()
    b = box_class.make(1, 2, 3)
    assert isinstance(b, box_class)
    with b as entered:
        assert entered is b
    assert list(b) == [1, 2, 3]
    assert len(b) == 3 and b[1] == 2 and b(1) == 2
    assert b.total() == 6 and b.first == 1 and b.double(2) == 4
    assert b == box_class([1, 2, 3]) and hash(b) == hash((1, 2, 3))
    assert {b} == {b}
    return {name for name, files in calls if not guarded(files, g)}


def test_every_member_of_a_derived_class_runs_under_the_guard() -> None:
    g = make_guard("box")
    GBox = GuardedClass(Box, g)

    class Plain(GBox):  # type: ignore[misc,valid-type]
        pass

    assert run_every_member(Plain, g) == set()
    assert run_every_member(Box, g) != set()  # the real class is untouched

    class Mine(GBox):  # type: ignore[misc,valid-type]
        """Overrides and members of its own."""

        def __init__(self, items: list[int]) -> None:
            calls.append(("Mine.__init__", stack_files()))
            super().__init__(items)

        def total(self) -> int:
            calls.append(("Mine.total", stack_files()))
            return super().total()

        def own(self) -> list[str]:
            return stack_files()

        def gen(self):  # type: ignore[no-untyped-def]
            yield stack_files()
            yield stack_files()

        @property
        def prop(self) -> list[str]:
            return stack_files()

    assert run_every_member(Mine, g) == set()
    assert {"Mine.__init__", "Mine.total", "total"} <= {name for name, _ in calls}
    m = Mine([1])
    assert guarded(m.own(), g) and guarded(m.prop, g)
    assert all(guarded(files, g) for files in m.gen())  # guarded while it runs
    assert Mine.__doc__ == "Overrides and members of its own."
    assert Mine.own.__name__ == "own" and Mine.own.__wrapped__.__name__ == "own"

    # Classes derived from derived classes, even past an __init_subclass__
    # that does not call super().
    class Cut(Mine):
        def __init_subclass__(cls, **kwargs: object) -> None:
            cls.registered = True  # type: ignore[attr-defined]

    class Deeper(Cut):
        def own(self) -> list[str]:
            return stack_files()

    assert Deeper.registered  # type: ignore[attr-defined]
    assert guarded(Deeper([1]).own(), g)
    assert run_every_member(Deeper, g) == set()
    assert isinstance(Deeper([1]), GBox) and issubclass(Deeper, Box)


def test_guarded_base_is_made_once_per_guard_and_class() -> None:
    g, h = make_guard("a", 1), make_guard("b", 2)
    assert guarded_base(Box, g) is guarded_base(Box, g)
    assert guarded_base(Box, g) is not guarded_base(Box, h)
    base = guarded_base(Box, g)
    assert base.__name__ == "Box" and base.__qualname__ == Box.__qualname__ and base.__module__ == Box.__module__
    assert base.__bases__ == (Box,)
    assert "__dict__" not in vars(base)  # no instance dict of its own (__slots__ = ())


def test_a_class_derived_from_two_guards_runs_under_both() -> None:
    g, h = make_guard("a", 1), make_guard("b", 2)

    class Other:
        def other(self) -> list[str]:
            return stack_files()

    class Both(GuardedClass(Box, g), GuardedClass(Other, h)):  # type: ignore[misc]
        def own(self) -> list[str]:
            return stack_files()

    b = Both([1])
    assert guarded(b.own(), g) and guarded(b.own(), h)
    assert guarded(b.other(), h)
    assert b.total() == 1


def test_abstract_methods_stay_abstract() -> None:
    import abc

    class Base(abc.ABC):
        @abc.abstractmethod
        def run(self) -> list[str]: ...

        def helper(self) -> list[str]:
            return stack_files()

    g = make_guard("abc")
    GBase = GuardedClass(Base, g)

    class Half(GBase):  # type: ignore[misc,valid-type]
        pass

    with pytest.raises(TypeError, match="abstract"):
        Half()

    class Done(GBase):  # type: ignore[misc,valid-type]
        def run(self) -> list[str]:
            return stack_files()

    assert guarded(Done().run(), g) and guarded(Done().helper(), g)


def test_c_types_derived_through_a_guard() -> None:
    g = make_guard("io")
    GBytesIO = GuardedClass(io.BytesIO, g)

    class Mine(GBytesIO):  # type: ignore[misc,valid-type]
        pass

    with Mine(b"a\nb\n") as f:
        assert list(f) == [b"a\n", b"b\n"]
        assert f.getvalue() == b"a\nb\n"
    assert isinstance(Mine(), io.BytesIO)
    assert Mine.read.__code__.co_filename == g.filename
    assert Mine.__new__.__code__.co_filename == g.filename  # type: ignore[attr-defined]


def test_classes_that_cannot_be_guarded_say_so() -> None:
    g = make_guard("bool")
    with pytest.raises(TypeError, match="cannot derive a guarded class from builtins.bool"):

        class Nope(GuardedClass(bool, g)):  # type: ignore[misc]
            pass


def test_attribute_reads_through_proxies_run_under_the_guard() -> None:
    g = make_guard("box")
    b = GuardedClass(Box, g)([4])
    calls.clear()
    assert b.first == 4
    assert [guarded(files, g) for name, files in calls if name == "first"] == [True]


def test_proxies_never_talk_to_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything made lazily (submodules, guarded subclasses, wrappers) is
    made in-process: the supervisor is never asked while guarded code runs."""
    import secimport._supervisor as supervisor

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a proxy talked to the supervisor")

    monkeypatch.setattr(supervisor.Supervisor, "request", refuse)
    monkeypatch.setattr(supervisor, "supervisor", refuse)
    g = make_guard("json")
    j = GuardedModule(json, g)
    assert j.decoder.JSONDecoder().decode("[1]") == [1]

    class Decoder(j.JSONDecoder):  # type: ignore[misc]
        pass

    assert Decoder().decode("{}") == {}
    assert g.wrap(lambda: j.scanner.make_scanner)() is not None


def test_guards_are_not_made_from_under_a_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    import secimport
    import secimport._api as api

    def no_supervisor(mode: str) -> None:
        raise AssertionError("started a supervisor from under a guard")

    monkeypatch.setattr(api, "supervisor", no_supervisor)
    g = make_guard()
    with pytest.raises(secimport.SecimportError, match=r"inside a guarded call \(<secimport guard 7: pickle>"):
        g.wrap(secimport.secure_import)("json")
    with pytest.raises(secimport.SecimportError, match="inside a guarded call"):
        g.wrap(lambda: secimport.sandboxed(len))()
    # A module file bound to a guard counts as well.
    monkeypatch.setattr(api, "_guarded_files", {__file__})
    with pytest.raises(secimport.SecimportError, match="inside a guarded call"):
        secimport.secure_import("json")


def test_builtin_container_derived_through_a_guard() -> None:
    g = make_guard("dict")

    class D(GuardedClass(dict, g)):  # type: ignore[misc]
        pass

    d = D.fromkeys(["a"], 1)  # a C class method, still bound to D
    assert type(d) is D and d == {"a": 1} and d["a"] == 1
    assert D.fromkeys.__func__.__code__.co_filename == g.filename  # type: ignore[attr-defined]
    assert D.__hash__ is None  # unhashable, as dict


def test_class_attributes_are_classified_without_running_their_code() -> None:
    class Trap:
        """A lazy proxy: touching its attributes fails (werkzeug's LocalProxy, say)."""

        def __getattr__(self, name: str) -> object:
            raise RuntimeError(f"touched {name}")

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            raise RuntimeError("touched __class__")

    class Holder:
        trap = Trap()

        def method(self) -> list[str]:
            return stack_files()

    g = make_guard("holder")

    class Mine(GuardedClass(Holder, g)):  # type: ignore[misc]
        also = Trap()

    assert guarded(Mine().method(), g)
    assert type(Mine.trap) is Trap and type(Mine.also) is Trap

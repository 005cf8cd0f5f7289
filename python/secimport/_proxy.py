"""Proxies that route every call into a guarded module through its guard.

What ``secure_import`` returns is a :class:`GuardedModule`. Reading an
attribute of it gives:

- a function, builtin or method: a wrapper that runs it inside the guard's
  frame (generator and coroutine functions stay guarded while they run);
- a class: a :class:`GuardedClass`; calling it constructs the object inside the
  guard and returns a :class:`GuardedObject`, whose methods (and ``with``,
  iteration, calling, indexing) are guarded too. ``isinstance`` and
  ``issubclass`` work with it, and subclassing it subclasses the real class
  (a subclass's own code is not guarded);
- an exception class: the class itself, so ``except module.Error`` works;
- a submodule: a GuardedModule with the same guard;
- anything else (constants, data): the value itself.

What calls *return* is not wrapped (``pickle.loads`` gives you the plain
object), except objects made by calling a guarded class.
"""

from __future__ import annotations

import functools
import operator
import types
from typing import Any, Callable

from ._guard import Guard

_WRAPPED_CALLABLES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    functools.partial,
)


def guard_value(value: Any, guard: Guard) -> Any:
    """``value`` as seen through a guarded module or object."""
    if isinstance(value, (GuardedModule, GuardedClass, GuardedObject)):
        return value
    if getattr(value, "__secimport_guard__", None) is guard:
        return value
    if isinstance(value, types.ModuleType):
        return GuardedModule(value, guard)
    if isinstance(value, type):
        if issubclass(value, BaseException):
            return value
        return GuardedClass(value, guard)
    if isinstance(value, _WRAPPED_CALLABLES):
        return guard.wrap(value)
    if callable(value):
        return GuardedObject(value, guard)
    return value


def unwrap(value: Any) -> Any:
    """The real object behind a proxy (the value itself otherwise)."""
    if isinstance(value, GuardedModule):
        return object.__getattribute__(value, "_secimport_target")
    if isinstance(value, (GuardedClass, GuardedObject)):
        return object.__getattribute__(value, "_secimport_target")
    return value


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class GuardedModule(types.ModuleType):
    """A module whose callables run under a guard (see the module docs)."""

    def __init__(self, module: types.ModuleType, guard: Guard) -> None:
        super().__init__(module.__name__, module.__doc__)
        # Let __spec__, __loader__, __package__ come from the real module.
        for key in ("__spec__", "__loader__", "__package__"):
            self.__dict__.pop(key, None)
        self.__dict__["_secimport_target"] = module
        self.__dict__["_secimport_guard"] = guard
        self.__dict__["_secimport_cache"] = {}

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        value = getattr(d["_secimport_target"], name)
        if _is_dunder(name):
            return value
        cache: dict[str, tuple[Any, Any]] = d["_secimport_cache"]
        hit = cache.get(name)
        if hit is not None and hit[0] is value:
            return hit[1]
        guarded = guard_value(value, d["_secimport_guard"])
        cache[name] = (value, guarded)
        return guarded

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__dict__["_secimport_target"], name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.__dict__["_secimport_target"], name)

    def __dir__(self) -> list[str]:
        return dir(self.__dict__["_secimport_target"])

    def __repr__(self) -> str:
        d = self.__dict__
        return f"<guarded module {d['_secimport_target'].__name__!r} ({d['_secimport_guard'].describe()})>"


class _Forwarding:
    """Attribute access forwarded to ``_secimport_target``; what comes back
    (but dunders) is guarded by ``_secimport_guard``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        value = getattr(object.__getattribute__(self, "_secimport_target"), name)
        if _is_dunder(name):
            return value
        return guard_value(value, object.__getattribute__(self, "_secimport_guard"))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_secimport_target"), name, value)


class GuardedClass(_Forwarding):
    """A class whose construction, class methods and instances are guarded."""

    def __init__(self, cls: type, guard: Guard) -> None:
        object.__setattr__(self, "_secimport_target", cls)
        object.__setattr__(self, "_secimport_guard", guard)
        object.__setattr__(self, "_secimport_new", guard.wrap(cls, getattr(cls, "__qualname__", None)))
        for key in ("__name__", "__qualname__", "__module__", "__doc__"):
            object.__setattr__(self, key, getattr(cls, key, None))
        object.__setattr__(self, "__wrapped__", cls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        obj = object.__getattribute__(self, "_secimport_new")(*args, **kwargs)
        return GuardedObject(obj, object.__getattribute__(self, "_secimport_guard"))

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(unwrap(obj), object.__getattribute__(self, "_secimport_target"))

    def __subclasscheck__(self, cls: Any) -> bool:
        return issubclass(unwrap(cls), object.__getattribute__(self, "_secimport_target"))

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type]:
        return (object.__getattribute__(self, "_secimport_target"),)

    def __eq__(self, other: Any) -> bool:
        return unwrap(other) is object.__getattribute__(self, "_secimport_target")

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_secimport_target"))

    def __repr__(self) -> str:
        cls = object.__getattribute__(self, "_secimport_target")
        guard = object.__getattribute__(self, "_secimport_guard")
        return f"<guarded class {cls.__module__}.{cls.__qualname__} ({guard.describe()})>"


def _call(target: Any, *args: Any, **kwargs: Any) -> Any:
    return target(*args, **kwargs)


def _enter(target: Any) -> Any:
    return target.__enter__()


def _exit(target: Any, *args: Any) -> Any:
    return target.__exit__(*args)


# The protocols a GuardedObject forwards, each run inside the guard's frame.
_PROTOCOLS: dict[str, Callable[..., Any]] = {
    "__call__": _call,
    "__enter__": _enter,
    "__exit__": _exit,
    "__iter__": iter,
    "__next__": next,
    "__len__": len,
    "__bool__": bool,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
    "__contains__": operator.contains,
    "__str__": str,
}


def _guarded_protocol(name: str) -> Callable[..., Any]:
    helper = _PROTOCOLS[name]

    def method(self: GuardedObject, *args: Any, **kwargs: Any) -> Any:
        target = object.__getattribute__(self, "_secimport_target")
        guard: Guard = object.__getattribute__(self, "_secimport_guard")
        return guard.shared_wrapper(name, helper)(target, *args, **kwargs)

    method.__name__ = name
    return method


class GuardedObject(_Forwarding):
    """An object whose methods run under a guard. Forwards attribute access
    and the protocols listed below; ``type()`` of it is GuardedObject."""

    __slots__ = ("_secimport_target", "_secimport_guard")

    def __init__(self, obj: Any, guard: Guard) -> None:
        object.__setattr__(self, "_secimport_target", obj)
        object.__setattr__(self, "_secimport_guard", guard)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_secimport_target"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_secimport_target"))

    def __enter__(self) -> Any:
        target = object.__getattribute__(self, "_secimport_target")
        result = _guarded_protocol("__enter__")(self)
        return self if result is target else result

    def __iter__(self) -> Any:
        target = object.__getattribute__(self, "_secimport_target")
        it = _guarded_protocol("__iter__")(self)
        if it is target:
            return self
        return GuardedObject(it, object.__getattribute__(self, "_secimport_guard"))

    __exit__ = _guarded_protocol("__exit__")
    __next__ = _guarded_protocol("__next__")
    __call__ = _guarded_protocol("__call__")
    __len__ = _guarded_protocol("__len__")
    __bool__ = _guarded_protocol("__bool__")
    __getitem__ = _guarded_protocol("__getitem__")
    __setitem__ = _guarded_protocol("__setitem__")
    __delitem__ = _guarded_protocol("__delitem__")
    __contains__ = _guarded_protocol("__contains__")
    __str__ = _guarded_protocol("__str__")

    def __repr__(self) -> str:
        target = object.__getattribute__(self, "_secimport_target")
        guard = object.__getattribute__(self, "_secimport_guard")
        return f"<guarded {type(target).__qualname__} object ({guard.describe()})>"

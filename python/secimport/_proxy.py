"""Proxies that route every call into a guarded module through its guard.

What ``secure_import`` returns is a :class:`GuardedModule`. Reading an
attribute of it gives:

- a function, builtin or method: a wrapper that runs it inside the guard's
  frame (generator and coroutine functions stay guarded while they run);
- a class: a :class:`GuardedClass`; calling it constructs the object inside the
  guard and returns a :class:`GuardedObject`, whose methods (and ``with``,
  iteration, calling, indexing) are guarded too. ``isinstance`` and
  ``issubclass`` work with it. Subclassing it derives from the guard's
  *guarded subclass* of the real class (:func:`guarded_base`), so a derived
  class stays guarded: constructing it, every method it inherits (C methods
  such as ``Unpickler.load`` included), and the methods, properties and
  protocols (``__call__``, ``__iter__``, ``__enter__``...) defined in its
  own body run under the guard, in it and in classes derived from it;
- an exception class: the class itself, so ``except module.Error`` works;
- a submodule: a GuardedModule with the same guard;
- anything else (constants, data, objects that are not callable): the value
  itself.

Reading an attribute through a proxy runs under the guard too (a property or
a module's ``__getattr__`` may run code). What calls *return* is not wrapped
(``pickle.loads`` gives you the plain object), except objects made by calling
a guarded class.

Nothing here talks to the supervisor: wrappers, proxies of submodules and
guarded subclasses are made in this process, from the guard's synthetic file
name, which the supervisor already knows. Only ``secure_import`` and
``sandboxed`` send commands, when a guard is made (see ``secimport._api``).
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
        # A module's __getattr__ may import a submodule: under the guard.
        value = d["_secimport_guard"].shared_wrapper("getattr", getattr)(d["_secimport_target"], name)
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
        guard: Guard = object.__getattribute__(self, "_secimport_guard")
        value = guard.shared_wrapper("getattr", getattr)(object.__getattribute__(self, "_secimport_target"), name)
        if _is_dunder(name):
            return value
        return guard_value(value, guard)

    def __setattr__(self, name: str, value: Any) -> None:
        guard: Guard = object.__getattribute__(self, "_secimport_guard")
        guard.shared_wrapper("setattr", setattr)(object.__getattribute__(self, "_secimport_target"), name, value)


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
        # `class Mine(guarded.Cls)` derives from the guarded subclass.
        cls = object.__getattribute__(self, "_secimport_target")
        return (guarded_base(cls, object.__getattribute__(self, "_secimport_guard")),)

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


# -- guarded subclasses ------------------------------------------------------
#
# `class Mine(guarded.Cls)` must stay guarded: torch.load(f, pickle_module=
# guarded_pickle) derives `UnpicklerWrapper(pickle_module.Unpickler)` and calls
# its inherited C method `load`, which no proxy would see. So deriving from a
# GuardedClass derives from a real subclass of the real class, made once per
# guard, whose every method (inherited ones included) is a guard wrapper; and
# its __init_subclass__ wraps what each derived class defines itself.

#: Entries of a class's __dict__ that are left alone: the class-creation
#: hooks (handled apart) and data that Python manages itself.
_CLASS_ENTRIES_LEFT_ALONE = frozenset(
    {
        "__init_subclass__",
        "__subclasshook__",
        "__class_getitem__",
        "__secimport_guard__",
        "__dict__",
        "__weakref__",
        "__module__",
        "__qualname__",
        "__doc__",
        "__slots__",
    }
)


def _guarded_by(value: Any, guard: Guard) -> bool:
    """Is ``value`` (a function) one of ``guard``'s wrappers?"""
    return getattr(value, "__secimport_guard__", None) is guard


def _class_method_caller(descriptor: Any) -> Callable[..., Any]:
    """A function calling a C class method descriptor (``dict.fromkeys``)
    for the class it is called on."""

    def call(cls: type, *args: Any, **kwargs: Any) -> Any:
        return descriptor.__get__(None, cls)(*args, **kwargs)

    return call


def _guarded_member(value: Any, guard: Guard, label: str) -> Any:
    """What to put in a guarded class in place of ``value``, an entry of a
    class's ``__dict__``, so that what it runs runs under ``guard``; None
    when it runs no code or is guarded already. Binds as ``value`` did.
    Looks at ``type(value)`` only: class attributes may be proxies whose
    attributes run code."""
    kind = type(value)
    if issubclass(kind, types.FunctionType):
        return None if _guarded_by(value, guard) else guard.wrap(value)  # named after its __qualname__
    if issubclass(kind, (types.MethodDescriptorType, types.WrapperDescriptorType)):
        return guard.wrap(value, label)  # C methods and slots: bind like functions
    if issubclass(kind, staticmethod):
        return None if _guarded_by(value.__func__, guard) else staticmethod(guard.wrap(value.__func__, label))
    if issubclass(kind, classmethod):
        return None if _guarded_by(value.__func__, guard) else classmethod(guard.wrap(value.__func__, label))
    if issubclass(kind, types.ClassMethodDescriptorType):
        return classmethod(guard.wrap(_class_method_caller(value), label))
    if issubclass(kind, (types.BuiltinFunctionType, functools.partial)):
        # Do not bind (a C type's __new__ is one): keep it that way.
        return staticmethod(guard.wrap(value, label))
    if issubclass(kind, property):
        original: list[Any] = [value.fget, value.fset, value.fdel]
        parts = [fn if fn is None or _guarded_by(fn, guard) else guard.wrap(fn, label) for fn in original]
        if parts == original:
            return None
        fget, fset, fdel = parts
        try:
            return type(value)(fget, fset, fdel, value.__doc__)
        except TypeError:
            return property(fget, fset, fdel, value.__doc__)
    if issubclass(kind, functools.cached_property):
        if _guarded_by(value.func, guard):
            return None
        cached = functools.cached_property(guard.wrap(value.func, label))
        cached.__doc__ = value.__doc__
        return cached
    # Classes, other descriptors (C getsets and members, custom ones), data.
    return None


def _guard_derived_class(cls: type, guard: Guard) -> None:
    """Puts what a class derived from a guarded class defines in its own body
    under ``guard`` (its methods, properties, protocols, ``__new__``). Runs
    from __init_subclass__, so it covers the class statement's body, not
    attributes set on the class later. Idempotent."""
    for name, value in list(vars(cls).items()):
        if name in _CLASS_ENTRIES_LEFT_ALONE:
            continue
        guarded = _guarded_member(value, guard, f"{cls.__qualname__}.{name}")
        if guarded is None:
            continue
        # type.__setattr__: updates the type's slots (__call__, __iter__...)
        # and skips a metaclass's own __setattr__.
        type.__setattr__(cls, name, guarded)
        set_name = getattr(type(guarded), "__set_name__", None)
        if set_name is not None:
            set_name(guarded, cls, name)
    # A class that defines __init_subclass__ without calling super() would
    # cut its own subclasses off from ours: guard them from its hook.
    own = vars(cls).get("__init_subclass__")
    if isinstance(own, classmethod) and not _guarded_by(own.__func__, guard):
        original = guard.wrap(own.__func__, f"{cls.__qualname__}.__init_subclass__")

        def __init_subclass__(sub: type, **kwargs: Any) -> None:
            _guard_derived_class(sub, guard)
            original(sub, **kwargs)

        __init_subclass__.__secimport_guard__ = guard  # type: ignore[attr-defined]
        type.__setattr__(cls, "__init_subclass__", classmethod(__init_subclass__))


def guarded_base(cls: type, guard: Guard) -> type:
    """The guarded subclass of ``cls`` for ``guard``, which ``class
    Mine(guarded.Cls)`` derives from (made once per guard and class).

    Every method, C method, slot (``__init__``, ``__call__``, ``__iter__``,
    ``__enter__``...), ``__new__``, class and static method and property
    that ``cls`` has, but those of ``object``, is redefined as a wrapper
    running the real one under the guard, so methods inherited by derived
    classes are guarded, and so are calls coming back from C (``load``
    calling a derived class's ``find_class``). Its ``__init_subclass__``
    guards what each derived class defines itself. Same name, qualname and
    module as ``cls``, no instance dict of its own (``__slots__ = ()``), and
    the class's metaclass; ``isinstance``/``issubclass`` with ``cls`` hold.
    Raises TypeError if ``cls`` cannot be subclassed this way."""
    made = guard.bases.get(cls)
    if made is not None:
        return made
    namespace: dict[str, Any] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue  # object's methods run no module code
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)  # the first class in the MRO defines it
            if name in _CLASS_ENTRIES_LEFT_ALONE:
                continue
            guarded = _guarded_member(value, guard, f"{klass.__qualname__}.{name}")
            if guarded is not None:
                namespace[name] = guarded
    if "__eq__" in namespace and "__hash__" not in namespace:
        namespace["__hash__"] = cls.__hash__  # else type() would set it to None
    holder: list[Any] = []

    def __init_subclass__(sub: Any, **kwargs: Any) -> None:
        _guard_derived_class(sub, guard)
        parent = super(holder[0], sub).__init_subclass__
        guard.shared_wrapper("__init_subclass__", _call)(parent, **kwargs)

    __init_subclass__.__secimport_guard__ = guard  # type: ignore[attr-defined]
    namespace.update(
        __init_subclass__=classmethod(__init_subclass__),
        __slots__=(),
        __module__=cls.__module__,
        __qualname__=cls.__qualname__,
        __doc__=cls.__doc__,
        __secimport_guard__=guard,
    )
    meta = type(cls)
    try:
        ns: Any = meta.__prepare__(cls.__name__, (cls,))
        for key, value in namespace.items():
            ns[key] = value
        made = meta(cls.__name__, (cls,), ns)
    except Exception as e:
        raise TypeError(
            f"secimport cannot derive a guarded class from {cls.__module__}.{cls.__qualname__}: {e}. "
            "Derive from secimport.unwrap(...) to subclass the real class, unguarded."
        ) from e
    holder.append(made)
    return guard.bases.setdefault(cls, made)

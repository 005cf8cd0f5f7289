"""A guard, and the wrapper frames that put it on the stack.

The kernel judges a syscall by the Python frames on the calling thread's stack:
a frame whose ``co_filename`` was registered for guard N makes the syscall
subject to guard N's permissions. A module's own source files are registered,
but that is not enough: ``pickle.loads`` is C code, so while it runs no
``pickle.py`` frame is on the stack, and the exploit's ``eval`` frame is named
``<string>``.

So every call made through a guarded module (or a ``sandboxed`` function) goes
through a small Python function whose code was compiled with the guard's
*synthetic* file name, ``<secimport guard N: NAME>``. That file name is
registered too, so the wrapper's frame stays on the stack for exactly as long
as the call runs, C code and all, and the kernel recognises it.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import re
import sys
from types import CodeType
from typing import Any, Callable

#: The kernel compares file names on at most this many bytes.
FILENAME_MAX = 255

# One factory per kind of callable: a generator (or coroutine) must stay
# guarded while it runs, which happens after the call that created it has
# returned, so its wrapper is a generator that delegates to it.
_TEMPLATES = """
def plain(fn):
    def guarded(*args, **kwargs):
        return fn(*args, **kwargs)
    return guarded

def generator(fn):
    def guarded(*args, **kwargs):
        return (yield from fn(*args, **kwargs))
    return guarded

def coroutine(fn):
    async def guarded(*args, **kwargs):
        return await fn(*args, **kwargs)
    return guarded

def async_generator(fn):
    async def guarded(*args, **kwargs):
        async for item in fn(*args, **kwargs):
            yield item
    return guarded
"""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/ +=,@-]")


def _ascii_label(text: str, limit: int) -> str:
    """Printable ASCII only: the kernel reads compact ASCII strings, and the
    name appears in reports."""
    label = _UNSAFE.sub("_", text) or "_"
    return label[:limit]


#: How every guard's synthetic file name starts.
SYNTHETIC_PREFIX = "<secimport guard "


def synthetic_filename(gid: int, name: str) -> str:
    prefix = f"{SYNTHETIC_PREFIX}{gid}: "
    return prefix + _ascii_label(name, FILENAME_MAX - len(prefix) - 1) + ">"


def _kind(fn: Any) -> str:
    if inspect.isasyncgenfunction(fn):
        return "async_generator"
    if inspect.iscoroutinefunction(fn):
        return "coroutine"
    if inspect.isgeneratorfunction(fn):
        return "generator"
    return "plain"


class Guard:
    """One guard: what it allows, where it logs, and the synthetic file name
    whose frames it judges. Pure Python: defining it in the kernel is the
    supervisor's job (see ``secimport._api``)."""

    def __init__(
        self,
        gid: int,
        name: str,
        *,
        mode: str,
        allow_shells: bool,
        allow_networking: bool,
        allow_file_writes: bool = False,
        log_file: str,
    ) -> None:
        self.id = gid
        self.name = name
        self.mode = mode
        self.allow_shells = allow_shells
        self.allow_networking = allow_networking
        self.allow_file_writes = allow_file_writes
        self.log_file = log_file
        self.filename = synthetic_filename(gid, name)
        namespace: dict[str, Any] = {"__name__": "secimport._guarded", "__builtins__": builtins}
        exec(compile(_TEMPLATES, self.filename, "exec"), namespace)
        self._factories: dict[str, Callable[[Any], Callable[..., Any]]] = {
            kind: namespace[kind] for kind in ("plain", "generator", "coroutine", "async_generator")
        }
        # Wrapper code objects renamed after what they wrap, so that reports
        # read `<secimport guard 1: pickle>:3 in loads`.
        self._codes: dict[tuple[str, str], CodeType] = {}
        self._shared: dict[str, Callable[..., Any]] = {}
        # Real class -> its guarded subclass (see secimport._proxy.guarded_base).
        self.bases: dict[type, type] = {}

    def describe(self) -> str:
        def said(allowed: bool) -> str:
            return "allowed" if allowed else "denied"

        return (
            f"guard {self.id}, {self.mode} mode: shells {said(self.allow_shells)}, "
            f"networking {said(self.allow_networking)}, file writes {said(self.allow_file_writes)}"
        )

    def wrap(self, fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
        """A function that calls ``fn`` inside a frame of this guard."""
        kind = _kind(fn)
        wrapper = self._factories[kind](fn)
        label = _ascii_label(name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call", 120)
        code = self._codes.get((kind, label))
        if code is None:
            renamed: dict[str, Any] = {"co_name": label}
            if sys.version_info >= (3, 11):
                renamed["co_qualname"] = label
            code = wrapper.__code__.replace(**renamed)
            self._codes[(kind, label)] = code
        wrapper.__code__ = code
        try:
            functools.update_wrapper(wrapper, fn)
        except (AttributeError, TypeError):
            pass
        wrapper.__secimport_guard__ = self  # type: ignore[attr-defined]
        return wrapper

    def shared_wrapper(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``wrap(fn, name)``, made once per guard (for helpers that every
        proxy of this guard calls, such as ``len`` or ``iter``)."""
        wrapper = self._shared.get(name)
        if wrapper is None:
            wrapper = self._shared[name] = self.wrap(fn, name)
        return wrapper

    def __repr__(self) -> str:
        return f"<secimport {self.describe()} for {self.name!r}, log {self.log_file}>"

"""``secure_import`` and ``sandboxed``: defining guards and handing out
guarded modules and functions."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import sys
import threading
from typing import Any, Callable, Iterable, TypeVar, Union, overload

from ._errors import SecimportError
from ._guard import SYNTHETIC_PREFIX, Guard
from ._proxy import GuardedModule
from ._supervisor import MODES, Supervisor, supervisor

#: Where logs go unless ``log_file`` says otherwise (as in the original secimport).
LOG_DIR = "/tmp/.secimport"

F = TypeVar("F", bound=Callable[..., Any])
PathLike = Union[str, "os.PathLike[str]"]

# next() on a count is atomic under the GIL: no lock (and none to inherit
# locked across a fork).
_ids = itertools.count(1)

#: The co_filenames this process (or the parent it was forked from) bound to
#: a guard: frames of these files are judged by a guard.
_guarded_files: set[str] = set()

#: Those of them bound to a guard that denies file writes.
_no_file_writes: set[str] = set()


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, not {mode!r}")


def _file_name_safe(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name) or "_"


def default_log_file(name: str) -> str:
    """``/tmp/.secimport/sandbox_<name>.log``."""
    return os.path.join(LOG_DIR, f"sandbox_{_file_name_safe(name)}.log")


def _line_arg(text: str, what: str) -> bytes:
    """A protocol argument: the rest of a line, so no newline in it."""
    raw = os.fsencode(text)
    if b"\n" in raw or b"\r" in raw:
        raise ValueError(f"{what} {text!r} contains a line break, which secimport cannot pass to its guard")
    return raw


def _guarded_frame() -> str | None:
    """The file name of the innermost frame on this thread's stack that a
    guard judges, if any."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(SYNTHETIC_PREFIX) or filename in _guarded_files:
            return str(filename)
        frame = frame.f_back
    return None


def _file_writes_denied_here() -> bool:
    """Would the kernel judge a file write made here by a guard that denies
    file writes? True when a frame of such a guard is on this thread's
    stack; in a thread other than the main thread, as soon as such a guard
    exists (a thread started under a guard inherits it with no guarded frame
    on its own stack, which only the kernel can see)."""
    if not _no_file_writes:
        return False
    if threading.current_thread() is not threading.main_thread():
        return True
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename in _no_file_writes:
            return True
        frame = frame.f_back
    return False


_bytecode_hook_installed = False


def _skip_bytecode_writes_under_guards() -> None:
    """Makes the import system skip writing ``__pycache__`` files where a
    guard denies file writes.

    Importing a module whose cached bytecode is missing or stale writes it
    (``mkdir __pycache__``, ``openat(O_WRONLY|O_CREAT)`` of a temporary file,
    ``rename``): under a guard that denies file writes, the kernel would
    report it (and kill the process in kill mode), since the guard's frame is
    on the stack below importlib's. That happens to any import made under the
    guard: ``secure_import`` of a module not imported yet, a pickle naming a
    class of a module not imported yet, a lazy import in guarded code. So
    ``SourceFileLoader._cache_bytecode``, which only writes the cache, does
    nothing there: the module is compiled from source and runs as usual,
    and its cache is written by the next import outside the guards. Skipping
    only prevents writes: writing the file later, from outside the guard,
    would let guarded code have data of its choice written where it chose
    (it can call the loader itself), so nothing is deferred. Code under the
    guard that writes a cache file any other way (``py_compile``, a loader's
    ``set_data``) is judged like any file write.
    """
    global _bytecode_hook_installed
    if _bytecode_hook_installed:
        return
    _bytecode_hook_installed = True
    try:
        from importlib import _bootstrap_external  # type: ignore[attr-defined]

        loader = _bootstrap_external.SourceFileLoader
        original = loader.__dict__["_cache_bytecode"]
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other implementations
        return

    def _cache_bytecode(self: Any, source_path: Any, bytecode_path: Any, data: Any) -> Any:
        if _file_writes_denied_here():
            return None
        return original(self, source_path, bytecode_path, data)

    _cache_bytecode.__wrapped__ = original  # type: ignore[attr-defined]
    loader._cache_bytecode = _cache_bytecode


def _outside_guards(what: str) -> None:
    """Refuses to talk to the supervisor from under a guard.

    The supervisor only lets guards get stricter, and the kernel denies
    writes to it from under a guard: guards are made (and every command is
    sent) by ``secure_import``/``sandboxed`` called from unguarded code.
    This says so clearly instead of being stopped by the kernel. (A thread
    started under a guard inherits it without any guarded frame on its
    stack: there, only the kernel can tell.)"""
    inside = _guarded_frame()
    if inside is not None:
        raise SecimportError(
            f"secimport cannot {what} from inside a guarded call ({inside} is on this thread's stack): "
            "code running under a guard may not talk to the supervisor. Make guards before entering "
            "guarded code, e.g. at the top of the program."
        )


def _new_guard(
    name: str,
    *,
    mode: str,
    allow_shells: bool,
    allow_networking: bool,
    allow_file_writes: bool,
    log_file: PathLike | None,
    files: Iterable[str] = (),
) -> tuple[Guard, Supervisor]:
    """Attaches the supervisor for ``mode`` (once per process) and defines a
    guard in it judging its synthetic file and ``files``, in one exchange.
    Refuses to from under a guard (see :func:`_outside_guards`)."""
    _check_mode(mode)
    _outside_guards(f"guard {name}")
    log_path = os.path.abspath(os.fspath(log_file)) if log_file is not None else default_log_file(name)
    log_arg = _line_arg(log_path, "log_file")  # the guard creates its directory
    sup = supervisor(mode)
    gid = next(_ids)
    guard = Guard(
        gid,
        name,
        mode=mode,
        allow_shells=bool(allow_shells),
        allow_networking=bool(allow_networking),
        allow_file_writes=bool(allow_file_writes),
        log_file=log_path,
    )
    files = [guard.filename, *files]
    if not guard.allow_file_writes:
        # Before the guard exists in the kernel: its first import may need it.
        _skip_bytecode_writes_under_guards()
    sup.request(
        [b"guard %d %d %d %d %s" % (gid, guard.allow_shells, guard.allow_networking, guard.allow_file_writes, log_arg)]
        + _file_commands(guard, files)
    )
    _bound(guard, files)
    return guard, sup


def _file_commands(guard: Guard, files: Iterable[str]) -> list[bytes]:
    return [b"file %d %s" % (guard.id, _line_arg(f, "file name")) for f in files]


def _bound(guard: Guard, files: Iterable[str]) -> None:
    """Records files the supervisor bound to ``guard``."""
    files = list(files)
    _guarded_files.update(files)
    if not guard.allow_file_writes:
        _no_file_writes.update(files)


def _notice(guard: Guard, what: str) -> None:
    print(
        f"secimport: guarding {what} ({guard.describe()}); violations are logged to {guard.log_file}",
        file=sys.stderr,
        flush=True,
    )


def _python_files(directory: str) -> list[str]:
    found: list[str] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(".py"))
    return found


def _spec_files(spec: Any) -> set[str]:
    """The ``co_filename``s of the code a module spec stands for: its source
    file, ``<frozen NAME>`` for modules frozen into the interpreter (3.11
    freezes os, codecs, ...), and every .py file under a package's
    directories."""
    files: set[str] = set()
    if spec is None:
        return files
    if spec.origin == "frozen":
        files.add(f"<frozen {spec.name}>")
        source = getattr(spec.loader_state, "filename", None)
        if isinstance(source, str):
            files.add(source)
    elif spec.has_location and isinstance(spec.origin, str):
        files.add(spec.origin)
    for location in spec.submodule_search_locations or ():
        if isinstance(location, str) and os.path.isdir(location):
            files.update(_python_files(location))
    return files


def _module_files(module: Any) -> set[str]:
    files = _spec_files(getattr(module, "__spec__", None))
    source = getattr(module, "__file__", None)
    if isinstance(source, str):
        files.add(source)
    for location in getattr(module, "__path__", None) or ():
        if isinstance(location, str) and os.path.isdir(location):
            files.update(_python_files(location))
    return files


def secure_import(
    name: str,
    allow_shells: bool = False,
    allow_networking: bool = False,
    mode: str = "kill",
    log_file: PathLike | None = None,
    *,
    allow_file_writes: bool = False,
    package: str | None = None,
) -> GuardedModule:
    """Imports module ``name`` under a guard and returns it, guarded.

    From then on every syscall made while the module is on the calling
    thread's stack is checked by the kernel, in this process, in threads
    started meanwhile and in child processes: starting programs (fork, clone
    of a process, exec, posix_spawn) unless ``allow_shells``, networking
    (socket, connect, bind, sendto, ...) unless ``allow_networking``, and
    changing files by name unless ``allow_file_writes`` (opening a file to
    write, create, truncate or append to it, ``creat``, ``truncate``,
    renaming, unlinking, making or removing directories, links, ``chmod``,
    ``chown``, ``mknod``). Starting threads, opening files to read them, and
    reading or writing descriptors that are already open (stdout, a file the
    caller opened and passed in) are always allowed. Imports made under the
    guard do not write ``__pycache__`` files while file writes are denied
    (the module is compiled from source; the cache is written by the next
    import outside the guards).

    The module "is on the stack" when a frame of one of its source files is
    (for a package: every .py file under its directory), or a frame of the
    returned proxy: calls through the proxy run inside a wrapper frame that
    the kernel recognises, so C code such as ``pickle.loads`` is covered
    too. See :mod:`secimport._proxy` for what the proxy wraps. The import
    itself runs under the guard when the module was not imported yet.

    ``mode="kill"`` SIGKILLs this process at the entry of a denied syscall
    (an exec never starts the program); ``mode="log"`` reports and lets it
    run. Either way the violation (syscall, Python stack, what was done) is
    appended to ``log_file`` (default ``/tmp/.secimport/sandbox_<name>.log``,
    printed on stderr) and printed on stderr.

    Needs root: the first call attaches a supervisor (``secimport guard``) to
    this process and waits until it is attached. Raises
    :class:`SecimportError` if it cannot (not root, no BPF, binary missing) —
    it never returns an unprotected module — and when called from inside a
    guarded call (make guards before entering guarded code), or when the
    module's files are already held by a guard that denies more.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"secure_import() needs a module name, not {name!r}")
    resolved = importlib.util.resolve_name(name, package) if name.startswith(".") else name
    _check_mode(mode)
    module = sys.modules.get(resolved)
    if module is None:
        # Finding the module imports its parent packages, not the module.
        spec = importlib.util.find_spec(resolved)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {resolved!r}", name=resolved)
        files = _spec_files(spec)
    else:
        files = _module_files(module)
    guard, sup = _new_guard(
        resolved,
        mode=mode,
        allow_shells=allow_shells,
        allow_networking=allow_networking,
        allow_file_writes=allow_file_writes,
        log_file=log_file,
        files=sorted(files),
    )
    _notice(guard, f"module {resolved}")
    if module is None:
        module = guard.wrap(importlib.import_module, f"import {resolved}")(resolved)
        # The import may have set __file__ or __path__ differently from the spec.
        # Sent once the import returned: no frame of this guard is on the
        # stack any more (and _new_guard checked there was no other).
        late = _module_files(module) - files
        if late:
            sup.request(_file_commands(guard, sorted(late)))
            _bound(guard, late)
    return GuardedModule(module, guard)


def _callable_name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None)
    if module and module not in ("__main__", "builtins"):
        return f"{module}.{qualname}"
    return str(qualname)


class Sandbox:
    """Permissions for :func:`sandboxed`; applying it to a function defines a
    guard (attaching the supervisor on first use) and returns the function
    wrapped so that each call runs under that guard."""

    def __init__(
        self,
        allow_shells: bool = False,
        allow_networking: bool = False,
        mode: str = "kill",
        log_file: PathLike | None = None,
        name: str | None = None,
        *,
        allow_file_writes: bool = False,
    ) -> None:
        _check_mode(mode)
        self.allow_shells = allow_shells
        self.allow_networking = allow_networking
        self.allow_file_writes = allow_file_writes
        self.mode = mode
        self.log_file = log_file
        self.name = name

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"sandboxed() wraps a callable, not {fn!r}")
        label = self.name or _callable_name(fn)
        guard, _ = _new_guard(
            label,
            mode=self.mode,
            allow_shells=self.allow_shells,
            allow_networking=self.allow_networking,
            allow_file_writes=self.allow_file_writes,
            log_file=self.log_file,
        )
        _notice(guard, f"calls to {label}")
        return guard.wrap(fn)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"sandboxed(allow_shells={self.allow_shells!r}, allow_networking={self.allow_networking!r}, "
            f"allow_file_writes={self.allow_file_writes!r}, mode={self.mode!r}, log_file={self.log_file!r}, "
            f"name={self.name!r})"
        )


@overload
def sandboxed(fn: F) -> F: ...


@overload
def sandboxed(
    fn: None = None,
    *,
    allow_shells: bool = False,
    allow_networking: bool = False,
    allow_file_writes: bool = False,
    mode: str = "kill",
    log_file: PathLike | None = None,
    name: str | None = None,
) -> Sandbox: ...


def sandboxed(
    fn: Callable[..., Any] | None = None,
    *,
    allow_shells: bool = False,
    allow_networking: bool = False,
    allow_file_writes: bool = False,
    mode: str = "kill",
    log_file: PathLike | None = None,
    name: str | None = None,
) -> Any:
    """Runs a function under the same stack-based rule as :func:`secure_import`.

    As a decorator::

        @secimport.sandboxed(allow_networking=False)
        def load_checkpoint(path):
            return torch.load(path, weights_only=False)

    or as a wrapper: ``secimport.sandboxed()(pickle.load)(f)``. While the
    wrapped function runs (C code included, and generators or coroutines
    while they run), every syscall on that thread, in threads it starts and in
    processes it forks is checked: shells unless ``allow_shells``, networking
    unless ``allow_networking``, creating, writing, truncating, renaming or
    removing files by name unless ``allow_file_writes`` (see
    :func:`secure_import`). The rest of the program is not restricted.

    The guard is defined, and the supervisor attached, when the function is
    wrapped (at decoration time, which must not be inside a guarded call), so
    a missing permission raises :class:`SecimportError` early. Each wrapping defines a guard with its own
    log (default ``/tmp/.secimport/sandbox_<module.function>.log``, or
    ``sandbox_<name>.log``): wrap once and reuse the wrapper.
    """
    sandbox = Sandbox(
        allow_shells=allow_shells,
        allow_networking=allow_networking,
        allow_file_writes=allow_file_writes,
        mode=mode,
        log_file=log_file,
        name=name,
    )
    if fn is not None:
        return sandbox(fn)
    return sandbox

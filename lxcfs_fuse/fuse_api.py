"""The one import point of the FUSE binding: our own /dev/fuse session, fusepy (libfuse 2) or
mfusepy (libfuse 2 or 3).

Rules:
1. Nothing else in the project imports ``fuse``, ``mfusepy`` or ``devfuse``; every binding
   detail (how an operations object is dispatched, which libfuse is loaded, which mount
   options it knows) is settled here.
2. Choice: ``LXCFS_FUSE_API=devfuse|fusepy|mfusepy`` forces one. Otherwise ``devfuse``
   (``lxcfs_fuse.devfuse``: the daemon reads /dev/fuse itself, one serving thread, no
   libfuse; docs/performance.md, third round) when running as root, which mounting with
   mount(2) needs; else fusepy when importable (the declared dependency), else mfusepy.
   mfusepy loads libfuse 2 when both are installed; ``FUSE_LIBRARY_NAME=fuse3`` (mfusepy's
   own variable) selects libfuse 3.
3. The libfuse bindings run handlers with ``raw_fi=True`` so ``open`` can set ``direct_io``
   on the kernel's file info; every binding gets the same operations object.
4. What every request calls into C (``fuse_get_context``, the copy of a read's answer into
   libfuse's buffer) is called without releasing the GIL: those calls return at once, and a
   release under concurrent readers costs a thread switch to win the GIL back.

Why a dispatcher: fusepy calls ``operations(name, *args)`` and registers every callback the
object has an attribute for; mfusepy calls ``operations.name(*args)`` and warns when the
object is callable. ``_FusepyDispatch`` gives fusepy its call form without making the
operations object itself callable.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "BINDING",
    "FUSE_MAJOR",
    "describe",
    "fuse_caller",
    "mount",
]

_BINDINGS = ("devfuse", "fusepy", "mfusepy")


def _load_binding() -> tuple[str, ModuleType]:
    forced = os.environ.get("LXCFS_FUSE_API", "").strip()
    if forced and forced not in _BINDINGS:
        raise ImportError(f"LXCFS_FUSE_API={forced!r}: choose one of {', '.join(_BINDINGS)}")
    root = os.geteuid() == 0  # devfuse mounts with mount(2), which needs root (rule 2)
    candidates = [forced] if forced else list(_BINDINGS if root else _BINDINGS[1:])
    errors: list[str] = []
    for name in candidates:
        module_name = {"fusepy": "fuse", "devfuse": "lxcfs_fuse.devfuse"}.get(name, name)
        try:
            return name, importlib.import_module(module_name)
        except (ImportError, OSError) as error:  # OSError: the module found no libfuse
            errors.append(f"{name}: {error}")
    raise ImportError("no usable FUSE binding: " + "; ".join(errors))


BINDING, _module = _load_binding()

#: The libfuse major version the binding loaded (2 or 3; 0 for devfuse, which has none).
FUSE_MAJOR: int = 0 if BINDING == "devfuse" else int(getattr(_module, "fuse_version_major", 2))


def describe() -> str:
    """The binding in words, for the start-up log line."""
    if BINDING == "devfuse":
        return "devfuse (own /dev/fuse session, no libfuse)"
    return f"{BINDING}, libfuse {FUSE_MAJOR}"


# Crossings made on every request hold the GIL (rule 4): a ctypes foreign call made
# through CDLL or CFUNCTYPE releases the GIL and must win it back, and with several libfuse
# threads waiting for it each release becomes a thread switch (measured: throughput fell
# from 1,650 to 540 ops/s going from one reader to eight). Both calls below return at once.
def _context_getter() -> Callable[[], Any] | None:
    """libfuse's fuse_get_context called through PyDLL, or None where the binding does not
    expose its library (then its own, GIL-releasing, fuse_get_context is used)."""
    library = getattr(_module, "_libfuse", None)
    context = getattr(_module, "fuse_context", None)
    if library is None or context is None:
        return None
    function = ctypes.PyDLL(library._name).fuse_get_context
    function.restype = ctypes.POINTER(context)
    function.argtypes = []
    return function


_get_context = _context_getter()
_memmove_holding_gil = ctypes.PYFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)(ctypes._memmove_addr)  # type: ignore[attr-defined]


def fuse_caller() -> tuple[int, int, int]:
    """(uid, gid, pid) of the task whose request is being served (pid in our pid namespace)."""
    if BINDING == "devfuse":
        caller: tuple[int, int, int] = _module.caller()
        return caller
    if _get_context is None:
        uid, gid, pid = _module.fuse_get_context()
        return int(uid), int(gid), int(pid)
    context = _get_context().contents
    return int(context.uid), int(context.gid), int(context.pid)


#: At most this many libfuse threads hold a Python thread state at once
#: (``_keep_thread_state``); a safety bound, since each is freed when its thread exits.
PINNED_THREADS_MAX = 64
_pinned = threading.local()
_pinned_lock = threading.Lock()
_pinned_count = 0

_libc = ctypes.CDLL(None)
_api = ctypes.pythonapi
_api.PyThreadState_Get.restype = ctypes.c_void_p
_api.PyThreadState_Clear.argtypes = [ctypes.c_void_p]
_api.PyThreadState_Delete.argtypes = [ctypes.c_void_p]
_ThreadExitHook = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _free_pinned_state(pinned_state: int | None) -> None:
    """pthread key destructor: runs as a pinned libfuse thread exits, and frees the thread
    state ``_pin_current_thread`` kept (libfuse starts threads under bursts and ends them
    when more than ten idle). By now glibc has already cleared Python's own per-thread key,
    so this callback runs on a fresh state of its own; the pinned one, no longer in use by
    anyone, is cleared and deleted explicitly."""
    global _pinned_count
    if not pinned_state:
        return
    _api.PyThreadState_Clear(pinned_state)
    _api.PyThreadState_Delete(pinned_state)
    with _pinned_lock:
        _pinned_count -= 1


# The C function pointer libc calls; a module global, so it lives as long as the key.
_free_at_thread_exit = _ThreadExitHook(_free_pinned_state)
_exit_key = ctypes.c_uint()
if _libc.pthread_key_create(ctypes.byref(_exit_key), _free_at_thread_exit) != 0:
    raise ImportError("pthread_key_create failed: no key for the thread-exit hook")
_libc.pthread_setspecific.argtypes = [ctypes.c_uint, ctypes.c_void_p]


def _pin_current_thread() -> None:
    state = _api.PyThreadState_Get()
    _api.PyGILState_Ensure()
    _libc.pthread_setspecific(_exit_key, state)


def _is_libfuse_thread() -> bool:
    # A thread Python did not start is a _DummyThread to the threading module; Python
    # frees the states of its own threads itself, and pinning one would free it twice.
    return type(threading.current_thread()).__name__ == "_DummyThread"


def _keep_thread_state() -> None:
    """Give the calling libfuse worker thread a Python thread state for its lifetime.

    A ctypes callback on a thread Python did not start creates a thread state on entry and
    destroys it on return (PyGILState_Ensure/Release): a ``gettid``, an ``mmap`` and a
    ``munmap`` and the state's set-up, four times per open+read+close, about a tenth of the
    daemon's CPU per request. One extra Ensure keeps the state alive between callbacks;
    the pthread key destructor above gives it back when the thread exits. An earlier version
    never gave it back and capped the pinned threads at 16 instead: libfuse's thread churn
    under a burst of readers used the 16 up within seconds, and every later thread paid the
    per-callback cost again."""
    global _pinned_count
    if getattr(_pinned, "done", False):
        return
    _pinned.done = True  # lasts as long as the state, i.e. if pinned below
    if not _is_libfuse_thread():
        return
    with _pinned_lock:
        if _pinned_count >= PINNED_THREADS_MAX:
            return
        _pinned_count += 1
    _pin_current_thread()


class _FusepyDispatch:
    """fusepy's calling convention over an ordinary operations object."""

    def __init__(self, operations: object) -> None:
        self._operations = operations

    def __call__(self, name: str, *args: Any) -> Any:
        _keep_thread_state()
        return getattr(self._operations, name)(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._operations, name)


def _fuse_class() -> Callable[..., Any]:
    """The binding's FUSE class with a ``read`` callback that copies the answer into
    libfuse's buffer without releasing the GIL (rule 4); otherwise the binding's own."""
    base: type = _module.FUSE

    class HoldingGilFUSE(base):  # type: ignore[misc]
        def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
            if BINDING == "fusepy":
                _keep_thread_state()
            file_info = fip.contents if self.raw_fi else fip.contents.fh
            name = None if path is None else path.decode(self.encoding)
            data = self.operations.read(name, size, offset, file_info)
            if not data:
                return 0
            length = len(data)
            if length > size:
                raise ValueError(f"read answered {length} bytes, more than the {size} asked")
            _memmove_holding_gil(buf, data, length)
            return length

    return HoldingGilFUSE


def set_direct_io(file_info: Any, handle: int) -> None:
    """Store our handle number in the kernel's file info and ask for direct I/O (no page cache:
    every read reaches us, st_size never bounds or pads a read)."""
    file_info.fh = handle
    file_info.direct_io = 1


def handle_of(file_info: Any) -> int:
    """Our handle number back from the file info a binding passes with ``raw_fi``."""
    if isinstance(file_info, int):
        return file_info
    if isinstance(file_info, ctypes.Structure) or hasattr(file_info, "fh"):
        return int(file_info.fh)
    return 0


def mount(
    operations: object,
    mountpoint: str,
    *,
    debug: bool,
    single_threaded: bool,
    options: dict[str, str | bool],
    device: int | None = None,
    peers: Any = None,
) -> None:
    """Mount and serve in the foreground until unmounted or signalled (libfuse handles
    SIGINT/SIGTERM/SIGHUP by leaving its loop and unmounting). Raises RuntimeError when libfuse
    reports a failure.

    Always foreground: libfuse's own daemonizing forks after Python may have started threads,
    which leaves the child without them; 7.0 never daemonizes either.

    devfuse serves in the calling (main) thread and takes SIGINT/SIGTERM/SIGHUP itself;
    ``single_threaded`` is the caller's to honour there (no helper processes: ``peers``),
    ``debug`` is the operations' own request trace, and ``device`` and ``peers`` are the
    /dev/fuse descriptor the helpers were forked with and their ``lxcfs_fuse.peers.Peers``
    (both None: a fresh descriptor, this process alone)."""
    if BINDING == "devfuse":
        try:
            session = _module.mount(operations, mountpoint, options, fd=device, peers=peers)
        except _module.MountOptionError as error:
            raise RuntimeError(str(error)) from None
        _module.serve_until_signalled(session, mountpoint)
        return
    fuse_class = _fuse_class()
    target: object = _FusepyDispatch(operations) if BINDING == "fusepy" else operations
    try:
        fuse_class(
            target,
            mountpoint,
            raw_fi=True,
            foreground=True,
            debug=debug,
            nothreads=single_threaded,
            **options,
        )
    except RuntimeError as error:
        # libfuse 3 records the signal that ended the loop as the loop's error, and
        # fuse_main then returns 8 ("loop failed") for an ordinary SIGTERM; errors before
        # the loop (options, mount) are 1..7.
        if not (FUSE_MAJOR == 3 and error.args == (_LIBFUSE3_LOOP_ENDED,)):
            raise


_LIBFUSE3_LOOP_ENDED = 8

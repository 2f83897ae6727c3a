"""The one import point of the FUSE binding: fusepy (libfuse 2) or mfusepy (libfuse 2 or 3).

Rules:
1. Nothing else in the project imports ``fuse`` or ``mfusepy``; every binding detail (how an
   operations object is dispatched, which libfuse is loaded, which mount options that libfuse
   knows) is settled here.
2. Choice: ``LXCFS_FUSE_API=fusepy|mfusepy`` forces one; otherwise fusepy when importable
   (the declared dependency), else mfusepy. mfusepy loads libfuse 2 when both are installed;
   ``FUSE_LIBRARY_NAME=fuse3`` (mfusepy's own variable) selects libfuse 3.
3. Both bindings run handlers with ``raw_fi=True`` so ``open`` can set ``direct_io`` on the
   kernel's file info; both get the same operations object.

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
    "fuse_caller",
    "mount",
]


def _load_binding() -> tuple[str, ModuleType]:
    forced = os.environ.get("LXCFS_FUSE_API", "").strip()
    candidates = [forced] if forced else ["fusepy", "mfusepy"]
    errors: list[str] = []
    for name in candidates:
        module_name = "fuse" if name == "fusepy" else name
        if name not in ("fusepy", "mfusepy"):
            raise ImportError(f"LXCFS_FUSE_API={forced!r}: choose fusepy or mfusepy")
        try:
            return name, importlib.import_module(module_name)
        except (ImportError, OSError) as error:  # OSError: the module found no libfuse
            errors.append(f"{name}: {error}")
    raise ImportError("no usable FUSE binding: " + "; ".join(errors))


BINDING, _module = _load_binding()

#: The libfuse major version the binding loaded (2 or 3): decides which options exist.
FUSE_MAJOR: int = int(getattr(_module, "fuse_version_major", 2))


def fuse_caller() -> tuple[int, int, int]:
    """(uid, gid, pid) of the task whose request is being served (pid in our pid namespace)."""
    uid, gid, pid = _module.fuse_get_context()
    return int(uid), int(gid), int(pid)


#: At most this many libfuse threads keep a Python thread state (``_keep_thread_state``).
PINNED_THREADS_MAX = 16
_pinned = threading.local()
_pinned_lock = threading.Lock()
_pinned_count = 0


def _keep_thread_state() -> None:
    """Give the calling libfuse worker thread a Python thread state for good.

    A ctypes callback on a thread Python did not start creates a thread state on entry and
    destroys it on return (PyGILState_Ensure/Release), four times per open+read+close: about
    a tenth of the daemon's CPU per request. One extra Ensure that is never released keeps
    the state alive between callbacks. libfuse's loop keeps its idle workers (threads exit
    only beyond 10 idle ones), and at most ``PINNED_THREADS_MAX`` threads are ever pinned,
    so a pinned thread that does exit leaks one small thread state, a bounded amount."""
    global _pinned_count
    if getattr(_pinned, "done", False):
        return
    _pinned.done = True  # lasts only if the state is kept, i.e. if pinned below
    with _pinned_lock:
        if _pinned_count >= PINNED_THREADS_MAX:
            return
        _pinned_count += 1
    ctypes.pythonapi.PyGILState_Ensure()


class _FusepyDispatch:
    """fusepy's calling convention over an ordinary operations object."""

    def __init__(self, operations: object) -> None:
        self._operations = operations

    def __call__(self, name: str, *args: Any) -> Any:
        _keep_thread_state()
        return getattr(self._operations, name)(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._operations, name)


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
) -> None:
    """Mount and serve in the foreground until unmounted or signalled (libfuse handles
    SIGINT/SIGTERM/SIGHUP by leaving its loop and unmounting). Raises RuntimeError when libfuse
    reports a failure.

    Always foreground: libfuse's own daemonizing forks after Python may have started threads,
    which leaves the child without them; 7.0 never daemonizes either."""
    fuse_class: Callable[..., Any] = _module.FUSE
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

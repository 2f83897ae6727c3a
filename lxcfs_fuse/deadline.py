"""A deadline on the part of a request that reads cgroups, and log lines that do not flood.

Rules:
1. A read of a cgroup file can stall (a wedged kernel path, a cgroup file served by another
   FUSE daemon, a test's named pipe). A FUSE request that waits on it would hang its reader
   forever and, once every libfuse thread is stuck, the whole mount. ``Deadline.call`` runs
   the work on a worker thread and waits at most ``seconds``; past that the request gives up
   (``DeadlineExceeded``) and is answered with the documented fallback (spec 3.12: the
   host's file), while the stalled worker is left to finish or hang on its own.
2. Bounded: at most ``workers`` calls are in flight (64: above the number of threads
   libfuse runs under heavy load, so concurrency alone never makes a request wait). A
   call that finds them all busy waits for one within its own deadline and then gives up,
   so the mount keeps answering (with fallbacks) however many reads stall. Workers are
   daemon threads started on demand: a worker stuck forever never blocks the daemon's exit.
3. A thread that must never wait (the one serving thread of ``devfuse``) marks itself with
   ``inline_only()``; ``Deadline.call`` then raises ``MustDefer`` at once instead of waiting,
   and the caller hands the whole request to a thread that may wait. ``MustDefer`` is a
   BaseException so that no ``except Exception`` on the way swallows it.
4. ``LogOncePer`` logs a given line at most once per ``interval`` seconds, so a cgroup file
   that fails on every read makes one line a minute, not one per read; it remembers at
   most ``capacity`` lines.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = [
    "Deadline",
    "DeadlineExceeded",
    "LogOncePer",
    "MustDefer",
    "inline_only",
    "start_without_signals",
]

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The work did not finish in time (or no worker was free to start it)."""


class MustDefer(BaseException):
    """Raised by ``Deadline.call`` on an ``inline_only`` thread (rule 3): this work may wait,
    serve the request on another thread."""


_inline = threading.local()


@contextlib.contextmanager
def inline_only() -> Iterator[None]:
    """Within this block, on this thread, ``Deadline.call`` raises ``MustDefer`` (rule 3)."""
    _inline.on = True
    try:
        yield
    finally:
        _inline.on = False


class _Job(Generic[T]):
    __slots__ = ("done", "error", "function", "result")

    def __init__(self, function: Callable[[], T]) -> None:
        self.function = function
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Deadline:
    """Runs work with a time limit on a small pool of daemon threads (rules 1-2)."""

    def __init__(self, seconds: float, *, workers: int = 64) -> None:
        self.seconds = seconds
        self._max_workers = workers
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._started = 0
        self._jobs: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self.expired = 0  # calls that gave up (tests and logs read it)

    @property
    def in_flight(self) -> int:
        """Calls started and not finished, stalled ones included."""
        with self._lock:
            return self._in_flight

    def call(self, function: Callable[[], T]) -> T:
        """``function()``'s result or exception, or ``DeadlineExceeded`` after ``seconds``;
        ``MustDefer`` at once on an ``inline_only`` thread (rule 3)."""
        if getattr(_inline, "on", False):
            raise MustDefer
        started = time.monotonic()
        if not self._slots.acquire(timeout=self.seconds):
            with self._lock:
                self.expired += 1
            raise DeadlineExceeded(f"all {self._max_workers} workers busy for {self.seconds:g} s")
        with self._lock:
            self._in_flight += 1
            if self._started < self._in_flight:
                self._started += 1
                start_without_signals(
                    threading.Thread(target=self._work, name="lxcfs-deadline", daemon=True)
                )
        job: _Job[T] = _Job(function)
        self._jobs.put(job)
        if not job.done.wait(max(0.0, self.seconds - (time.monotonic() - started))):
            with self._lock:
                self.expired += 1
            raise DeadlineExceeded(f"no answer within {self.seconds:g} s")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.result = job.function()
            except BaseException as error:  # handed to the caller, who decides
                job.error = error
            finally:
                with self._lock:
                    self._in_flight -= 1
                self._slots.release()
                job.done.set()


class LogOncePer:
    """``warning(line)`` logs ``line`` unless it was logged less than ``interval`` s ago."""

    def __init__(
        self,
        log: logging.Logger,
        interval: float = 60.0,
        *,
        capacity: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval = interval
        self._capacity = capacity
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: OrderedDict[str, float] = OrderedDict()

    def warning(self, line: str) -> bool:
        """Log ``line`` (rule 3); True if it was logged now."""
        now = self._monotonic()
        with self._lock:
            last = self._last.get(line)
            if last is not None and now - last < self._interval:
                return False
            self._last[line] = now
            self._last.move_to_end(line)
            while len(self._last) > self._capacity:
                self._last.popitem(last=False)
        self._log.warning("%s", line)
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._last)


def start_without_signals(thread: threading.Thread) -> None:
    """Start ``thread`` with every signal blocked, for its whole life: a process-directed
    signal (SIGTERM, SIGINT, SIGHUP; a helper's SIGALRM) must reach the thread that waits for
    it. A worker that took one would run no handler and leave that thread asleep."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

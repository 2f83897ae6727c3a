"""The pid file: created, locked and written at start, removed at exit (spec 4.1).

Rules:
1. The lock is what matters: a second daemon given the same pid file finds it locked
   (``fcntl`` write lock, as lxcfs takes it) and refuses to start, so two daemons never serve
   the same mount point by accident. A stale file left by a dead daemon is not locked and is
   simply reused.
2. The file is removed only by the daemon that holds its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

__all__ = ["PidFile", "PidFileLocked"]


class PidFileLocked(Exception):
    """Another live process holds the pid file's lock."""


def _make_directories(directory: str) -> None:
    """``mkdir -p``, each directory made 0755 whatever the umask (``os.makedirs`` applies
    its mode to the last one only): whoever can write the runtime directory can replace the
    pid file an init script sends its signals by."""
    if not directory or os.path.isdir(directory):
        return
    _make_directories(os.path.dirname(directory))
    with contextlib.suppress(FileExistsError):  # made by someone else meanwhile
        os.mkdir(directory, 0o755)


class PidFile:
    """A locked pid file; ``release()`` unlocks and removes it (idempotent)."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(path)
        _make_directories(directory)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            raise PidFileLocked(f"{path} is locked by another running daemon") from error
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def close_in_fork(self) -> None:
        """In a forked helper: close the inherited descriptor, nothing else (a POSIX lock
        belongs to the process that took it; the file stays the daemon's)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        """Remove the file and drop the lock (the removal first, so no one sees it unlocked)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None

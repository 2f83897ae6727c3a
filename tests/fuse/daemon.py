"""Our daemon mounted for a test: started in the foreground as a subprocess, always stopped.

Bindings: ``devfuse`` (the daemon's default as root: its own /dev/fuse session) and
``fusepy`` run under this interpreter. ``mfusepy`` (libfuse 3) runs under the
interpreter named by ``LXCFS_TEST_MFUSEPY_PYTHON`` (a venv with mfusepy and this project),
or this one if it can import mfusepy; otherwise its tests skip with that reason.
CI: ``python3 -m venv --system-site-packages /tmp/venv-mf && /tmp/venv-mf/bin/pip install
mfusepy`` then ``LXCFS_TEST_MFUSEPY_PYTHON=/tmp/venv-mf/bin/python``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pytest

from tests.system.harness import require_fuse, require_root, unmount, wait_for_mount

BINDINGS = ("devfuse", "fusepy", "mfusepy")


@dataclass
class Daemon:
    """A running lxcfs-fuse: ``path`` is the mount point."""

    path: str
    pidfile: str
    process: subprocess.Popen[str]
    binding: str
    log_path: str

    def log(self) -> str:
        """What the daemon wrote to stderr so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()


def interpreter_for(binding: str) -> tuple[str, dict[str, str]]:
    """The Python and environment that run the daemon on ``binding`` (skip if unavailable)."""
    env = dict(os.environ, LXCFS_FUSE_API=binding)
    if binding in ("devfuse", "fusepy"):
        return sys.executable, env
    env["FUSE_LIBRARY_NAME"] = "fuse3"
    candidate = os.environ.get("LXCFS_TEST_MFUSEPY_PYTHON", sys.executable)
    probe = subprocess.run(
        [candidate, "-c", "import mfusepy, lxcfs_fuse"], capture_output=True, env=env
    )
    if probe.returncode != 0:
        pytest.skip("mfusepy not importable: set LXCFS_TEST_MFUSEPY_PYTHON to a venv with it")
    return candidate, env


def stop_daemon(process: subprocess.Popen[str]) -> None:
    """SIGTERM a daemon we started (libfuse then unmounts and exits), SIGKILL it after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def lxcfs_fuse_mount(
    options: Sequence[str] = ("-l", "--enable-cfs"),
    binding: str = "devfuse",
    *,
    extra_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Iterator[Daemon]:
    """Mount lxcfs-fuse with ``options`` on a fresh directory; SIGTERM it, unmount and remove
    everything on exit, failure included. ``extra_env`` and ``cwd`` let a test choose where
    the daemon imports its library from (``PYTHONPATH``; ``-m`` puts the cwd first)."""
    require_root()
    require_fuse()
    python, env = interpreter_for(binding)
    env.update(extra_env or {})
    workdir = tempfile.mkdtemp(prefix="lxcfs_py_test_fuse_")
    mountpoint = os.path.join(workdir, "mnt")
    pidfile = os.path.join(workdir, "lxcfs.pid")
    log_path = os.path.join(workdir, "daemon.log")
    os.mkdir(mountpoint)
    with open(log_path, "w") as log:
        # A file, not a pipe: nobody reads a pipe during the test and a full one would
        # block the daemon.
        process = subprocess.Popen(
            [python, "-m", "lxcfs_fuse", "-f", *options, "-p", pidfile, mountpoint],
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        if not wait_for_mount(process, mountpoint, timeout=15):
            with open(log_path) as log:
                raise RuntimeError(f"lxcfs-fuse did not mount on {mountpoint}: {log.read()}")
        yield Daemon(mountpoint, pidfile, process, binding, log_path)
    finally:
        stop_daemon(process)
        unmount(mountpoint)
        shutil.rmtree(workdir, ignore_errors=True)

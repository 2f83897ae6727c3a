"""The C reader (``reader.c``) compiled at run time and started inside test cgroups.

Rules:
1. Every measured read is made by the C reader, never by Python: open + read to EOF + close,
   timed with CLOCK_MONOTONIC inside the reader.
2. A reader runs inside a container-like cgroup set (``tests.system.harness``), as the init
   of its own pid namespace, exactly as a container's process would: it moves itself into
   the cgroups before it execs (the harness's launcher), so it never runs outside them.
3. Only processes started here are killed, by pid (``unshare --kill-child`` takes the
   reader with it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.system.harness import _LAUNCHER, CgroupSet

__all__ = ["Agent", "compile_reader", "run_in_container", "start_agent", "start_in_container"]

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reader.c")


@contextlib.contextmanager
def compile_reader() -> Iterator[str]:
    """Build ``reader.c`` with gcc -O2 into a temporary directory; yield the binary."""
    with tempfile.TemporaryDirectory(prefix="lxcfs_py_bench_") as workdir:
        binary = os.path.join(workdir, "reader")
        subprocess.run(["gcc", "-O2", "-o", binary, SOURCE], check=True, capture_output=True)
        yield binary


def _argv(cgroups: CgroupSet, program: Sequence[str]) -> list[str]:
    inner = ["unshare", "--pid", "--fork", "--kill-child", *program]
    return ["sh", "-c", _LAUNCHER, "sh", *cgroups.procs_files(), "--", *inner]


def start_in_container(cgroups: CgroupSet, program: Sequence[str]) -> subprocess.Popen[str]:
    """Start ``program`` inside ``cgroups`` as the init of a fresh pid namespace."""
    return subprocess.Popen(
        _argv(cgroups, program),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> str:
    """The program's stdout once it exits; killed (by its pid) and RuntimeError on failure
    or timeout."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise RuntimeError(f"reader {process.pid} did not finish within {timeout} s") from None
    if process.returncode != 0:
        raise RuntimeError(f"reader exited {process.returncode}: {stderr.strip()[-400:]}")
    return stdout


def stop(process: subprocess.Popen[str]) -> None:
    """Kill one process started here (``unshare --kill-child`` takes its child along)."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def run_in_container(cgroups: CgroupSet, program: Sequence[str], timeout: float) -> str:
    """Run ``program`` to completion inside ``cgroups``; its stdout."""
    process = start_in_container(cgroups, program)
    try:
        return finish(process, timeout)
    finally:
        stop(process)


@dataclass
class Agent:
    """A reader in ``agent`` mode: one line in, one read of each path, timings out."""

    process: subprocess.Popen[str]
    pid: int

    def send(self) -> None:
        """Ask for one read of each path (answer with ``receive``)."""
        assert self.process.stdin is not None
        self.process.stdin.write("r\n")
        self.process.stdin.flush()

    def receive(self) -> list[int]:
        """Nanoseconds per path of the last ``send`` (-1 for a failed read)."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"agent {self.pid} exited")
        return [int(field) for field in line.split()]


def start_agent(binary: str, cgroups: CgroupSet, paths: Sequence[str]) -> Agent:
    """A reader agent inside ``cgroups`` (own pid namespace) reading ``paths``."""
    process = start_in_container(cgroups, [binary, "agent", *paths])
    assert process.stdout is not None
    hello = process.stdout.readline().split()
    if len(hello) != 2 or hello[0] != "ready":
        stop(process)
        raise RuntimeError(f"agent did not start: {hello}")
    return Agent(process=process, pid=int(hello[1]))

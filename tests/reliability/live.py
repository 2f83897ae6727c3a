"""Helpers for the live-mount reliability tests and scripts/soak.py: processes started inside
test cgroups, the daemon's resource figures, a reader that checks its own MemTotal.

Everything here starts processes only inside cgroups made by ``tests.system.harness`` and
stops them by pid (shared cgroup etiquette).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from tests.system.harness import CgroupSet

__all__ = [
    "READER_SOURCE",
    "daemon_figures",
    "expected_memtotal_line",
    "spawn_in",
]

#: A reader: ``argv[1]`` mount, ``argv[2]`` expected MemTotal line, ``argv[3]`` reads
#: (0: until killed). Each read opens, reads and closes /proc/meminfo through the mount.
#: Prints ``reads errors wrong`` and, for the first wrong answer, its MemTotal line.
READER_SOURCE = r"""
import sys
path = sys.argv[1] + "/proc/meminfo"
expected, count = sys.argv[2], int(sys.argv[3])
reads = errors = wrong = 0
first_wrong = ""
while count == 0 or reads < count:
    reads += 1
    try:
        with open(path, "rb") as handle:
            line = handle.read().split(b"\n", 1)[0].decode()
    except OSError as error:
        errors += 1
        first_wrong = first_wrong or repr(error)
        continue
    if line != expected:
        wrong += 1
        first_wrong = first_wrong or line
print(reads, errors, wrong, first_wrong, flush=True)
"""


def expected_memtotal_line(limit_bytes: int, host_kb: int) -> str:
    """meminfo's first line for a cgroup limited to ``limit_bytes`` (kernel format)."""
    kb = min(limit_bytes // 1024, host_kb)
    return f"{'MemTotal:':<16}{kb:>8} kB"


def host_memtotal_kb() -> int:
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1])


#: Joins the cgroup.procs files given before ``--``, then execs the rest: the process is in
#: its cgroups before the program starts (no preexec_fn: the load run forks from threads).
_LAUNCHER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'


def spawn_in(cgroups: CgroupSet, argv: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
    """Start ``argv`` already inside ``cgroups``' child cgroups."""
    command = ["sh", "-c", _LAUNCHER, "sh", *cgroups.procs_files(), "--", *argv]
    return subprocess.Popen(command, text=True, **popen)


def reader_argv(mount: str, expected: str, reads: int) -> list[str]:
    return [sys.executable, "-c", READER_SOURCE, mount, expected, str(reads)]


def daemon_figures(pid: int) -> tuple[int, int, int]:
    """(open file descriptors, resident set in kB, threads) of process ``pid``."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = threads = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return fds, rss, threads

"""Dropping every capability the daemon does not need, once, before any thread starts.

Rules:
1. The daemon runs as root because of four capabilities, and keeps only them (the
   effective, permitted and bounding sets; the inheritable set is emptied):
   ``CAP_SYS_ADMIN``    mount the filesystem, detach a stale mount left by a dead daemon
                        (``umount -l``/``fusermount -u``, which inherit it), unmount at exit;
   ``CAP_SYS_PTRACE``   read ``/proc/<pid>/ns/pid`` of other users' processes (the kernel
                        asks for ptrace read access) to find a caller's container;
   ``CAP_DAC_READ_SEARCH`` and ``CAP_DAC_OVERRIDE``  read /proc and cgroupfs files whatever
                        their modes, and write the pid file under a root-owned runtime dir.
   Everything else (``CAP_NET_*``, ``CAP_SYS_MODULE``, ``CAP_KILL``, ``CAP_SETUID``, ``CAP_CHOWN``,
   ...) is gone for the daemon and for any program it runs.
   With ``--enable-cgroup`` it also keeps ``CAP_CHOWN`` (a cgroup made through the tree by
   a non-root caller is handed to that caller, as the kernel does for its own mkdir) and
   ``CAP_SYS_NICE`` (moving a task into a cpuset is a ``setscheduler`` on that task, which
   the kernel refuses without it when the task holds capabilities the daemon dropped).
2. Called from the main thread before the housekeeping thread and libfuse's threads exist:
   capabilities are per thread on Linux, and new threads copy their creator's.
3. Best effort: not root, or a kernel/container that refuses (no ``CAP_SETPCAP``), means
   one log line and the daemon runs with what it has; serving matters more.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

__all__ = ["CGROUP_TREE_CAPABILITIES", "KEPT_CAPABILITIES", "drop_capabilities", "kept_mask"]

log = logging.getLogger("lxcfs_fuse")

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_SYS_NICE = 23

KEPT_CAPABILITIES = {
    "CAP_DAC_OVERRIDE": CAP_DAC_OVERRIDE,
    "CAP_DAC_READ_SEARCH": CAP_DAC_READ_SEARCH,
    "CAP_SYS_PTRACE": CAP_SYS_PTRACE,
    "CAP_SYS_ADMIN": CAP_SYS_ADMIN,
}

#: Kept in addition with --enable-cgroup (rule 1).
CGROUP_TREE_CAPABILITIES = {"CAP_CHOWN": CAP_CHOWN, "CAP_SYS_NICE": CAP_SYS_NICE}

_PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def kept_mask(extra: Mapping[str, int] | None = None) -> int:
    """The 64-bit capability mask of ``KEPT_CAPABILITIES`` and ``extra`` (as
    /proc/<pid>/status prints)."""
    mask = 0
    for number in [*KEPT_CAPABILITIES.values(), *(extra or {}).values()]:
        mask |= 1 << number
    return mask


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 40


def drop_capabilities(extra: Mapping[str, int] | None = None) -> bool:
    """Rule 1 for this process (keeping ``extra`` too); True when the sets now hold exactly
    the kept ones."""
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    keep = kept_mask(extra)
    # The bounding set first: dropping from it needs CAP_SETPCAP, which capset removes.
    for number in range(_last_capability() + 1):
        if not keep & (1 << number) and libc.prctl(_PR_CAPBSET_DROP, number, 0, 0, 0) != 0:
            code = ctypes.get_errno()
            if code != 22:  # EINVAL: a capability this kernel does not have
                log.warning("cannot drop capabilities (%s); running with all", os.strerror(code))
                return False
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for index in (0, 1):
        word = (keep >> (32 * index)) & 0xFFFFFFFF
        data[index] = _Data(effective=word, permitted=word, inheritable=0)
    if libc.capset(ctypes.byref(header), data) != 0:
        code = ctypes.get_errno()
        log.warning("cannot drop capabilities (%s); running with all", os.strerror(code))
        return False
    return True

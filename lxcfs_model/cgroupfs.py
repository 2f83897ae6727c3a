"""The container-aware cgroupfs tree (``<mount>/cgroup``, ``--enable-cgroup``): the decisions.

Rules:
1. Pure: names, paths, ids and mode bits in, answers out. What the real filesystem holds is
   read and changed by ``lxcfs_model.io.cgroupfs``, which asks this module before every act.
2. Confinement is a property of the path algebra, not of checks sprinkled over handlers: a
   caller's view of a hierarchy is rooted at its container's cgroup (``base``), and
   ``confine`` is the only way from a view path to a real cgroup path. It refuses ``.``,
   ``..``, empty names, ``/`` and NUL inside a name, so its result is ``base`` or lies below
   it, never beside or above (the property tests check this for any input).
3. Permission follows the kernel's DAC check (``generic_permission``): owner bits if the
   caller's fsuid owns the inode, group bits if its fsgid or a supplementary group is the
   inode's group, else the other bits; CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH for reads)
   in the caller's own user namespace overrides them only over inodes whose owner and group
   are both mapped into that namespace (``capable_wrt_inode_uidgid``). So host root may do
   anything, root of a container without a user namespace is host root, and root of a user
   namespace acts only on cgroups whose owner it maps: exactly what the real cgroupfs would
   let each of them do. Search permission on the directories above a path is not checked
   (cgroup directories are 0755 and chmod is refused through the tree).
4. Some cgroup-v1 files need more than the mode bits: the kernel asks
   ``capable(CAP_SYS_ADMIN)`` (in the initial user namespace) before a write to
   ``devices.allow``, ``devices.deny`` and ``release_agent`` (``CAPABILITY_CHECKED_FILES``);
   without it the write is EPERM whatever the file's owner (``may_write_file``).
5. Pids cross namespaces by their ``NSpid`` lists: a task shows in the caller's pid
   namespace iff that namespace is its own or an ancestor of its own, as the entry of its
   ``NSpid`` at the caller's depth. Moving a task needs write access to the destination's
   pid file (checked at open, rule 3) and what the kernel asks of that hierarchy's version:
   v1 (``__cgroup1_procs_write``, and LXCFS 5.0.3's ``may_move_pid``): the same task, host
   root, the same uid (real or saved) as the task, or root of a user namespace that maps
   the task's uid (``may_move_process``); v2 (``cgroup_procs_write_permission``): write
   access to ``cgroup.procs`` of the common ancestor of the task's cgroup and the
   destination, and both cgroups inside the caller's view, which the tree treats as the
   delegation boundary an ``nsdelegate`` cgroup namespace is; no rule on the task's uid
   (``v2_move_refusal``).

Theory: ``parse_tree_path`` splits ``memory/a/b/tasks`` into the hierarchy directory name
and the names below it; ``confine(base, names)`` makes the real cgroup path; the I/O layer
stats it and asks ``may_access``; pid lists go through ``pids_for_namespace`` on the way out
and ``parse_pid_request`` + ``may_move_process`` (v1) or ``common_ancestor`` +
``v2_move_refusal`` (v2) on the way in. A refusal is a
``CgroupfsRefusal`` whose ``reason`` the FUSE adapter maps to an errno.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import attrs

from lxcfs_model.errors import LxcfsModelError

__all__ = [
    "ACCESS_EXECUTE",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "CAPABILITY_CHECKED_FILES",
    "PID_FILES",
    "THREAD_PID_FILES",
    "UNIFIED_NAME",
    "CgroupfsRefusal",
    "Credentials",
    "IdMap",
    "Ownership",
    "RefusalReason",
    "TaskIdentity",
    "TreeHierarchy",
    "TreePath",
    "access_for_open_flags",
    "aliases",
    "common_ancestor",
    "confine",
    "hierarchy_name",
    "host_pids_in",
    "may_access",
    "may_move_process",
    "may_write_file",
    "namespace_pid",
    "parse_capabilities",
    "parse_id_map",
    "parse_pid_request",
    "parse_tree_path",
    "pids_for_namespace",
    "rebase",
    "v2_move_refusal",
]

#: The directory name of the cgroup2 hierarchy, hybrid or pure v2 alike (5.0.3 lists no v2
#: hierarchy at all; the mount hook binds ``cgroup/unified`` where the container expects it).
UNIFIED_NAME = "unified"

#: Files listing pids: shown translated into the caller's pid namespace, written as pids of it.
PID_FILES = frozenset({"tasks", "cgroup.procs", "cgroup.threads"})
#: Those that list thread ids rather than thread-group ids.
THREAD_PID_FILES = frozenset({"tasks", "cgroup.threads"})

ACCESS_READ = 4
ACCESS_WRITE = 2
ACCESS_EXECUTE = 1

_O_ACCMODE = 3
_O_WRONLY = 1
_O_RDWR = 2

# Bits of CapEff (linux/capability.h).
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2
_CAP_SYS_ADMIN = 21

#: File name -> the capability (bit) a write needs in the initial user namespace, beside
#: the mode bits (security/device_cgroup.c devcgroup_access_write, cgroup1
#: release_agent); rule 4.
CAPABILITY_CHECKED_FILES: Mapping[str, int] = {
    "devices.allow": _CAP_SYS_ADMIN,
    "devices.deny": _CAP_SYS_ADMIN,
    "release_agent": _CAP_SYS_ADMIN,
}

RefusalReason = Literal[
    "invisible",  # no such entry for this caller (ENOENT)
    "denied",  # the mode bits refuse it (EACCES)
    "not-permitted",  # never allowed through the tree (EPERM)
    "no-such-process",  # a pid the caller's namespace does not have (ESRCH)
    "invalid",  # malformed request (EINVAL)
    "busy",  # the caller's own root cgroup cannot be removed (EBUSY)
]


class CgroupfsRefusal(LxcfsModelError):
    """The tree refuses a request; ``reason`` says which way (the adapter's errno)."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


# --------------------------------------------------------------------------- hierarchies


@attrs.frozen
class TreeHierarchy:
    """One mounted hierarchy as the tree shows it: ``name`` is its directory in ``cgroup/``
    (``memory``, ``cpu,cpuacct``, ``systemd``, ``unified``)."""

    name: str
    version: Literal["v1", "v2"]
    controllers: frozenset[str]


def hierarchy_name(version: Literal["v1", "v2"], controllers: Iterable[str]) -> str:
    """LXCFS's directory name for a hierarchy: its controllers joined by commas, a named
    hierarchy without ``name=`` (``name=systemd`` -> ``systemd``), the cgroup2 one
    ``unified``."""
    if version == "v2":
        return UNIFIED_NAME
    names = sorted(c.removeprefix("name=") for c in controllers if c)
    return ",".join(names)


def aliases(hierarchies: Iterable[TreeHierarchy]) -> dict[str, str]:
    """Symlink name -> directory: each controller of a joined v1 hierarchy (``cpu`` and
    ``cpuacct`` -> ``cpu,cpuacct``), as LXCFS and systemd make them, unless a hierarchy
    has that name itself."""
    listed = list(hierarchies)
    taken = {h.name for h in listed}
    links: dict[str, str] = {}
    for hierarchy in listed:
        if hierarchy.version != "v1" or "," not in hierarchy.name:
            continue
        for part in hierarchy.name.split(","):
            if part not in taken:
                links.setdefault(part, hierarchy.name)
    return links


# --------------------------------------------------------------------------------- paths


@attrs.frozen
class TreePath:
    """A path below ``cgroup/``: the hierarchy directory (None: ``cgroup/`` itself) and the
    names below the caller's root cgroup in it."""

    hierarchy: str | None
    names: tuple[str, ...] = ()


def _checked_name(name: str) -> str:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise CgroupfsRefusal("invisible", f"{name!r} is not a name in the cgroup tree")
    return name


def parse_tree_path(path: str) -> TreePath:
    """``memory/a/tasks`` (relative to ``cgroup/``; leading and trailing slashes ignored)
    -> TreePath("memory", ("a", "tasks")). A ``.``, ``..`` or empty component is refused
    (``invisible``): the kernel resolves those before FUSE, anything else is an attack."""
    stripped = path.strip("/")
    if not stripped:
        return TreePath(None)
    parts = stripped.split("/")
    names = tuple(_checked_name(part) for part in parts)
    return TreePath(names[0], names[1:])


def _normalised_base(base: str) -> str:
    parts = [part for part in base.split("/") if part]
    for part in parts:
        if part in (".", "..") or "\0" in part:
            raise CgroupfsRefusal("invisible", f"cgroup {base!r} is not a cgroup path")
    return "/" + "/".join(parts)


def confine(base: str, names: Sequence[str]) -> str:
    """The real cgroup path of ``names`` below the caller's root cgroup ``base`` (rule 2):
    ``base`` itself or a path below it, never anything else."""
    root = _normalised_base(base)
    checked = [_checked_name(name) for name in names]
    if not checked:
        return root
    return root.rstrip("/") + "/" + "/".join(checked)


def rebase(base: str, real: str) -> tuple[str, ...] | None:
    """The names below ``base`` of the real cgroup path ``real`` (the inverse of
    ``confine``); None if ``real`` is not ``base`` or below it."""
    root = _normalised_base(base)
    target = _normalised_base(real)
    if target == root:
        return ()
    prefix = root.rstrip("/") + "/"
    if not target.startswith(prefix):
        return None
    return tuple(target[len(prefix) :].split("/"))


# --------------------------------------------------------------------------- credentials


@attrs.frozen
class IdMap:
    """A ``uid_map``/``gid_map``: (first id inside, first host id, count) ranges."""

    ranges: tuple[tuple[int, int, int], ...]

    @classmethod
    def identity(cls) -> IdMap:
        """The initial user namespace's map: every id is itself."""
        return cls(((0, 0, 1 << 32),))

    def to_namespace(self, host_id: int) -> int | None:
        """The id ``host_id`` has inside the namespace, or None if it is not mapped."""
        for inside, outside, count in self.ranges:
            if outside <= host_id < outside + count:
                return inside + (host_id - outside)
        return None

    def maps(self, host_id: int) -> bool:
        """Whether ``host_id`` is mapped into the namespace."""
        return self.to_namespace(host_id) is not None


def parse_id_map(text: str, name: str = "/proc/<pid>/uid_map") -> IdMap:
    """``0 100000 65536`` lines -> IdMap. A malformed line is a refusal (``denied``): a
    caller whose mapping cannot be read gets no capability over anything."""
    ranges = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not all(
            f.isascii() and f.isdigit() and len(f) <= 10 for f in fields
        ):
            raise CgroupfsRefusal("denied", f"{name}: malformed line {line!r}")
        inside, outside, count = (int(f) for f in fields)
        ranges.append((inside, outside, count))
    return IdMap(tuple(ranges))


def parse_capabilities(text: str, name: str = "CapEff") -> int:
    """The hex capability mask of a ``CapEff:`` field; malformed -> no capabilities (0)."""
    token = text.strip()
    if not token or len(token) > 16 or any(c not in "0123456789abcdefABCDEF" for c in token):
        return 0
    return int(token, 16)


@attrs.frozen
class Credentials:
    """Who is asking, in host ids: the request's fsuid/fsgid (the FUSE context), the
    supplementary groups, the effective capabilities in the caller's own user namespace,
    that namespace's id maps (``IdMap.identity()`` for the initial one) and whether it is
    the initial user namespace (where ``capable()`` counts, rule 4)."""

    uid: int
    gid: int
    groups: frozenset[int] = frozenset()
    capabilities: int = 0
    uid_map: IdMap = attrs.field(factory=IdMap.identity)
    gid_map: IdMap = attrs.field(factory=IdMap.identity)
    initial_namespace: bool = True

    @property
    def is_namespace_root(self) -> bool:
        """Whether the caller is uid 0 of its own user namespace."""
        return self.uid_map.to_namespace(self.uid) == 0

    def capable_over(self, owner: Ownership, capability: int) -> bool:
        """The capability in the caller's namespace, over an inode whose owner and group
        that namespace maps (rule 3)."""
        return bool(self.capabilities >> capability & 1) and (
            self.uid_map.maps(owner.uid) and self.gid_map.maps(owner.gid)
        )


@attrs.frozen
class Ownership:
    """What the real inode says: owner, group, and ``st_mode`` (type bits included)."""

    uid: int
    gid: int
    mode: int

    @property
    def is_directory(self) -> bool:
        return self.mode & 0o170000 == 0o040000


def access_for_open_flags(flags: int) -> int:
    """The access an open with ``flags`` (man 2 open) needs (O_TRUNC needs write, which an
    O_RDONLY|O_TRUNC open does not have: the kernel then refuses the truncate itself)."""
    mode = flags & _O_ACCMODE
    if mode == _O_WRONLY:
        return ACCESS_WRITE
    if mode == _O_RDWR:
        return ACCESS_READ | ACCESS_WRITE
    return ACCESS_READ


def may_access(credentials: Credentials, owner: Ownership, wanted: int) -> bool:
    """The kernel's DAC answer for ``wanted`` (ACCESS_* bits) on the inode (rule 3)."""
    if credentials.uid == owner.uid:
        granted = owner.mode >> 6 & 7
    elif owner.gid == credentials.gid or owner.gid in credentials.groups:
        granted = owner.mode >> 3 & 7
    else:
        granted = owner.mode & 7
    if wanted & ~granted == 0:
        return True
    executes = bool(wanted & ACCESS_EXECUTE) and not owner.is_directory
    if credentials.capable_over(owner, _CAP_DAC_OVERRIDE):
        # Not even CAP_DAC_OVERRIDE executes a file without any execute bit.
        return not executes or bool(owner.mode & 0o111)
    reads_or_searches = wanted & ACCESS_WRITE == 0 and (
        owner.is_directory or wanted & ACCESS_EXECUTE == 0
    )
    return reads_or_searches and credentials.capable_over(owner, _CAP_DAC_READ_SEARCH)


def may_write_file(credentials: Credentials, name: str) -> bool:
    """Whether a write to the cgroup file ``name`` passes the kernel's capability check
    (rule 4; files without one always do: their mode bits decide)."""
    capability = CAPABILITY_CHECKED_FILES.get(name)
    if capability is None:
        return True
    return credentials.initial_namespace and bool(credentials.capabilities >> capability & 1)


# ------------------------------------------------------------------------------------ pids


@attrs.frozen
class TaskIdentity:
    """A task a caller wants to move: its host pid, real and saved uid (host ids)."""

    pid: int
    uid: int
    saved_uid: int


def may_move_process(credentials: Credentials, caller_pid: int, task: TaskIdentity) -> bool:
    """Whether the caller may move ``task`` to another cgroup of a v1 hierarchy (rule 5)."""
    if task.pid == caller_pid or credentials.uid == 0:
        return True
    if credentials.uid in (task.uid, task.saved_uid):
        return True
    return credentials.is_namespace_root and credentials.uid_map.maps(task.uid)


def common_ancestor(first: str, second: str) -> str:
    """The deepest cgroup that both cgroup paths are or lie below (``/`` at the least):
    the cgroup whose ``cgroup.procs`` a v2 move between them needs (rule 5). A path that is
    no cgroup path (``..`` in it) is ``invisible``."""
    first_names = [name for name in _normalised_base(first).split("/") if name]
    second_names = [name for name in _normalised_base(second).split("/") if name]
    shared: list[str] = []
    for mine, theirs in zip(first_names, second_names, strict=False):
        if mine != theirs:
            break
        shared.append(mine)
    return "/" + "/".join(shared)


def v2_move_refusal(
    credentials: Credentials,
    base: str,
    source: str,
    destination: str,
    ancestor_procs: Ownership | None,
) -> RefusalReason | None:
    """Why the kernel would refuse the caller moving a task from the cgroup ``source`` into
    ``destination`` on a v2 hierarchy, None if it would not (rule 5). ``ancestor_procs``:
    owner, group and mode of ``cgroup.procs`` of ``common_ancestor(source, destination)``
    (None: it could not be found). ``base`` is the caller's view, taken as the root of an
    ``nsdelegate`` cgroup namespace. The kernel's order: ``denied`` (EACCES) without write
    access to the ancestor's ``cgroup.procs``, even where the ancestor lies outside the
    view; then ``invisible`` (ENOENT) when the source or the destination lies outside it.
    Write access to the destination's file was checked at open."""
    if ancestor_procs is None:
        return "invisible"
    if not may_access(credentials, ancestor_procs, ACCESS_WRITE):
        return "denied"
    try:
        outside = rebase(base, source) is None or rebase(base, destination) is None
    except CgroupfsRefusal as refusal:
        return refusal.reason
    return "invisible" if outside else None


def namespace_pid(nspid: Sequence[int], depth: int, in_namespace: bool) -> int | None:
    """A task's pid in the namespace ``depth`` levels below the host's (``NSpid`` lists
    the pid in each namespace from the host's down), if the task is in that namespace or a
    descendant of it (``in_namespace``, which the I/O layer finds from the namespace
    chain: ``NSpid`` alone cannot tell two sibling namespaces apart)."""
    if not in_namespace or depth < 0 or depth >= len(nspid):
        return None
    return nspid[depth]


def _pid_tokens(text: str) -> list[int] | None:
    pids = []
    for token in text.split():
        if not (token.isascii() and token.isdigit()) or len(token) > 10:
            return None
        pids.append(int(token))
    return pids


def pids_for_namespace(text: str, translated: Mapping[int, int | None]) -> str:
    """A ``tasks``/``cgroup.procs`` text as the caller sees it: each host pid replaced by
    its pid in the caller's namespace, pids it does not have left out, order kept, one per
    line (the kernel's format). ``translated`` maps host pid -> namespace pid or None;
    a token that is no pid, or a pid missing from the map, is left out too."""
    lines = []
    for token in text.split():
        if not (token.isascii() and token.isdigit()) or len(token) > 10:
            continue
        mapped = translated.get(int(token))
        if mapped is not None:
            lines.append(f"{mapped}\n")
    return "".join(lines)


def host_pids_in(text: str) -> list[int]:
    """The pids a ``tasks``/``cgroup.procs`` text lists (non-pid tokens skipped)."""
    return [
        int(token)
        for token in text.split()
        if token.isascii() and token.isdigit() and len(token) <= 10
    ]


def parse_pid_request(data: bytes) -> list[int]:
    """The pids a write to ``tasks``/``cgroup.procs`` names: one or more, separated by
    white space (5.0.3 takes one per line). Anything else is ``invalid`` (EINVAL, as the
    kernel answers a write of ``abc``); so is a pid 0 (the kernel's "myself" would be the
    daemon)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise CgroupfsRefusal("invalid", "a pid list must be ASCII digits") from None
    pids = _pid_tokens(text)
    if not pids:
        raise CgroupfsRefusal("invalid", f"{text.strip()[:40]!r} is not a pid list")
    if any(pid <= 0 for pid in pids):
        raise CgroupfsRefusal("invalid", "pid 0 cannot be moved through the tree")
    return pids

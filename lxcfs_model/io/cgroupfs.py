"""The cgroupfs tree's I/O: the real cgroup files behind ``<mount>/cgroup`` (``--enable-cgroup``).

Rules:
1. Every act is decided first by ``lxcfs_model.cgroupfs`` (pure): a tree path becomes a
   real path only through ``confine`` against the caller's root cgroup, and nothing is
   read, listed, written, made or removed before ``may_access`` (or ``may_move_process``)
   said yes for the real inode's owner, group and mode.
2. A caller's root cgroup in each hierarchy is its container's (``Container.path_in``: the
   cgroup of the init of its pid namespace, ``/init.scope`` pruned, spec 2.1), ``/`` for a
   caller in the host's pid namespace. A hierarchy the container has no path in does not
   exist for it.
3. Real paths are opened without following symlinks (cgroupfs has none; a symlink there
   would be someone else's doing) and always below the hierarchy's mount point as the
   layout found it (``CgroupLayout``, the reader's).
4. Pids: ``tasks``/``cgroup.procs``/``cgroup.threads`` are read as host pids and shown as
   the caller's namespace sees them; pids written are looked up among the tasks of the
   caller's namespace (and its descendants) only, so a pid of another container names
   nothing (or a task of the caller's own). The namespace chain is walked with
   ``NS_GET_PARENT`` on the live system; a fixture tree compares namespace inodes only.
   A move is decided by the hierarchy's version: v1 by the task's uids, v2 by the
   ``cgroup.procs`` of the common ancestor of the destination and the cgroup the kernel
   moves the task from (its ``0::`` line in ``/proc``: the thread group leader's for
   ``cgroup.procs``, the thread's own for ``cgroup.threads``).
5. Errors of the real filesystem (EBUSY from rmdir of a populated cgroup, EINVAL from a
   bad limit, ENOENT from a cgroup removed meanwhile) are raised as the ``OSError`` they
   are: the caller gets the kernel's answer.

Theory: the FUSE adapter resolves a request's caller (``Container``) and passes it with
the request's fsuid/fsgid to ``caller``; the resulting ``Caller`` goes into every other
method with the tree path (relative to ``cgroup/``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat as stat_module
from collections.abc import Iterable
from typing import Literal

import attrs

from lxcfs_model import cgroup_parsers as parsers
from lxcfs_model.cgroupfs import (
    ACCESS_EXECUTE,
    ACCESS_READ,
    ACCESS_WRITE,
    PID_FILES,
    THREAD_PID_FILES,
    CgroupfsRefusal,
    Credentials,
    IdMap,
    Ownership,
    TaskIdentity,
    TreeHierarchy,
    access_for_open_flags,
    aliases,
    common_ancestor,
    confine,
    hierarchy_name,
    host_pids_in,
    may_access,
    may_move_process,
    may_write_file,
    namespace_pid,
    parse_capabilities,
    parse_id_map,
    parse_pid_request,
    parse_tree_path,
    pids_for_namespace,
    v2_move_refusal,
)
from lxcfs_model.errors import NoSuchProcess, ParseError
from lxcfs_model.io.layout import CgroupLayout, Hierarchy, discover_layout
from lxcfs_model.io.reader import Container, read_text

__all__ = ["Caller", "CgroupTree", "TreeEntry"]

# linux/nsfs.h: _IO(0xb7, 0x2), the parent of a pid namespace.
_NS_GET_PARENT = 0xB702
# Pid namespaces nest at most 32 deep (kernel/pid_namespace.c MAX_PID_NS_LEVEL).
_MAX_NAMESPACE_DEPTH = 33
_MAX_FILE = 1 << 22

EntryKind = Literal["root", "alias", "cgroup", "file"]


@attrs.frozen
class Caller:
    """One request's caller: the calling task (host pid), its container, credentials, and
    where its pid namespace sits (``host``: the daemon's own; ``depth``: levels below)."""

    pid: int
    container: Container
    credentials: Credentials
    host: bool
    depth: int

    def base(self, hierarchy: Hierarchy) -> str | None:
        """The caller's root cgroup in ``hierarchy`` (rule 2)."""
        return "/" if self.host else self.container.path_in(hierarchy)


@attrs.frozen
class TreeEntry:
    """A tree path as one caller sees it. ``real``: the real file or directory (None for
    ``cgroup/`` itself and for aliases); ``target``: an alias's target."""

    kind: EntryKind
    path: str
    real: str | None = None
    name: str = ""
    target: str = ""
    stat: os.stat_result | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_directory(self) -> bool:
        return self.kind in ("root", "cgroup")

    @property
    def ownership(self) -> Ownership:
        """Owner, group and mode of the real inode (``cgroup/`` itself: root's 0755)."""
        if self.stat is None:
            return Ownership(0, 0, stat_module.S_IFDIR | 0o755)
        return Ownership(self.stat.st_uid, self.stat.st_gid, self.stat.st_mode)


def _ownership(info: os.stat_result) -> Ownership:
    return Ownership(info.st_uid, info.st_gid, info.st_mode)


def _denied(what: str) -> CgroupfsRefusal:
    return CgroupfsRefusal("denied", f"permission denied: {what}")


class CgroupTree:
    """The tree over the cgroup hierarchies of ``root`` (``/`` or a fixture tree)."""

    def __init__(self, root: str = "/", layout: CgroupLayout | None = None) -> None:
        self.root = os.path.abspath(root)
        self.is_live = os.path.realpath(self.root) == "/"
        self.layout = layout if layout is not None else discover_layout(self.root)
        self.hierarchies: dict[str, tuple[TreeHierarchy, Hierarchy]] = {}
        for hierarchy in self.layout.hierarchies:
            name = hierarchy_name(hierarchy.version, hierarchy.controllers)
            if name and name not in self.hierarchies:
                shown = TreeHierarchy(name, hierarchy.version, hierarchy.controllers)
                self.hierarchies[name] = (shown, hierarchy)
        self.aliases = aliases(shown for shown, _ in self.hierarchies.values())

    def _path(self, *parts: str) -> str:
        relative = (part.strip("/") for part in parts)
        return os.path.join(self.root, *(part for part in relative if part))

    # -------------------------------------------------------------------------- callers

    def _status(self, pid: int) -> dict[str, str]:
        try:
            return parsers.parse_proc_status(read_text(self._path("proc", str(pid), "status")))
        except (FileNotFoundError, ProcessLookupError):
            raise NoSuchProcess(f"process {pid} does not exist") from None

    def _namespace_inode(self, pid: int | str) -> int | None:
        try:
            target = os.readlink(self._path("proc", str(pid), "ns/pid"))
            return parsers.parse_pid_namespace_link(target)
        except (OSError, ParseError):
            return None

    def _id_map(self, pid: int, name: str) -> IdMap:
        try:
            return parse_id_map(read_text(self._path("proc", str(pid), name)))
        except (OSError, CgroupfsRefusal):
            return IdMap(())  # unreadable: the caller maps nothing, so is capable of nothing

    def _in_initial_user_namespace(self, pid: int, uid_map: IdMap) -> bool:
        """Whether ``pid`` shares the user namespace of the system's init (the daemon's
        own is read where init's is not); without either link, whether its uid map is the
        identity of every id."""
        try:
            own = os.readlink(self._path("proc", str(pid), "ns/user"))
        except OSError:
            own = None
        initial = None
        for reference in ("1", "self"):
            with contextlib.suppress(OSError):
                initial = os.readlink(self._path("proc", reference, "ns/user"))
                break
        if own is None or initial is None:
            return uid_map == IdMap.identity()
        return own == initial

    def caller(self, container: Container, uid: int, gid: int) -> Caller:
        """The caller of one request: ``container.caller_pid`` with the request's fsuid
        and fsgid. NoSuchProcess if it is gone."""
        pid = container.caller_pid
        status = self._status(pid)
        groups = frozenset(
            int(token)
            for token in status.get("Groups", "").split()
            if token.isascii() and token.isdigit()
        )
        uid_map = self._id_map(pid, "uid_map")
        credentials = Credentials(
            uid=uid,
            gid=gid,
            groups=groups,
            capabilities=parse_capabilities(status.get("CapEff", "")),
            uid_map=uid_map,
            gid_map=self._id_map(pid, "gid_map"),
            initial_namespace=self._in_initial_user_namespace(pid, uid_map),
        )
        own = self._namespace_inode("self")
        if own is None and not self.is_live:
            own = self._namespace_inode(1)
        host = container.pid_namespace == own
        if host:
            return Caller(pid, container, credentials, True, 0)
        try:
            depth = len(parsers.parse_status_nspid(status)) - 1
        except ParseError:
            # No NSpid (a kernel before 4.1): its pids could not be translated, so a
            # container caller gets no tree rather than the host's pid numbers.
            raise CgroupfsRefusal("invisible", f"pid {pid}: no NSpid to translate pids") from None
        return Caller(pid, container, credentials, False, depth)

    # -------------------------------------------------------------------------- lookups

    def visible_hierarchies(self, caller: Caller) -> list[str]:
        """The hierarchy directories ``caller`` has a root cgroup in (rule 2)."""
        names = []
        for name, (_, hierarchy) in self.hierarchies.items():
            base = caller.base(hierarchy)
            if base is not None and os.path.isdir(self._path(hierarchy.directory, base)):
                names.append(name)
        return names

    def lookup(self, caller: Caller, path: str) -> TreeEntry:
        """The entry at ``path`` (relative to ``cgroup/``) for ``caller``; ``invisible``
        for anything outside its subtrees."""
        tree_path = parse_tree_path(path)
        if tree_path.hierarchy is None:
            return TreeEntry("root", "")
        if tree_path.hierarchy in self.aliases and not tree_path.names:
            target = self.aliases[tree_path.hierarchy]
            if target in self.visible_hierarchies(caller):
                return TreeEntry("alias", tree_path.hierarchy, target=target)
        found = self.hierarchies.get(tree_path.hierarchy)
        if found is None:
            raise CgroupfsRefusal("invisible", f"no hierarchy {tree_path.hierarchy!r}")
        hierarchy = found[1]
        base = caller.base(hierarchy)
        if base is None:
            raise CgroupfsRefusal("invisible", f"no cgroup of the caller in {hierarchy.directory}")
        real = self._path(hierarchy.directory, confine(base, tree_path.names))
        try:
            info = os.lstat(real)
        except OSError as error:
            raise CgroupfsRefusal("invisible", f"{path}: {error.strerror}") from None
        name = tree_path.names[-1] if tree_path.names else tree_path.hierarchy
        if stat_module.S_ISDIR(info.st_mode):
            return TreeEntry("cgroup", path.strip("/"), real, name, stat=info)
        if stat_module.S_ISREG(info.st_mode):
            return TreeEntry("file", path.strip("/"), real, name, stat=info)
        raise CgroupfsRefusal("invisible", f"{path} is neither a cgroup nor a cgroup file")

    def check(self, caller: Caller, entry: TreeEntry, wanted: int) -> None:
        """``denied`` unless ``caller`` may access ``entry`` as ``wanted`` (ACCESS_* bits)."""
        if entry.kind == "alias":
            return  # a symlink's own bits mean nothing; its target is checked when used
        if not may_access(caller.credentials, entry.ownership, wanted):
            raise _denied(f"{wanted:o} on /cgroup/{entry.path}")

    def listing(self, caller: Caller, entry: TreeEntry) -> list[str]:
        """The names in a directory entry (without ``.`` and ``..``)."""
        if entry.kind == "root":
            visible = self.visible_hierarchies(caller)
            links = sorted(name for name, target in self.aliases.items() if target in visible)
            return sorted(visible) + links
        if entry.kind != "cgroup" or entry.real is None:
            raise CgroupfsRefusal("invalid", f"/cgroup/{entry.path} is not a directory")
        self.check(caller, entry, ACCESS_READ)
        return sorted(os.listdir(entry.real))

    # ---------------------------------------------------------------------------- files

    def open_access(self, caller: Caller, entry: TreeEntry, flags: int) -> int:
        """The access an open with ``flags`` gets (checked now, like the kernel's open)."""
        wanted = access_for_open_flags(flags)
        self.check(caller, entry, wanted)
        return wanted

    def read(self, caller: Caller, entry: TreeEntry) -> bytes:
        """The real file's bytes; pid files translated into the caller's namespace."""
        assert entry.real is not None
        descriptor = os.open(entry.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        parts: list[bytes] = []
        size = 0
        try:
            # A seq_file may hand out a big tasks list in several reads: read to EOF.
            while size < _MAX_FILE and (chunk := os.read(descriptor, _MAX_FILE - size)):
                parts.append(chunk)
                size += len(chunk)
        finally:
            os.close(descriptor)
        data = b"".join(parts)
        if entry.name not in PID_FILES or caller.host:
            return data
        text = data.decode("ascii", errors="replace")
        translated = {pid: self._namespace_pid(caller, pid) for pid in host_pids_in(text)}
        return pids_for_namespace(text, translated).encode()

    def write(self, caller: Caller, entry: TreeEntry, data: bytes) -> int:
        """Write ``data`` to the real file (one write, as the kernel takes a cgroup file
        write); pid files get the pids translated to host pids, each checked."""
        assert entry.real is not None
        if entry.name in PID_FILES:
            moves = []
            for pid in parse_pid_request(data):
                host_pid = self._host_pid(caller, pid)
                if host_pid is None:
                    raise CgroupfsRefusal("no-such-process", f"no pid {pid} in the caller's view")
                self._check_move(caller, entry, pid, host_pid)
                moves.append(host_pid)
            for host_pid in moves:
                self._write_real(entry.real, str(host_pid).encode())
            return len(data)
        if not may_write_file(caller.credentials, entry.name):
            raise CgroupfsRefusal("not-permitted", f"/cgroup/{entry.path} needs a capability")
        self._write_real(entry.real, data)
        return len(data)

    def _check_move(self, caller: Caller, entry: TreeEntry, pid: int, host_pid: int) -> None:
        """Refuse the move of ``host_pid`` (the caller's ``pid``) into ``entry``'s cgroup
        as the kernel would refuse the caller (rule 4)."""
        tree_path = parse_tree_path(entry.path)
        found = self.hierarchies.get(tree_path.hierarchy or "")
        base = caller.base(found[1]) if found is not None else None
        if found is None or base is None:
            raise CgroupfsRefusal("invisible", f"/cgroup/{entry.path} is in no hierarchy")
        hierarchy = found[1]
        if hierarchy.version == "v1":
            if not may_move_process(caller.credentials, caller.pid, self._identity(host_pid)):
                # EACCES, as the kernel's cgroup-v1 check answers it.
                raise CgroupfsRefusal("denied", f"pid {pid} may not be moved by the caller")
            return
        destination = confine(base, tree_path.names[:-1])
        source = self._v2_cgroup(host_pid, threads=entry.name in THREAD_PID_FILES)
        ancestor = common_ancestor(source, destination)
        try:
            procs = os.lstat(self._path(hierarchy.directory, ancestor, "cgroup.procs"))
        except OSError:
            ancestor_procs = None
        else:
            ancestor_procs = _ownership(procs)
        reason = v2_move_refusal(caller.credentials, base, source, destination, ancestor_procs)
        if reason is not None:
            raise CgroupfsRefusal(
                reason, f"pid {pid} may not be moved from {source} to {destination}"
            )

    def _v2_cgroup(self, host_pid: int, threads: bool) -> str:
        """The cgroup2 path a write of ``host_pid`` moves the task from: its thread group
        leader's for a thread group (``cgroup.procs``), its own for ``cgroup.threads``."""
        leader = self._status(host_pid).get("Tgid", str(host_pid)).strip()
        if not (leader.isascii() and leader.isdigit()):
            leader = str(host_pid)
        parts = ("proc", leader, "task", str(host_pid)) if threads else ("proc", leader)
        try:
            text = read_text(self._path(*parts, "cgroup"))
        except (FileNotFoundError, ProcessLookupError):
            raise CgroupfsRefusal("no-such-process", f"process {host_pid} is gone") from None
        try:
            lines = parsers.parse_proc_cgroup(text)
        except ParseError as error:
            raise CgroupfsRefusal("invisible", str(error)) from None
        for line in lines:
            if line.hierarchy_id == 0 and not line.controllers:
                return line.path
        raise CgroupfsRefusal("invisible", f"process {host_pid} is in no cgroup2 cgroup")

    @staticmethod
    def _write_real(real: str, data: bytes) -> None:
        descriptor = os.open(real, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)

    # ------------------------------------------------------------------ mkdir and rmdir

    def _split_for_change(self, caller: Caller, path: str) -> tuple[TreeEntry, str]:
        """The parent cgroup entry of ``path`` and the last name; ``not-permitted`` for
        ``cgroup/`` and the hierarchy directories themselves (the caller's roots)."""
        tree_path = parse_tree_path(path)
        if tree_path.hierarchy is None or not tree_path.names:
            raise CgroupfsRefusal("not-permitted", f"/cgroup/{path.strip('/')} is a tree root")
        parent_path = "/".join((tree_path.hierarchy, *tree_path.names[:-1]))
        parent = self.lookup(caller, parent_path)
        if parent.kind != "cgroup":
            raise CgroupfsRefusal("invisible", f"/cgroup/{parent_path} is not a cgroup")
        return parent, tree_path.names[-1]

    def mkdir(self, caller: Caller, path: str) -> None:
        """Make a cgroup below one of the caller's; owned by the caller like the kernel
        makes it for a non-root creator (the directory and its files)."""
        parent, name = self._split_for_change(caller, path)
        self.check(caller, parent, ACCESS_WRITE | ACCESS_EXECUTE)
        assert parent.real is not None
        real = os.path.join(parent.real, name)
        os.mkdir(real, 0o755)
        uid, gid = caller.credentials.uid, caller.credentials.gid
        if uid == 0 and gid == 0:
            return
        os.chown(real, uid, gid, follow_symlinks=False)
        for file in os.listdir(real):
            with contextlib.suppress(OSError):
                os.chown(os.path.join(real, file), uid, gid, follow_symlinks=False)

    def rmdir(self, caller: Caller, path: str) -> None:
        """Remove an (empty) cgroup below the caller's root; the kernel refuses a
        populated one (EBUSY)."""
        parent, _ = self._split_for_change(caller, path)
        entry = self.lookup(caller, path)
        if entry.kind != "cgroup":
            raise CgroupfsRefusal("invalid", f"/cgroup/{path.strip('/')} is not a cgroup")
        self.check(caller, parent, ACCESS_WRITE | ACCESS_EXECUTE)
        assert entry.real is not None
        os.rmdir(entry.real)

    def truncate(self, caller: Caller, path: str) -> None:
        """Truncation of a cgroup file is a no-op (as in lxcfs) that needs write access."""
        entry = self.lookup(caller, path)
        if entry.kind != "file":
            raise CgroupfsRefusal("invalid", f"/cgroup/{path.strip('/')} is not a file")
        self.check(caller, entry, ACCESS_WRITE)

    # ------------------------------------------------------------------------------ pids

    def _in_namespace(self, pid: int, namespace: int) -> bool:
        """Whether task ``pid``'s pid namespace is ``namespace`` or below it (rule 4)."""
        own = self._namespace_inode(pid)
        if own is None:
            return False
        if own == namespace:
            return True
        if not self.is_live:
            return False
        try:
            descriptor = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            for _ in range(_MAX_NAMESPACE_DEPTH):
                try:
                    parent = fcntl.ioctl(descriptor, _NS_GET_PARENT)
                except OSError:
                    return False  # the top: the namespace is not an ancestor
                os.close(descriptor)
                descriptor = parent
                if os.fstat(descriptor).st_ino == namespace:
                    return True
            return False
        finally:
            os.close(descriptor)

    def _nspid(self, pid: int) -> list[int] | None:
        try:
            return parsers.parse_status_nspid(self._status(pid))
        except (NoSuchProcess, ParseError, OSError):
            return None

    def _namespace_pid(self, caller: Caller, host_pid: int) -> int | None:
        nspid = self._nspid(host_pid)
        if nspid is None:
            return None
        inside = self._in_namespace(host_pid, caller.container.pid_namespace)
        return namespace_pid(nspid, caller.depth, inside)

    def _tasks_of(self, pid: int) -> Iterable[int]:
        yield pid
        with contextlib.suppress(OSError):
            for entry in os.listdir(self._path("proc", str(pid), "task")):
                if entry.isdigit() and int(entry) != pid:
                    yield int(entry)

    def _host_pid(self, caller: Caller, pid: int) -> int | None:
        """The host pid of the task the caller calls ``pid`` (rule 4); None if its
        namespace has no such task."""
        if caller.host:
            return pid if self._nspid(pid) is not None else None
        namespace = caller.container.pid_namespace
        init = caller.container.init_pid
        if pid == 1 and init is not None and self._namespace_pid(caller, init) == 1:
            return init
        try:
            entries = os.listdir(self._path("proc"))
        except OSError:
            return None
        inside: dict[int, bool] = {}
        for entry in entries:
            if not entry.isdigit():
                continue
            process = int(entry)
            own = self._namespace_inode(process)
            if own is None:
                continue
            if own not in inside:
                inside[own] = self._in_namespace(process, namespace)
            if not inside[own]:
                continue
            for task in self._tasks_of(process):
                nspid = self._nspid(task)
                if nspid is not None and namespace_pid(nspid, caller.depth, True) == pid:
                    return task
        return None

    def _identity(self, host_pid: int) -> TaskIdentity:
        uids = self._status(host_pid).get("Uid", "").split()
        if len(uids) < 3 or not all(u.isascii() and u.isdigit() for u in uids[:3]):
            raise CgroupfsRefusal("no-such-process", f"pid {host_pid}: no Uid line")
        return TaskIdentity(host_pid, int(uids[0]), int(uids[2]))

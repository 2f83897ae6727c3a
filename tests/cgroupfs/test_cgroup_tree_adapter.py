"""The FUSE adapter of the cgroup tree without a mount: errno mapping, the deadline, the guard,
and the tree reached through the serving library generation."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from lxcfs_fuse.cgroup_tree import CgroupTreeOperations, is_cgroup_path
from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.deadline import Deadline
from lxcfs_fuse.operations import ErrnoError, LxcfsOperations
from lxcfs_model.io import CachingReader, CgroupTree
from lxcfs_model.values import RenderOptions

REAL = "/sys/fs/cgroup"


@pytest.fixture
def content() -> Iterator[ContainerContent]:
    """The daemon's content over the live root (needs a cgroup memory hierarchy)."""
    if not os.path.isdir(os.path.join(REAL, "memory")) and not os.path.exists(
        os.path.join(REAL, "cgroup.controllers")
    ):
        pytest.skip("needs mounted cgroup hierarchies under /sys/fs/cgroup")
    yield ContainerContent(CachingReader("/"), RenderOptions())


def _errno_of(call: Any) -> int:
    with pytest.raises(OSError) as failed:
        call()
    assert isinstance(failed.value.errno, int)
    return failed.value.errno


def test_paths_of_the_branch() -> None:
    """Only /cgroup and what is below it belong to the branch."""
    assert is_cgroup_path("/cgroup") and is_cgroup_path("/cgroup/memory/tasks")
    assert not is_cgroup_path("/cgroups") and not is_cgroup_path("/proc/meminfo")
    assert not is_cgroup_path(None) and not is_cgroup_path("/")


def test_host_caller_lists_every_hierarchy(content: ContainerContent) -> None:
    """This process, a host caller, lists the real hierarchies and stats them as they are."""
    operations = CgroupTreeOperations(content, caller=lambda: (0, 0, os.getpid()))
    names = operations.readdir("/cgroup")
    real = sorted(os.listdir(REAL)) if os.path.isdir(f"{REAL}/memory") else ["unified"]
    assert sorted(names) == real
    first = names[0]
    target = os.path.join(REAL, first) if os.path.isdir(f"{REAL}/memory") else REAL
    assert operations.getattr(f"/cgroup/{first}")["st_mode"] == os.lstat(target).st_mode


def test_refusals_map_to_errno(content: ContainerContent) -> None:
    """Unknown names ENOENT, the caller's roots EPERM on rmdir, a kernel request (pid 0) and
    a caller that does not exist see nothing (ENOENT), never the host's view."""
    operations = CgroupTreeOperations(content, caller=lambda: (0, 0, os.getpid()))
    assert _errno_of(lambda: operations.getattr("/cgroup/no-such-hierarchy")) == errno.ENOENT
    assert _errno_of(lambda: operations.rmdir("/cgroup/memory")) == errno.EPERM
    assert _errno_of(lambda: operations.rmdir("/cgroup")) == errno.EPERM
    kernel = CgroupTreeOperations(content, caller=lambda: (0, 0, 0))
    assert _errno_of(lambda: kernel.readdir("/cgroup")) == errno.ENOENT
    gone = CgroupTreeOperations(content, caller=lambda: (0, 0, (1 << 22) + 7))
    assert _errno_of(lambda: gone.readdir("/cgroup")) == errno.ENOENT


class _StalledTree(CgroupTree):
    def lookup(self, caller: Any, path: str) -> Any:
        time.sleep(0.3)
        return super().lookup(caller, path)


class _BrokenTree(CgroupTree):
    def lookup(self, caller: Any, path: str) -> Any:
        raise RuntimeError("a bug in the tree")


def _with_tree(content: ContainerContent, kind: type[CgroupTree]) -> None:
    generation = content.generation
    library = attrs.evolve(generation.library, cgroup_tree=kind)
    content.generation = attrs.evolve(generation, library=library)


def test_a_stalled_cgroup_request_answers_eio(content: ContainerContent) -> None:
    """A tree request past the request deadline is EIO, and the tree used is the serving
    generation's (here a stalling one)."""
    content.deadline = Deadline(0.05)
    _with_tree(content, _StalledTree)
    operations = CgroupTreeOperations(content, caller=lambda: (0, 0, os.getpid()))
    assert _errno_of(lambda: operations.getattr("/cgroup")) == errno.EIO


def test_the_guard_turns_a_tree_bug_into_eio(content: ContainerContent) -> None:
    """An unexpected exception in the tree leaves the handler as EIO, through the guard of
    the operations, and the /proc files still serve."""
    _with_tree(content, _BrokenTree)
    caller = (0, 0, os.getpid())
    operations = LxcfsOperations(
        content,
        caller=lambda: caller,
        cgroups=CgroupTreeOperations(content, caller=lambda: caller),
    )
    with pytest.raises(ErrnoError) as failed:
        operations.getattr("/cgroup/memory")
    assert failed.value.errno == errno.EIO
    assert "cgroup" in operations.readdir("/", None)
    assert operations.getattr("/proc/meminfo")["st_size"] > 0


def test_without_the_option_there_is_no_tree(content: ContainerContent) -> None:
    """Without --enable-cgroup the root lists no cgroup and /cgroup is ENOENT."""
    operations = LxcfsOperations(content, caller=lambda: (0, 0, os.getpid()))
    assert "cgroup" not in operations.readdir("/", None)
    with pytest.raises(ErrnoError) as failed:
        operations.getattr("/cgroup")
    assert failed.value.errno == errno.ENOENT

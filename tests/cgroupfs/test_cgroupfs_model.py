"""The cgroup tree's pure decisions: names, confinement, the kernel's DAC rule, pid moves."""

from __future__ import annotations

import os

import pytest

from lxcfs_model.cgroupfs import (
    ACCESS_EXECUTE,
    ACCESS_READ,
    ACCESS_WRITE,
    CgroupfsRefusal,
    Credentials,
    IdMap,
    Ownership,
    TaskIdentity,
    TreeHierarchy,
    TreePath,
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
    rebase,
    v2_move_refusal,
)

FILE_644 = 0o100644
DIR_755 = 0o040755
ALL_CAPABILITIES = (1 << 41) - 1
USERNS_MAP = IdMap(((0, 100000, 65536),))
#: Root of an unprivileged container: host 100000, every capability in its user namespace.
NAMESPACE_ROOT = Credentials(
    uid=100000, gid=100000, capabilities=ALL_CAPABILITIES, uid_map=USERNS_MAP, gid_map=USERNS_MAP
)

# ----------------------------------------------------------------------------- names


def test_hierarchy_names_follow_lxcfs() -> None:
    """v1 names are the comma-joined controllers, name=systemd is systemd, v2 is unified."""
    assert hierarchy_name("v1", {"memory"}) == "memory"
    assert hierarchy_name("v1", {"cpuacct", "cpu"}) == "cpu,cpuacct"
    assert hierarchy_name("v1", {"name=systemd"}) == "systemd"
    assert hierarchy_name("v2", {"cpu", "memory"}) == "unified"
    assert hierarchy_name("v2", set()) == "unified"


def test_joined_hierarchy_gets_one_symlink_per_controller() -> None:
    """cpu,cpuacct makes the links cpu and cpuacct; separate hierarchies make none."""
    joined = [
        TreeHierarchy("cpu,cpuacct", "v1", frozenset({"cpu", "cpuacct"})),
        TreeHierarchy("net_cls,net_prio", "v1", frozenset({"net_cls", "net_prio"})),
        TreeHierarchy("memory", "v1", frozenset({"memory"})),
        TreeHierarchy("unified", "v2", frozenset()),
    ]
    assert aliases(joined) == {
        "cpu": "cpu,cpuacct",
        "cpuacct": "cpu,cpuacct",
        "net_cls": "net_cls,net_prio",
        "net_prio": "net_cls,net_prio",
    }
    separate = [
        TreeHierarchy("cpu", "v1", frozenset({"cpu"})),
        TreeHierarchy("cpuacct", "v1", frozenset({"cpuacct"})),
    ]
    assert aliases(separate) == {}


def test_alias_never_shadows_a_hierarchy() -> None:
    """A controller name that is itself a hierarchy directory is not made a link."""
    odd = [
        TreeHierarchy("cpu,cpuacct", "v1", frozenset({"cpu", "cpuacct"})),
        TreeHierarchy("cpu", "v1", frozenset({"cpu"})),
    ]
    assert aliases(odd) == {"cpuacct": "cpu,cpuacct"}


# ----------------------------------------------------------------------------- paths


def test_parse_tree_path_splits_hierarchy_and_names() -> None:
    """The first component is the hierarchy, the rest are names below the caller's root."""
    assert parse_tree_path("") == TreePath(None)
    assert parse_tree_path("/") == TreePath(None)
    assert parse_tree_path("memory") == TreePath("memory")
    assert parse_tree_path("/memory/a/tasks/") == TreePath("memory", ("a", "tasks"))
    assert parse_tree_path("cpu,cpuacct/x") == TreePath("cpu,cpuacct", ("x",))


@pytest.mark.parametrize(
    "path", ["memory/../x", "memory/./tasks", "memory//tasks", "..", "memory/a\0b"]
)
def test_parse_tree_path_refuses_traversal(path: str) -> None:
    """Dot components, empty components and NUL are invisible, never resolved."""
    with pytest.raises(CgroupfsRefusal) as refused:
        parse_tree_path(path)
    assert refused.value.reason == "invisible"


def test_confine_builds_paths_below_the_base() -> None:
    """Names go below the caller's root cgroup; no names is the root itself."""
    assert confine("/lxc/c1", ()) == "/lxc/c1"
    assert confine("/lxc/c1", ("a", "tasks")) == "/lxc/c1/a/tasks"
    assert confine("/", ("a",)) == "/a"
    assert confine("/", ()) == "/"
    assert confine("lxc//c1/", ("x",)) == "/lxc/c1/x"


@pytest.mark.parametrize("names", [("..",), ("a", ".."), (".",), ("",), ("a/b",), ("a\0",)])
def test_confine_refuses_names_that_could_leave(names: tuple[str, ...]) -> None:
    """A name that is not a plain directory entry name is refused as invisible."""
    with pytest.raises(CgroupfsRefusal) as refused:
        confine("/lxc/c1", names)
    assert refused.value.reason == "invisible"


def test_rebase_inverts_confine_and_rejects_siblings() -> None:
    """rebase gives the names below base, None for the parent, a sibling or a prefix-alike."""
    assert rebase("/lxc/c1", "/lxc/c1/a/b") == ("a", "b")
    assert rebase("/lxc/c1", "/lxc/c1") == ()
    assert rebase("/lxc/c1", "/lxc") is None
    assert rebase("/lxc/c1", "/lxc/c2") is None
    assert rebase("/lxc/c1", "/lxc/c10/a") is None
    assert rebase("/", "/anything") == ("anything",)


# ------------------------------------------------------------------------ credentials


def test_parse_id_map_and_lookups() -> None:
    """uid_map lines map host ids into the namespace; unmapped ids are None."""
    idmap = parse_id_map("         0     100000      65536\n  65536 0 1\n")
    assert idmap.to_namespace(100000) == 0
    assert idmap.to_namespace(165535) == 65535
    assert idmap.to_namespace(165536) is None
    assert idmap.to_namespace(0) == 65536
    assert not idmap.maps(99999)
    assert IdMap.identity().to_namespace(12345) == 12345


def test_parse_id_map_refuses_garbage() -> None:
    """A malformed map line is a refusal, so nothing is granted from it."""
    with pytest.raises(CgroupfsRefusal):
        parse_id_map("0 x 1\n")


def test_parse_capabilities() -> None:
    """CapEff hex parses; anything malformed is no capability at all."""
    assert parse_capabilities("000001ffffffffff") == (1 << 41) - 1
    assert parse_capabilities("0000000000000002") == 2
    assert parse_capabilities("") == 0
    assert parse_capabilities("zz") == 0


def test_open_flags_to_access() -> None:
    """O_RDONLY reads, O_WRONLY (with O_TRUNC or O_APPEND too) writes, O_RDWR both."""
    assert access_for_open_flags(os.O_RDONLY) == ACCESS_READ
    assert access_for_open_flags(os.O_WRONLY | os.O_TRUNC | os.O_CREAT) == ACCESS_WRITE
    assert access_for_open_flags(os.O_RDWR) == ACCESS_READ | ACCESS_WRITE


def test_dac_owner_group_other() -> None:
    """Owner bits for the owner, group bits for the group (or a supplementary group),
    other bits for the rest; no capabilities here."""
    file = Ownership(uid=1000, gid=1000, mode=0o100640)
    owner = Credentials(uid=1000, gid=50)
    member = Credentials(uid=2000, gid=1000)
    supplementary = Credentials(uid=2000, gid=50, groups=frozenset({1000}))
    stranger = Credentials(uid=2000, gid=50)
    assert may_access(owner, file, ACCESS_READ | ACCESS_WRITE)
    assert may_access(member, file, ACCESS_READ)
    assert not may_access(member, file, ACCESS_WRITE)
    assert may_access(supplementary, file, ACCESS_READ)
    assert not may_access(stranger, file, ACCESS_READ)


def test_owner_bits_decide_even_when_other_bits_are_wider() -> None:
    """Like the kernel: an owner denied by the owner bits is not saved by the other bits."""
    file = Ownership(uid=1000, gid=1000, mode=0o100066)
    assert not may_access(Credentials(uid=1000, gid=1), file, ACCESS_READ)
    assert may_access(Credentials(uid=7, gid=7), file, ACCESS_READ | ACCESS_WRITE)


def test_host_root_overrides_dac() -> None:
    """uid 0 with CAP_DAC_OVERRIDE in the initial namespace may write a root 0644 file."""
    root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES)
    assert may_access(root, Ownership(0, 0, FILE_644), ACCESS_WRITE)
    assert may_access(root, Ownership(1000, 1000, 0o100000), ACCESS_READ | ACCESS_WRITE)


def test_root_without_capabilities_is_an_ordinary_user() -> None:
    """The check is on capabilities, not on uid 0: a capability-less root gets the bits."""
    bare_root = Credentials(uid=0, gid=0)
    assert may_access(bare_root, Ownership(0, 0, FILE_644), ACCESS_WRITE)  # owner bits rw
    assert not may_access(bare_root, Ownership(5, 5, FILE_644), ACCESS_WRITE)


def test_user_namespace_root_only_over_mapped_owners() -> None:
    """Root of a user namespace overrides DAC on inodes it maps, not on host root's."""
    container_root = NAMESPACE_ROOT
    assert container_root.is_namespace_root
    assert not may_access(container_root, Ownership(0, 0, FILE_644), ACCESS_WRITE)
    assert may_access(container_root, Ownership(0, 0, FILE_644), ACCESS_READ)  # other bits
    assert may_access(container_root, Ownership(100005, 100000, 0o100600), ACCESS_WRITE)
    half_mapped = Ownership(100005, 0, 0o100600)
    assert not may_access(container_root, half_mapped, ACCESS_WRITE)


def test_dac_read_search_reads_but_never_writes() -> None:
    """CAP_DAC_READ_SEARCH alone reads any file and searches any directory, writes none."""
    reader = Credentials(uid=5, gid=5, capabilities=1 << 2)
    assert may_access(reader, Ownership(0, 0, 0o100600), ACCESS_READ)
    assert may_access(reader, Ownership(0, 0, 0o040700), ACCESS_READ | ACCESS_EXECUTE)
    assert not may_access(reader, Ownership(0, 0, 0o100600), ACCESS_WRITE)


def test_override_never_executes_a_file_without_x_bits() -> None:
    """CAP_DAC_OVERRIDE grants execute on a file only if some x bit is set."""
    root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES)
    assert not may_access(root, Ownership(5, 5, FILE_644), ACCESS_EXECUTE)
    assert may_access(root, Ownership(5, 5, 0o100100), ACCESS_EXECUTE)
    assert may_access(root, Ownership(5, 5, 0o040000), ACCESS_EXECUTE)


# --------------------------------------------------------------------------------- pids


def test_may_move_process_rules() -> None:
    """Itself, host root, the same real or saved uid, or root of a namespace mapping the
    task's uid may move it; anyone else may not."""
    task = TaskIdentity(pid=500, uid=1000, saved_uid=1001)
    assert may_move_process(Credentials(uid=7, gid=7), 500, task)
    assert may_move_process(Credentials(uid=0, gid=0), 1, task)
    assert may_move_process(Credentials(uid=1000, gid=7), 1, task)
    assert may_move_process(Credentials(uid=1001, gid=7), 1, task)
    assert not may_move_process(Credentials(uid=7, gid=7), 1, task)
    namespace_root = Credentials(uid=100000, gid=100000, uid_map=USERNS_MAP)
    assert may_move_process(namespace_root, 1, TaskIdentity(600, 100033, 100033))
    assert not may_move_process(namespace_root, 1, TaskIdentity(600, 0, 0))
    not_root = Credentials(uid=100001, gid=100000, uid_map=USERNS_MAP)
    assert not may_move_process(not_root, 1, TaskIdentity(600, 100033, 100033))


def test_common_ancestor_is_the_deepest_shared_cgroup() -> None:
    """Siblings meet at their parent, a cgroup and its descendant at the cgroup, names that
    only share a prefix (c1, c10) at their parent, unrelated paths at /."""
    assert common_ancestor("/ct/init.scope", "/ct/child") == "/ct"
    assert common_ancestor("/ct/child/deeper", "/ct/child") == "/ct/child"
    assert common_ancestor("/ct", "/ct/child/deeper") == "/ct"
    assert common_ancestor("/ct/child", "/ct/child") == "/ct/child"
    assert common_ancestor("/lxc/c1", "/lxc/c10") == "/lxc"
    assert common_ancestor("/a/b", "/c/d") == "/"
    assert common_ancestor("/", "/ct") == "/"
    assert common_ancestor("//ct//x/", "/ct/y") == "/ct"


def test_common_ancestor_refuses_paths_with_dot_dot() -> None:
    """A /proc path of a task outside the reader's cgroup namespace (/../x) names no
    cgroup the tree can reach: invisible."""
    with pytest.raises(CgroupfsRefusal) as refused:
        common_ancestor("/../other", "/ct")
    assert refused.value.reason == "invisible"


ROOT_PROCS = Ownership(0, 0, FILE_644)
USER_PROCS = Ownership(1000, 1000, FILE_644)


def test_v2_move_needs_write_access_to_the_common_ancestors_procs() -> None:
    """uid 1000 moves any task (its own or another uid's: no uid rule on v2) when it may
    write the ancestor's cgroup.procs, and is denied when the ancestor's is root's 0644;
    host root may always, as its CAP_DAC_OVERRIDE writes any cgroup.procs."""
    user = Credentials(uid=1000, gid=1000)
    host_root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES)
    move = ("/ct", "/ct/init.scope", "/ct/child")
    assert v2_move_refusal(user, *move, USER_PROCS) is None
    assert v2_move_refusal(user, *move, ROOT_PROCS) == "denied"
    assert v2_move_refusal(host_root, *move, ROOT_PROCS) is None
    group_writable = Ownership(0, 1000, 0o100664)
    assert v2_move_refusal(user, *move, group_writable) is None
    namespace_root = NAMESPACE_ROOT
    assert v2_move_refusal(namespace_root, *move, ROOT_PROCS) == "denied"
    assert v2_move_refusal(namespace_root, *move, Ownership(100000, 100000, FILE_644)) is None


def test_v2_move_across_the_views_boundary_is_invisible_after_the_permission_check() -> None:
    """A task whose cgroup lies outside the caller's view (common ancestor above it) is
    ENOENT for a caller who may write the ancestor's cgroup.procs, but EACCES for one who
    may not: the kernel checks the permission before the nsdelegate boundary."""
    user = Credentials(uid=1000, gid=1000)
    host_root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES)
    outside = ("/lxc/c1", "/lxc/c2", "/lxc/c1/child")
    assert v2_move_refusal(host_root, *outside, ROOT_PROCS) == "invisible"
    assert v2_move_refusal(user, *outside, ROOT_PROCS) == "denied"
    assert v2_move_refusal(user, *outside, USER_PROCS) == "invisible"
    # The view's own root is inside it, as source and as destination.
    assert v2_move_refusal(host_root, "/lxc/c1", "/lxc/c1", "/lxc/c1/child", ROOT_PROCS) is None
    assert v2_move_refusal(host_root, "/lxc/c1", "/lxc/c1/a", "/lxc/c1", ROOT_PROCS) is None
    # A cgroup that cannot be found, or a path with .., is invisible whoever asks.
    assert v2_move_refusal(host_root, "/lxc/c1", "/lxc/c1/a", "/lxc/c1/b", None) == "invisible"
    assert v2_move_refusal(host_root, "/", "/../x", "/b", ROOT_PROCS) == "invisible"


def test_namespace_pid_takes_the_entry_at_the_callers_depth() -> None:
    """NSpid [host, container, nested]: depth 1 gives the container's pid; outside -> None."""
    assert namespace_pid([4242, 7, 1], 1, True) == 7
    assert namespace_pid([4242, 7, 1], 2, True) == 1
    assert namespace_pid([4242, 7, 1], 0, True) == 4242
    assert namespace_pid([4242, 7, 1], 1, False) is None
    assert namespace_pid([4242], 1, True) is None


def test_pids_for_namespace_translates_and_drops() -> None:
    """Each host pid becomes its namespace pid, invisible ones and garbage vanish."""
    text = "100\n200\n300\nbogus\n400\n"
    assert pids_for_namespace(text, {100: 1, 200: None, 300: 17}) == "1\n17\n"
    assert pids_for_namespace("", {}) == ""
    assert host_pids_in(text) == [100, 200, 300, 400]


def test_parse_pid_request() -> None:
    """Pids separated by white space are accepted; anything else is invalid."""
    assert parse_pid_request(b"1\n") == [1]
    assert parse_pid_request(b" 12 \n 13\n") == [12, 13]
    for bad in (b"", b"\n", b"abc\n", b"-1\n", b"0\n", b"1x\n", "²".encode(), b"\xff"):
        with pytest.raises(CgroupfsRefusal) as refused:
            parse_pid_request(bad)
        assert refused.value.reason == "invalid"


def test_capability_checked_files_need_cap_sys_admin_in_the_initial_namespace() -> None:
    """devices.allow, devices.deny and release_agent need CAP_SYS_ADMIN of the initial user
    namespace (the kernel's capable()); other files only their mode bits."""
    host_root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES)
    capability_less_root = Credentials(uid=0, gid=0, capabilities=ALL_CAPABILITIES & ~(1 << 21))
    namespace_root = Credentials(
        uid=100000,
        gid=100000,
        capabilities=ALL_CAPABILITIES,
        uid_map=USERNS_MAP,
        gid_map=USERNS_MAP,
        initial_namespace=False,
    )
    for name in ("devices.allow", "devices.deny", "release_agent"):
        assert may_write_file(host_root, name)
        assert not may_write_file(capability_less_root, name)
        assert not may_write_file(namespace_root, name)
    for name in ("memory.limit_in_bytes", "tasks", "devices.list", "cpuset.cpus"):
        assert may_write_file(capability_less_root, name)
        assert may_write_file(namespace_root, name)

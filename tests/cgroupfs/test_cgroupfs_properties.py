"""Properties of the cgroup tree's decisions, for any path, ids, modes and pid lists."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lxcfs_model.cgroupfs import (
    CgroupfsRefusal,
    Credentials,
    IdMap,
    Ownership,
    common_ancestor,
    confine,
    may_access,
    parse_tree_path,
    pids_for_namespace,
    rebase,
    v2_move_refusal,
)

# Names as an attacker would type them: dots, slashes, NUL, unicode, empty.
hostile_names = st.one_of(
    st.sampled_from(["..", ".", "", "/", "a/..", "..\0", "tasks", "c1", "c10"]),
    st.text(alphabet=st.sampled_from("./\0abc\u00e9"), max_size=6),
    st.text(max_size=8),
)
plain_names = st.text(alphabet="abcdefghijklmnop_-0123456789", min_size=1, max_size=8)
bases = st.lists(plain_names, max_size=4).map(lambda parts: "/" + "/".join(parts))


def _inside(base: str, path: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


@given(bases, st.lists(hostile_names, max_size=6))
def test_no_name_list_resolves_outside_the_callers_subtree(base: str, names: list[str]) -> None:
    """confine either refuses or gives base itself or a path below it, and rebase gets the
    very same names back from it."""
    try:
        real = confine(base, names)
    except CgroupfsRefusal as refusal:
        assert refusal.reason == "invisible"
        return
    assert _inside(base, real)
    assert rebase(base, real) == tuple(names)


@given(bases, st.text(max_size=40))
def test_no_mount_path_resolves_outside_the_callers_subtree(base: str, path: str) -> None:
    """Any path string under a hierarchy, parsed and confined, stays inside the subtree."""
    try:
        parsed = parse_tree_path("memory/" + path)
        real = confine(base, parsed.names)
    except CgroupfsRefusal:
        return
    assert _inside(base, real)
    assert ".." not in real.split("/")


# Paths over a small alphabet of names, so that two paths often share a prefix.
related_paths = st.lists(st.sampled_from(["a", "b", "ab", "c1", "c10"]), max_size=5).map(
    lambda parts: "/" + "/".join(parts)
)


@given(related_paths, related_paths)
def test_common_ancestor_is_the_deepest_cgroup_above_both(first: str, second: str) -> None:
    """The common ancestor is the one or above both paths (name by name, so c1 is not
    above c10), and no cgroup one level below it is: it is the deepest such cgroup."""
    ancestor = common_ancestor(first, second)
    assert common_ancestor(second, first) == ancestor
    assert _inside(ancestor, first) and _inside(ancestor, second)
    first_below, second_below = rebase(ancestor, first), rebase(ancestor, second)
    assert first_below is not None and second_below is not None
    if first_below and second_below:
        deeper = confine(ancestor, first_below[:1])
        assert not (_inside(deeper, first) and _inside(deeper, second))
        assert first_below[0] != second_below[0]


@given(related_paths, related_paths, related_paths, st.integers(0, 0o777), st.booleans())
def test_v2_moves_are_decided_by_the_ancestor_and_the_view_alone(
    base: str, source: str, destination: str, mode: int, capable: bool
) -> None:
    """Inside the view, a v2 move is refused exactly when the ancestor's cgroup.procs is
    not writable (denied); a source outside it is never allowed, and is invisible only
    once the permission passed, as the kernel orders the checks."""
    credentials = Credentials(uid=1000, gid=1000, capabilities=(1 << 41) - 1 if capable else 0)
    procs = Ownership(0, 0, 0o100000 | mode)
    writable = may_access(credentials, procs, 2)
    reason = v2_move_refusal(credentials, base, source, destination, procs)
    if not writable:
        assert reason == "denied"
    elif _inside(base, source) and _inside(base, destination):
        assert reason is None
    else:
        assert reason == "invisible"


@given(bases, bases)
def test_rebase_finds_only_paths_inside(base: str, other: str) -> None:
    """rebase answers for a path exactly when it is base or below it."""
    names = rebase(base, other)
    assert (names is not None) == _inside(base, other)
    if names is not None:
        assert confine(base, names) == other


@given(
    st.lists(st.integers(1, 1 << 22), unique=True, max_size=30),
    st.data(),
)
def test_pid_translation_keeps_order_and_only_visible_pids(
    host_pids: list[int], data: st.DataObject
) -> None:
    """The translated list is the visible pids' namespace pids, in the file's order, and
    maps back to the host pids (the translation round-trips)."""
    visible = data.draw(st.sets(st.sampled_from(host_pids)) if host_pids else st.just(set()))
    namespace_pids = data.draw(
        st.lists(
            st.integers(1, 1 << 22), min_size=len(host_pids), max_size=len(host_pids), unique=True
        )
    )
    mapping = {
        host: (namespace_pids[index] if host in visible else None)
        for index, host in enumerate(host_pids)
    }
    text = "".join(f"{pid}\n" for pid in host_pids)
    shown = [int(token) for token in pids_for_namespace(text, mapping).split()]
    back = {namespace: host for host, namespace in mapping.items() if namespace is not None}
    assert [back[pid] for pid in shown] == [pid for pid in host_pids if pid in visible]


ids = st.integers(0, 200_000)
modes = st.integers(0, 0o777)
capability_masks = st.integers(0, (1 << 41) - 1)
wanted = st.integers(1, 7)


@given(ids, ids, modes, ids, ids, capability_masks, wanted, st.booleans())
def test_capabilities_and_mode_bits_only_ever_add_access(
    uid: int,
    gid: int,
    mode: int,
    owner: int,
    group: int,
    capabilities: int,
    want: int,
    directory: bool,
) -> None:
    """More capabilities or more mode bits never take access away; without capabilities
    the answer is exactly the kernel's class bits."""
    kind = 0o040000 if directory else 0o100000
    inode = Ownership(owner, group, kind | mode)
    plain = Credentials(uid=uid, gid=gid)
    capable = Credentials(uid=uid, gid=gid, capabilities=capabilities)
    if may_access(plain, inode, want):
        assert may_access(capable, inode, want)
        assert may_access(plain, Ownership(owner, group, kind | 0o777), want)
    shift = 6 if uid == owner else 3 if gid == group else 0
    assert may_access(plain, inode, want) == (want & ~(mode >> shift & 7) == 0)


@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.integers(1, 50)), min_size=1, max_size=4, unique=True
    ),
    st.data(),
)
def test_id_maps_round_trip(ranges: list[tuple[int, int]], data: st.DataObject) -> None:
    """Within non-overlapping ranges every host id maps to exactly one namespace id and
    the ids outside every range map to none."""
    built = []
    outside_start = 100_000
    for inside_block, count in ranges:
        built.append((inside_block * 100, outside_start, count))
        outside_start += 1000
    idmap = IdMap(tuple(built))
    inside, outside, count = data.draw(st.sampled_from(built))
    offset = data.draw(st.integers(0, count - 1))
    assert idmap.to_namespace(outside + offset) == inside + offset
    assert idmap.to_namespace(outside + count) is None
    assert idmap.to_namespace(99_999) is None

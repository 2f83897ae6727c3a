"""deploy/lxc: the mount hook binds the LXCFS files where LXC containers read them.

The hook runs in a private mount namespace (``unshare --mount``) against a fake rootfs and a
plain directory tree standing in for the LXCFS mount, so nothing leaks into the machine's
mounts and no FUSE daemon is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lxcfs_model.files import FILES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "lxc"
MOUNT_HOOK = DEPLOY / "lxc.mount.hook"
REBOOT_HOOK = DEPLOY / "lxc.reboot.hook"

_skip_without_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to run the hook in a private mount namespace",
)


def needs_unshare(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test as needing root (marker) and skip it where unshare cannot run."""
    marked: Callable[..., None] = pytest.mark.root(_skip_without_unshare(test))
    return marked


CPU_DIR = "sys/devices/system/cpu"


def make_lxcfs_tree(base: Path, *, with_uevent: bool = True) -> Path:
    """A directory laid out like the mount: every FILES path, each holding 'lxcfs <path>'."""
    tree = base / "lxcfs"
    for spec in FILES:
        target = tree / spec.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"lxcfs {spec.path}\n")
    (tree / CPU_DIR / "cpu0").mkdir()
    if with_uevent:
        (tree / CPU_DIR / "uevent").write_text("")
    return tree


def make_rootfs(base: Path, proc_files: list[str]) -> Path:
    """A container rootfs with the given /proc files (holding 'container <name>') and sysfs."""
    rootfs = base / "rootfs"
    (rootfs / "proc" / "pressure").mkdir(parents=True)
    for name in proc_files:
        (rootfs / "proc" / name).write_text(f"container {name}\n")
    (rootfs / CPU_DIR).mkdir(parents=True)
    (rootfs / CPU_DIR / "online").write_text("container online\n")
    return rootfs


def run_hook_in_namespace(
    rootfs: Path,
    tree: Path,
    reads: list[str],
    *,
    rootfs_env: str | None = None,
    setup: str = "",
    hook_arguments: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str]], dict[str, str]]:
    """Run the mount hook in a new mount namespace, then report its mounts and file contents.

    ``setup`` is shell run in the namespace first (as LXC's own mounts come before the hook).
    Returns the process, (root, mount point) of every mount below the rootfs, and the
    contents of ``reads`` (paths relative to the rootfs) as the namespace sees them.
    """
    script = (
        setup + '\n"$HOOK" container1 lxc mount --mountpoint="$TREE" $HOOK_ARGUMENTS || exit $?\n'
        'echo "=== mountinfo"\ncat /proc/self/mountinfo\n'
        'for f in $READS; do echo "=== read $f"; cat "$ROOTFS_REAL/$f" || true; done\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOOK": str(MOUNT_HOOK),
        "TREE": str(tree),
        "ROOTFS_REAL": str(rootfs.resolve()),
        "READS": " ".join(reads),
        "LXC_ROOTFS_MOUNT": rootfs_env or str(rootfs),
        "LXC_NAME": "container1",
        "LXC_HOOK_TYPE": "mount",
        "LXC_HOOK_SECTION": "lxc",
        "HOOK_ARGUMENTS": " ".join(hook_arguments),
        **(extra_env or {}),
    }
    process = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    mounts: list[tuple[str, str]] = []
    contents: dict[str, str] = {}
    section = None
    prefix = str(rootfs.resolve()) + "/"
    for line in process.stdout.splitlines(keepends=True):
        if line.startswith("=== "):
            section = line[4:].strip()
            continue
        if section == "mountinfo":
            fields = line.split()
            if fields[4].startswith(prefix):
                mounts.append((fields[3], fields[4][len(prefix) :]))
        elif section and section.startswith("read "):
            name = section[5:]
            contents[name] = contents.get(name, "") + line
    return process, mounts, contents


@needs_unshare
def test_mount_hook_binds_proc_files_and_cpu_directory(tmp_path: Path) -> None:
    """Each /proc file the container has, /proc/pressure and the cpu directory get bound."""
    tree = make_lxcfs_tree(tmp_path)
    # No swaps and no slabinfo in this container: the hook must skip what is absent.
    present = ["cpuinfo", "meminfo", "stat", "uptime", "loadavg", "diskstats"]
    rootfs = make_rootfs(tmp_path, present)
    reads = [f"proc/{name}" for name in present] + [f"{CPU_DIR}/online", "proc/pressure/io"]
    process, mounts, contents = run_hook_in_namespace(rootfs, tree, reads)
    assert process.returncode == 0, process.stderr
    targets = sorted(target for _, target in mounts)
    expected = sorted([f"proc/{name}" for name in present] + ["proc/pressure", CPU_DIR])
    assert targets == expected
    for root, target in mounts:
        # The mount's root is the matching path of the tree: the bind came from the right file.
        assert root.endswith("/lxcfs/" + target), (root, target)
    for name in present:
        assert contents[f"proc/{name}"] == f"lxcfs proc/{name}\n"
    assert contents[f"{CPU_DIR}/online"] == f"lxcfs {CPU_DIR}/online\n"
    assert contents["proc/pressure/io"] == "lxcfs proc/pressure/io\n"


@needs_unshare
def test_mount_hook_leaves_the_callers_namespace_alone(tmp_path: Path) -> None:
    """After the hook ran in its own namespace, the rootfs files outside are untouched."""
    tree = make_lxcfs_tree(tmp_path)
    rootfs = make_rootfs(tmp_path, ["meminfo"])
    process, mounts, _ = run_hook_in_namespace(rootfs, tree, [])
    assert process.returncode == 0, process.stderr
    assert mounts
    assert (rootfs / "proc" / "meminfo").read_text() == "container meminfo\n"


@needs_unshare
def test_mount_hook_binds_cpu_files_one_by_one_without_uevent(tmp_path: Path) -> None:
    """Without uevent (no sysfs pass-through) only the cpu files the container has are bound."""
    tree = make_lxcfs_tree(tmp_path, with_uevent=False)
    rootfs = make_rootfs(tmp_path, [])
    process, mounts, contents = run_hook_in_namespace(rootfs, tree, [f"{CPU_DIR}/online"])
    assert process.returncode == 0, process.stderr
    assert sorted(target for _, target in mounts) == ["proc/pressure", f"{CPU_DIR}/online"]
    assert contents[f"{CPU_DIR}/online"] == f"lxcfs {CPU_DIR}/online\n"


@needs_unshare
def test_mount_hook_resolves_a_symlinked_rootfs(tmp_path: Path) -> None:
    """LXC_ROOTFS_MOUNT given through a symlink is resolved before mounting."""
    tree = make_lxcfs_tree(tmp_path)
    rootfs = make_rootfs(tmp_path, ["meminfo"])
    link = tmp_path / "rootfs-link"
    link.symlink_to(rootfs)
    process, mounts, contents = run_hook_in_namespace(
        rootfs, tree, ["proc/meminfo"], rootfs_env=str(link)
    )
    assert process.returncode == 0, process.stderr
    assert "proc/meminfo" in [target for _, target in mounts]
    assert contents["proc/meminfo"] == "lxcfs proc/meminfo\n"


@needs_unshare
def test_mount_hook_nests_the_whole_mount(tmp_path: Path) -> None:
    """A container holding the mount directory gets the whole mount there (nested LXCFS)."""
    tree = make_lxcfs_tree(tmp_path)
    rootfs = make_rootfs(tmp_path, [])
    nested = rootfs / str(tree).lstrip("/")
    nested.mkdir(parents=True)
    inside = str(nested.relative_to(rootfs))
    process, mounts, contents = run_hook_in_namespace(rootfs, tree, [f"{inside}/proc/meminfo"])
    assert process.returncode == 0, process.stderr
    assert inside in [target for _, target in mounts]
    assert contents[f"{inside}/proc/meminfo"] == "lxcfs proc/meminfo\n"


@needs_unshare
def test_mount_hook_without_a_mount_binds_nothing(tmp_path: Path) -> None:
    """An empty mount directory (daemon not running) binds nothing and lets LXC go on."""
    empty = tmp_path / "lxcfs"
    empty.mkdir()
    rootfs = make_rootfs(tmp_path, ["meminfo"])
    process, mounts, contents = run_hook_in_namespace(rootfs, empty, ["proc/meminfo"])
    assert process.returncode == 0
    assert "no LXCFS mount" in process.stderr
    assert mounts == []
    assert contents["proc/meminfo"] == "container meminfo\n"


def test_mount_hook_refuses_to_run_outside_lxc(tmp_path: Path) -> None:
    """Without LXC_ROOTFS_MOUNT the hook exits 1 with a message instead of mounting on /."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    process = subprocess.run(
        [str(MOUNT_HOOK), f"--mountpoint={tmp_path}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert process.returncode == 1
    assert "LXC_ROOTFS_MOUNT" in process.stderr


def test_reboot_hook_waits_and_succeeds() -> None:
    """The post-stop hook exits 0 (after its half-second pause)."""
    process = subprocess.run([str(REBOOT_HOOK)], capture_output=True, timeout=10, check=False)
    assert process.returncode == 0


def test_hooks_are_posix_sh() -> None:
    """Both hooks parse under dash (Debian's /bin/sh), so no bashism slipped in."""
    dash = shutil.which("dash") or shutil.which("sh")
    assert dash is not None
    for hook in (MOUNT_HOOK, REBOOT_HOOK):
        assert os.access(hook, os.X_OK), f"{hook} is not executable"
        assert subprocess.run([dash, "-n", str(hook)], check=False).returncode == 0


def test_common_conf_include_points_at_both_hooks() -> None:
    """00-lxcfs-py.conf registers the mount hook and the post-stop hook under LXC's keys."""
    lines = (DEPLOY / "00-lxcfs-py.conf").read_text().splitlines()
    entries = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in lines)
        if key.strip() and not key.startswith("#")
    )
    assert entries["lxc.hook.mount"].split()[0].endswith("/lxc.mount.hook")
    assert "--mountpoint=/var/lib/lxcfs" in entries["lxc.hook.mount"]
    assert entries["lxc.hook.post-stop"].endswith("/lxc.reboot.hook")


# ------------------------------------------------------------------ the cgroup tree binds

CGROUP_DIR = "sys/fs/cgroup"


def make_cgroup_tree(tree: Path, hierarchies: tuple[str, ...], links: dict[str, str]) -> None:
    """Give the fake mount a ``cgroup/`` directory (lxcfs-fuse --enable-cgroup): one
    directory per hierarchy holding a ``marker`` file, and symlinks like ``cpu -> cpu,cpuacct``."""
    for hierarchy in hierarchies:
        (tree / "cgroup" / hierarchy).mkdir(parents=True)
        (tree / "cgroup" / hierarchy / "marker").write_text(f"lxcfs cgroup/{hierarchy}\n")
    for name, target in links.items():
        (tree / "cgroup" / name).symlink_to(target)


def lxc_cgroup_setup(rootfs: Path, hierarchies: tuple[str, ...], *, read_only: bool = False) -> str:
    """Shell that does what LXC's lxc.mount.auto = cgroup:mixed leaves before the hook: a
    tmpfs on the container's /sys/fs/cgroup with a directory (holding ``marker``) per
    hierarchy, ``cpu`` as a symlink to the joined ``cpu,cpuacct``; optionally read-only."""
    root = f'"{rootfs.resolve()}/{CGROUP_DIR}"'
    lines = [f"mkdir -p {root}", f"mount -t tmpfs lxc-cgroup {root}"]
    for hierarchy in hierarchies:
        lines.append(f'mkdir {root}/"{hierarchy}"')
        lines.append(f'echo "container {hierarchy}" > {root}/"{hierarchy}/marker"')
    lines.append(f"ln -s cpu,cpuacct {root}/cpu")
    if read_only:
        lines.append(f"mount -o remount,ro {root}")
    return "\n".join(lines) + "\n"


JOINED_TREE = ("memory", "cpu,cpuacct", "systemd", "pids", "unified")
JOINED_LINKS = {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct"}
# The container lacks pids (LXC did not give it one) and has freezer (the mount has none).
CONTAINER_HIERARCHIES = ("memory", "cpu,cpuacct", "systemd", "unified", "freezer")


def cgroup_binds(mounts: list[tuple[str, str]]) -> list[str]:
    """The hierarchy names bound below the container's /sys/fs/cgroup, sorted."""
    prefix = CGROUP_DIR + "/"
    return sorted(target[len(prefix) :] for _, target in mounts if target.startswith(prefix))


@needs_unshare
def test_mount_hook_binds_the_cgroup_hierarchies_the_container_has(tmp_path: Path) -> None:
    """Each hierarchy directory of <mount>/cgroup is bound over the container's directory of
    that name; hierarchies the container lacks are not added, a symlink it lacks (cpuacct)
    is made, its own cpu symlink is left to lead to the bound joined directory."""
    tree = make_lxcfs_tree(tmp_path)
    make_cgroup_tree(tree, JOINED_TREE, JOINED_LINKS)
    rootfs = make_rootfs(tmp_path, ["meminfo"])
    names = ["memory", "cpu,cpuacct", "cpu", "cpuacct", "systemd", "unified", "freezer"]
    reads = [f"{CGROUP_DIR}/{name}/marker" for name in names] + [f"{CGROUP_DIR}/pids/marker"]
    process, mounts, contents = run_hook_in_namespace(
        rootfs, tree, reads, setup=lxc_cgroup_setup(rootfs, CONTAINER_HIERARCHIES)
    )
    assert process.returncode == 0, process.stderr
    assert cgroup_binds(mounts) == ["cpu,cpuacct", "memory", "systemd", "unified"]
    for root, target in mounts:
        if target.startswith(CGROUP_DIR + "/"):
            # The bind came from the mount's directory of the same name.
            assert root.endswith("/lxcfs/cgroup/" + target[len(CGROUP_DIR) + 1 :]), (root, target)
    for name in ("memory", "systemd", "unified", "cpu,cpuacct"):
        assert contents[f"{CGROUP_DIR}/{name}/marker"] == f"lxcfs cgroup/{name}\n"
    assert contents[f"{CGROUP_DIR}/cpu/marker"] == "lxcfs cgroup/cpu,cpuacct\n"
    assert contents[f"{CGROUP_DIR}/cpuacct/marker"] == "lxcfs cgroup/cpu,cpuacct\n"
    assert contents[f"{CGROUP_DIR}/freezer/marker"] == "container freezer\n"
    assert f"{CGROUP_DIR}/pids/marker" not in contents  # cat found no pids: none was made
    assert "proc/meminfo" in [target for _, target in mounts]


@needs_unshare
def test_mount_hook_binds_name_systemd_as_systemd(tmp_path: Path) -> None:
    """A mount naming the hierarchy ``name=systemd`` (as 5.0.3's tree does) is bound over
    the container's ``systemd`` directory."""
    tree = make_lxcfs_tree(tmp_path)
    make_cgroup_tree(tree, ("name=systemd",), {})
    rootfs = make_rootfs(tmp_path, [])
    process, mounts, contents = run_hook_in_namespace(
        rootfs,
        tree,
        [f"{CGROUP_DIR}/systemd/marker"],
        setup=lxc_cgroup_setup(rootfs, ("systemd",)),
    )
    assert process.returncode == 0, process.stderr
    assert cgroup_binds(mounts) == ["systemd"]
    assert contents[f"{CGROUP_DIR}/systemd/marker"] == "lxcfs cgroup/name=systemd\n"


@needs_unshare
@pytest.mark.parametrize(
    ("case", "arguments", "env", "read_only", "with_cgroup_tree"),
    [
        ("--skip-cgroup-mounts", ("--skip-cgroup-mounts",), {}, False, True),
        ("LXC gives a cgroup namespace", (), {"LXC_CGNS_AWARE": "1"}, False, True),
        ("read-only /sys/fs/cgroup (cgroup:ro)", (), {}, True, True),
        ("daemon without --enable-cgroup", (), {}, False, False),
    ],
)
def test_mount_hook_leaves_lxcs_cgroups_alone(
    tmp_path: Path,
    case: str,
    arguments: tuple[str, ...],
    env: dict[str, str],
    read_only: bool,
    with_cgroup_tree: bool,
) -> None:
    """In each case where 5.0.3's hook skips the cgroup binds, ours binds no cgroup
    directory, leaves no probe file and still binds the /proc files."""
    tree = make_lxcfs_tree(tmp_path)
    if with_cgroup_tree:
        make_cgroup_tree(tree, JOINED_TREE, JOINED_LINKS)
    rootfs = make_rootfs(tmp_path, ["meminfo"])
    setup = lxc_cgroup_setup(rootfs, CONTAINER_HIERARCHIES, read_only=read_only)
    process, mounts, contents = run_hook_in_namespace(
        rootfs,
        tree,
        [f"{CGROUP_DIR}/memory/marker"],
        setup=setup,
        hook_arguments=arguments,
        extra_env=env,
    )
    assert process.returncode == 0, (case, process.stderr)
    assert cgroup_binds(mounts) == [], case
    assert contents[f"{CGROUP_DIR}/memory/marker"] == "container memory\n", case
    assert "proc/meminfo" in [target for _, target in mounts], case

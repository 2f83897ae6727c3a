"""lxcfs-render on the fixture trees (tests/fixtures/README.md): every file, every container,
rendered live from the tree and from a snapshot of it, byte for byte the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lxcfs_cli.main import app
from lxcfs_model import FILES, short_name

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# (tree, how the container is named): the container inits and cgroups the README lists.
CONTAINERS = [
    ("v1-nested", ("--pid", "4242")),
    ("v1-nested", ("--pid", "4300")),
    ("v1-nested", ("--cgroup", "/lxc/c1")),
    ("v2-nested", ("--pid", "5101")),
    ("v2-nested", ("--pid", "5150")),
    ("v2-nested", ("--cgroup", "/lxc/c2")),
    ("v2-root-unlimited", ("--pid", "700")),
    ("v2-root-unlimited", ("--cgroup", "/")),
]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.stderr)
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize(
    ("tree", "who"), CONTAINERS, ids=lambda x: x if isinstance(x, str) else " ".join(x)
)
def test_snapshot_of_a_tree_renders_every_file_identically(
    tree: str, who: tuple[str, ...], tmp_path: Path
) -> None:
    """snapshot --root TREE then FILE --snapshot prints what FILE --root TREE prints, per file."""
    root = str(FIXTURES / tree)
    snapshot = tmp_path / "snap.json"
    invoke("snapshot", "--root", root, *who, "-o", str(snapshot))
    for spec in FILES:
        live = invoke(spec.path, "--root", root, *who)
        assert invoke(spec.path, "--snapshot", str(snapshot)) == live, short_name(spec.path)


def test_v1_container_reads_its_limits(tmp_path: Path) -> None:
    """/lxc/c1 sees /lxc's 512 MiB and its one CPU (host CPU 1) as CPU 0."""
    root = str(FIXTURES / "v1-nested")
    meminfo = invoke("meminfo", "--root", root, "--pid", "4242").splitlines()
    assert meminfo[0] == "MemTotal:         524288 kB"
    assert meminfo[1] == f"MemFree:          {524288 - 73400320 // 1024:6d} kB"
    assert invoke("online", "--root", root, "--pid", "4242") == "0\n"
    assert invoke("cpuinfo", "--root", root, "--pid", "4242").count("processor\t: 0\n") == 1


def test_explain_on_a_tree_names_the_level_and_the_bytes() -> None:
    """--explain for /lxc/c1's MemTotal names memory.limit_in_bytes, /lxc and 536870912."""
    root = str(FIXTURES / "v1-nested")
    lines = invoke("meminfo", "--root", root, "--pid", "4242", "--explain").splitlines()
    assert lines[1] == "MemTotal:         524288 kB"
    assert "memory.limit_in_bytes" in lines[2]
    assert "/lxc/c1 and its ancestors" in lines[2]
    assert "536870912 bytes set on /lxc " in lines[2]

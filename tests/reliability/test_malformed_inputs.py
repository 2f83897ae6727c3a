"""Bad input, CI slice: malformed cgroup and procfs trees through the I/O layer, every
renderer and ``lxcfs-render --root``; no exception escapes, every output holds its
invariants or is the host's text, and the counts say how much was tried.

The full campaign (100,000 inputs) is ``scripts/stress_malformed.py``; its figures are in
docs/reliability.md. ``LXCFS_RELIABILITY_EXAMPLES`` scales this slice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcfs_model import FILES, RenderInputs, RenderOptions
from lxcfs_model.io import SystemReader
from tests.reliability.malformed import (
    SUBJECTS,
    CampaignTree,
    Tally,
    check_cli,
    cli_outcome,
    exercise,
    make_512_cpu_tree,
    run_campaign,
    run_cli_campaign,
)

EXAMPLES = int(os.environ.get("LXCFS_RELIABILITY_EXAMPLES", "1000"))
CLI_EXAMPLES = max(50, EXAMPLES // 10)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when there is one (3x faster than a disk for ~30 reads per input)."""
    if not (os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="lxcfs_py_test_malformed_", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_malformed_trees_never_raise_and_every_file_holds(workdir: Path) -> None:
    """EXAMPLES malformed trees: zero escaped exceptions, zero invariant violations, and
    the campaign really exercised fallbacks, refusals and every malformation kind."""
    tally = run_campaign(workdir, EXAMPLES, seed=6)
    assert tally.inputs >= EXAMPLES
    assert tally.escaped == [] and tally.violations == []
    assert tally.rendered_files >= (tally.inputs - tally.refused) * len(FILES)
    assert tally.fallbacks > 0 and tally.refused > 0
    from strategies import MALFORMATIONS

    assert set(MALFORMATIONS) <= set(tally.kinds), tally.kinds
    assert tally.kinds["delete"] > 0 and tally.kinds["remove_tree"] > 0


def test_lxcfs_render_on_malformed_trees_is_clean_or_one_line(workdir: Path) -> None:
    """``lxcfs-render <file> --root <malformed tree>`` exits 0 with text, or 1 with one
    ``lxcfs-render: error:`` line; never a traceback or the internal-error exit 70."""
    tally = run_cli_campaign(workdir, CLI_EXAMPLES, seed=6)
    assert tally.inputs >= CLI_EXAMPLES
    assert tally.violations == []
    assert tally.rendered_files > 0


def test_512_cpu_host_renders_every_visible_cpu(tmp_path: Path) -> None:
    """On a 512-CPU host a container with every third CPU sees exactly 171 CPUs, numbered
    0..170, in cpuinfo, stat and online alike."""
    root = make_512_cpu_tree(tmp_path / "big")
    reader = SystemReader(str(root))
    inputs = RenderInputs(
        view=reader.view_for_cgroup("/lxc/c1"), host=reader.host_snapshot(), clock=reader.clock()
    )
    texts = {spec.path: spec.renderer(inputs).text for spec in FILES}
    assert texts["sys/devices/system/cpu/online"] == "0-170\n"
    assert texts["proc/cpuinfo"].count("processor\t: ") == 171
    assert "processor\t: 170\n" in texts["proc/cpuinfo"]
    stat_cpus = [line.split()[0] for line in texts["proc/stat"].splitlines()[1:172]]
    assert stat_cpus == [f"cpu{n}" for n in range(171)]
    tally = Tally()
    exercise(root, SUBJECTS["v1-512cpu"], by_pid=True, options=RenderOptions(), tally=tally)
    assert (tally.escaped, tally.violations, tally.refused) == ([], [], 0)


@pytest.mark.parametrize(
    ("relative", "content"),
    [
        ("sys/fs/cgroup/memory/lxc/c1/memory.limit_in_bytes", b"max\n"),
        ("sys/fs/cgroup/memory/lxc/memory.limit_in_bytes", b"-" + b"9" * 30 + b"\n"),
        ("sys/fs/cgroup/memory/lxc/c1/memory.usage_in_bytes", b"9" * 30 + b"\n"),
        ("sys/fs/cgroup/memory/lxc/c1/memory.stat", b"cache 1\ncache 2\n\xff\xfe\n"),
        ("sys/fs/cgroup/cpu/lxc/c1/cpu.cfs_quota_us", b"max\n"),
        ("sys/fs/cgroup/cpuset/lxc/c1/cpuset.effective_cpus", b"0-99999999999999999999\n"),
        ("proc/4242/cgroup", b"4:memory\n"),
        ("proc/meminfo", b""),
        ("proc/stat", b"cpu  1 2\n"),
        ("sys/devices/system/cpu/online", b"\x80\x81"),
    ],
)
def test_named_malformations_keep_their_promise(
    tmp_path: Path, relative: str, content: bytes
) -> None:
    """Each hand-picked malformation (one per bullet of the issue) ends in invariants held
    or a host fallback, and never an escaped exception."""
    tree = CampaignTree(
        Path(__file__).resolve().parents[1] / "fixtures" / "v1-nested", tmp_path / "t"
    )
    tree.apply([("write", relative, "named", content)])
    for by_pid in (False, True):
        tally = Tally()
        exercise(
            tree.root, SUBJECTS["v1-nested"], by_pid=by_pid, options=RenderOptions(), tally=tally
        )
        assert (tally.escaped, tally.violations) == ([], [])
    code, out, err = cli_outcome(["meminfo", "--root", str(tree.root), "--cgroup", "/lxc/c1"])
    assert check_cli(code, out, err) == []


def test_missing_controller_and_missing_root(tmp_path: Path) -> None:
    """A tree without its memory hierarchy renders meminfo as the host's file; a root
    without proc/ is refused with one line by the CLI."""
    tree = CampaignTree(
        Path(__file__).resolve().parents[1] / "fixtures" / "v1-nested", tmp_path / "t"
    )
    tree.apply([("remove_tree", "sys/fs/cgroup/memory")])
    code, out, err = cli_outcome(["meminfo", "--root", str(tree.root), "--cgroup", "/lxc/c1"])
    assert (code, err) == (0, "")
    assert out == (tree.root / "proc/meminfo").read_text()
    (tmp_path / "empty").mkdir()
    code, out, err = cli_outcome(["meminfo", "--root", str(tmp_path / "empty")])
    assert (
        code == 1 and out == "" and err.count("\n") == 1 and err.startswith("lxcfs-render: error:")
    )


def test_cpuinfo_cut_off_mid_line_keeps_processor_lines_apart(tmp_path: Path) -> None:
    """A host cpuinfo truncated mid-line (found by the campaign): every visible CPU still
    gets its own ``processor : N`` line (the cut block is ended with a newline)."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    tree = CampaignTree(fixtures / "v2-nested", tmp_path / "t")
    whole = (tree.root / "proc/cpuinfo").read_text()
    tree.apply(
        [
            (
                "write",
                "proc/cpuinfo",
                "truncated",
                whole[: whole.index("flags", whole.index("processor\t: 1")) + 5].encode(),
            )
        ]
    )
    tally = Tally()
    exercise(tree.root, SUBJECTS["v2-nested"], by_pid=False, options=RenderOptions(), tally=tally)
    assert (tally.escaped, tally.violations) == ([], [])
    reader = SystemReader(str(tree.root))
    inputs = RenderInputs(view=reader.view_for_cgroup("/lxc/c2"), host=reader.host_snapshot())
    text = FILES[0].renderer(inputs).text
    assert [line for line in text.splitlines() if "processor" in line] == [
        f"processor\t: {n}" for n in range(text.count("processor"))
    ]
    assert text.count("processor") >= 2


def test_diskstats_line_cut_off_is_not_shown(tmp_path: Path) -> None:
    """A host diskstats cut off inside the container's device line (found by the campaign)
    lists nothing for that device rather than a line of one number; the checker agrees."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    tree = CampaignTree(fixtures / "v1-nested", tmp_path / "t")
    whole = (tree.root / "proc/diskstats").read_text()
    cut = whole[: whole.index("vda ") + len("vda 120")]
    tree.apply([("write", "proc/diskstats", "truncated", cut.encode())])
    tally = Tally()
    exercise(tree.root, SUBJECTS["v1-nested"], by_pid=False, options=RenderOptions(), tally=tally)
    assert (tally.escaped, tally.violations) == ([], [])
    reader = SystemReader(str(tree.root))
    inputs = RenderInputs(view=reader.view_for_cgroup("/lxc/c1"), host=reader.host_snapshot())
    assert "vda" not in next(s for s in FILES if s.path == "proc/diskstats").renderer(inputs).text

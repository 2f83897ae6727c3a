"""--explain: every output line is paired with its rule (filled in) or marked as the host's."""

from __future__ import annotations

from pathlib import Path

from strategies import host_meminfo_text
from typer.testing import CliRunner

from lxcfs_cli.main import app
from lxcfs_model import (
    CgroupView,
    Clock,
    CpusetCgroup,
    FileProvenance,
    HostSnapshot,
    LimitLevel,
    LineRule,
    MemoryCgroup,
    Rendered,
)
from lxcfs_model.explain import HOST_PASSTHROUGH, explain
from lxcfs_model.snapshot import Snapshot, snapshot_to_json

TABLE = FileProvenance(
    path="proc/meminfo",
    summary="memory of the container's memory cgroup",
    rules=(
        LineRule(
            "MemTotal",
            ("memory.limit_in_bytes", "/proc/meminfo"),
            "min of memory.limit_in_bytes over {cgroup} and its ancestors = {limit}, "
            "capped by host MemTotal",
        ),
        LineRule("cpuN", ("cpuacct.usage_all",), "user {user} of CPU"),
    ),
)

TEXT = (
    "MemTotal:         262144 kB\n"
    "Mlocked:               0 kB\n"
    "KernelStack:        1234 kB\n"
    "cpu3 1 2\n"
    "HugePages_Total:       0\n"
)


def test_covered_lines_show_the_filled_formula_and_sources() -> None:
    """A line a rule covers shows the formula with this render's numbers and the files read."""
    rendered = Rendered(text=TEXT, quantities={"cgroup": "/x", "limit": 268435456, "user": 7})
    result = explain(TABLE, rendered)
    memtotal = result.lines[0]
    assert memtotal.label == "MemTotal"
    assert memtotal.explanation == (
        "min of memory.limit_in_bytes over /x and its ancestors = 268435456, "
        "capped by host MemTotal"
    )
    assert result.lines[3].label == "cpu3"
    assert result.lines[3].explanation == "user 7 of CPU"
    assert [line.line for line in result.lines] == TEXT.splitlines()


def test_text_form_puts_explanations_under_lines_and_groups_runs() -> None:
    """The formatted text keeps every line and explains each run of alike lines once."""
    rendered = Rendered(text=TEXT, quantities={"cgroup": "/x", "limit": 268435456, "user": 7})
    assert explain(TABLE, rendered).format() == (
        "# /proc/meminfo: memory of the container's memory cgroup\n"
        "MemTotal:         262144 kB\n"
        "    <- min of memory.limit_in_bytes over /x and its ancestors = 268435456, "
        "capped by host MemTotal\n"
        "       read from: memory.limit_in_bytes, /proc/meminfo\n"
        "Mlocked:               0 kB\n"
        "KernelStack:        1234 kB\n"
        f"    <- the 2 lines above: {HOST_PASSTHROUGH}\n"
        "cpu3 1 2\n"
        "    <- user 7 of CPU\n"
        "       read from: cpuacct.usage_all\n"
        "HugePages_Total:       0\n"
        f"    <- {HOST_PASSTHROUGH}\n"
    )


def test_lines_of_one_family_are_explained_once() -> None:
    """Consecutive lines under the same rule (cpu0, cpu1) share one explanation."""
    rendered = Rendered(text="cpu0 1\ncpu1 2\n", quantities={"user": 3})
    assert explain(TABLE, rendered).format().splitlines()[1:] == [
        "cpu0 1",
        "cpu1 2",
        "    <- the 2 lines above: user 3 of CPU",
        "       read from: cpuacct.usage_all",
    ]


def test_numeric_and_blank_lines_use_the_files_own_rule() -> None:
    """A line without a key (uptime's numbers, an empty offline) takes the 'N' or file rule."""
    uptime = FileProvenance("proc/uptime", "", (LineRule("N", ("clock",), "age {age}"),))
    explained = explain(uptime, Rendered("12.50 3.00\n", quantities={"age": 12.5}))
    assert explained.lines[0].explanation == "age 12.5"
    offline = FileProvenance(
        "sys/devices/system/cpu/offline", "", (LineRule("offline", (), "none offline"),)
    )
    assert explain(offline, Rendered("\n")).lines[0].explanation == "none offline"
    assert explain(TABLE, Rendered("\n")).lines[0].rule is None


def test_missing_quantity_shows_a_question_mark() -> None:
    """A quantity the renderer did not report is shown as '?', never an exception."""
    result = explain(TABLE, Rendered(text="MemTotal: 1 kB\n", quantities={}))
    assert result.lines[0].explanation.startswith("min of memory.limit_in_bytes over ? ")


def test_table_passthrough_note_replaces_the_default() -> None:
    """A table's own pass-through note is what uncovered lines say."""
    table = FileProvenance("proc/stat", "", (), passthrough="host line, verbatim (btime too)")
    result = explain(table, Rendered(text="btime 5\n"))
    assert result.lines[0].explanation == "host line, verbatim (btime too)"


def test_fallback_names_the_reason_and_applies_no_rule() -> None:
    """When the renderer fell back, the reason leads and every line is the host's."""
    rendered = Rendered(text="MemTotal: 99 kB\n", fallback="no memory cgroup")
    result = explain(TABLE, rendered)
    assert result.fallback == "no memory cgroup"
    assert result.lines[0].rule is None
    assert result.format() == (
        "# /proc/meminfo: memory of the container's memory cgroup\n"
        "# not virtualized for this container: no memory cgroup\n"
        "MemTotal: 99 kB\n"
        f"    <- {HOST_PASSTHROUGH} (fallback: no memory cgroup)\n"
    )


def test_empty_file_is_said_to_be_empty() -> None:
    """An empty render still explains itself rather than printing nothing."""
    assert explain(TABLE, Rendered(text="")).format() == (
        "# /proc/meminfo: memory of the container's memory cgroup\n# (the file is empty)\n"
    )


# ------------------------------------------------------- the real tables, through the CLI


def _container_snapshot(tmp_path: Path) -> Path:
    """A v1 container /lxc/c1: 256 MiB limit set on /lxc, 64 MiB used, cpuset {1, 3}."""
    mib = 1024 * 1024
    view = CgroupView(
        memory=MemoryCgroup(
            version="v1",
            path="/lxc/c1",
            usage=64 * mib,
            limits=(
                LimitLevel("/lxc/c1", None),
                LimitLevel("/lxc", 256 * mib),
                LimitLevel("/", None),
            ),
            stat={"total_cache": 8 * mib, "total_active_file": 2 * mib},
        ),
        cpuset=CpusetCgroup("/lxc/c1", frozenset({1, 3})),
    )
    host = HostSnapshot(
        meminfo=host_meminfo_text({"MemTotal": 8 * 1024 * 1024, "MemFree": 4 * 1024 * 1024}),
        cpuinfo="".join(f"processor\t: {n}\ncore id\t\t: {n}\n\n" for n in range(4)),
        stat="cpu  0 0 0 0 0 0 0 0 0 0\n",
        uptime="100.00 300.00\n",
        loadavg="0.00 0.00 0.00 1/1 1\n",
        diskstats="",
        swaps="Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n",
        online="0-3\n",
    )
    path = tmp_path / "c1.json"
    path.write_text(snapshot_to_json(Snapshot(view, host, Clock(100.0))), encoding="ascii")
    return path


def _explained(tmp_path: Path, name: str) -> list[str]:
    result = CliRunner().invoke(
        app, [name, "--explain", "--snapshot", str(_container_snapshot(tmp_path))]
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_explain_meminfo_names_the_cgroup_files_and_numbers(tmp_path: Path) -> None:
    """MemTotal's explanation names memory.limit_in_bytes, the level that set it and the bytes."""
    lines = _explained(tmp_path, "meminfo")
    at = lines.index("MemTotal:         262144 kB")
    explanation = " ".join(lines[at + 1 : at + 3])
    assert "memory.limit_in_bytes" in explanation
    assert "/lxc" in explanation and "268435456" in explanation
    assert "8388608" in explanation  # the host MemTotal it is capped by, in kB
    free_at = lines.index("MemFree:          196608 kB")  # 262144 - 65536
    assert "65536" in lines[free_at + 1]


def test_explain_online_names_the_cpuset_and_host_cpus(tmp_path: Path) -> None:
    """online's explanation shows the cpuset and the host CPUs behind the renumbered list."""
    lines = _explained(tmp_path, "online")
    assert lines[1] == "0-1"
    assert "cpuset" in lines[2] and "1,3" in lines[2]

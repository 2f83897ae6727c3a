"""--explain: every output line is paired with its rule (filled in) or marked as the host's."""

from __future__ import annotations

from lxcfs_model import FileProvenance, LineRule, Rendered
from lxcfs_model.explain import HOST_PASSTHROUGH, explain

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


def test_text_form_puts_explanations_under_lines_and_groups_host_runs() -> None:
    """The formatted text keeps every line, explains rules beneath, and host runs once."""
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
        f"    <- the line above: {HOST_PASSTHROUGH}\n"
    )


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
        f"    <- the line above: {HOST_PASSTHROUGH} (fallback: no memory cgroup)\n"
    )


def test_empty_file_is_said_to_be_empty() -> None:
    """An empty render still explains itself rather than printing nothing."""
    assert explain(TABLE, Rendered(text="")).format() == (
        "# /proc/meminfo: memory of the container's memory cgroup\n# (the file is empty)\n"
    )

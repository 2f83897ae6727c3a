"""/proc/cpuinfo: host blocks of the visible CPUs, first line renumbered, the rest verbatim."""

from __future__ import annotations

from lxcfs_model.render import cpuinfo
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    CpusetCgroup,
    HostSnapshot,
    QuotaLevel,
    RenderOptions,
)


def _block(cpu: int) -> str:
    """The body of a host x86 block (after its processor line), distinct per CPU."""
    return (
        "vendor_id\t: AuthenticAMD\n"
        "model name\t: AMD EPYC\n"
        f"core id\t\t: {cpu}\n"
        f"apicid\t\t: {cpu}\n"
        "power management:\n"
        "\n"
    )


def _x86(cpus: range | list[int]) -> str:
    return "".join(f"processor\t: {cpu}\n" + _block(cpu) for cpu in cpus)


def _inputs(
    cpuinfo_text: str,
    online: str,
    cpuset: frozenset[int] | None = None,
    quota_us: int | None = None,
    enable_cfs: bool = False,
) -> RenderInputs:
    host = HostSnapshot(
        meminfo="", cpuinfo=cpuinfo_text, stat="", uptime="", loadavg="", diskstats="",
        swaps="", online=online,
    )  # fmt: skip
    cpu = None
    if quota_us is not None:
        cpu = CpuCgroup("v1", "/ct", (QuotaLevel("/ct", quota_us, 100_000),))
    view = CgroupView(cpu=cpu, cpuset=CpusetCgroup("/ct", cpuset) if cpuset is not None else None)
    return RenderInputs(view=view, host=host, options=RenderOptions(enable_cfs=enable_cfs))


def test_cpuset_one_of_two_shows_host_cpu1_as_processor_0() -> None:
    """cpuset {1} on 2 CPUs: one block, `processor\\t: 0`, core id/apicid of host cpu1 (B)."""
    rendered = cpuinfo.render(_inputs(_x86(range(2)), "0-1\n", frozenset({1})))
    assert rendered.fallback is None
    assert rendered.text == (
        "processor\t: 0\n"
        "vendor_id\t: AuthenticAMD\n"
        "model name\t: AMD EPYC\n"
        "core id\t\t: 1\n"
        "apicid\t\t: 1\n"
        "power management:\n"
        "\n"
    )


def test_quota_of_one_and_a_half_cpus_shows_two_blocks_with_enable_cfs() -> None:
    """150000/100000 on 4 CPUs with --enable-cfs: host cpu0 and cpu1 as processors 0, 1."""
    rendered = cpuinfo.render(_inputs(_x86(range(4)), "0-3\n", quota_us=150_000, enable_cfs=True))
    assert rendered.text == "processor\t: 0\n" + _block(0) + "processor\t: 1\n" + _block(1)


def test_quota_without_enable_cfs_shows_every_cpu() -> None:
    """The same quota without --enable-cfs leaves all 4 CPUs."""
    rendered = cpuinfo.render(_inputs(_x86(range(4)), "0-3\n", quota_us=150_000))
    assert rendered.text == _x86(range(4))


def test_no_cpuset_controller_shows_online_cpus_renumbered() -> None:
    """Without a cpuset, online 0,2 (cpu1 offline) shows host cpu0 and cpu2 as 0 and 1."""
    rendered = cpuinfo.render(_inputs(_x86([0, 2]), "0,2\n"))
    assert rendered.text == "processor\t: 0\n" + _block(0) + "processor\t: 1\n" + _block(2)


def test_lines_before_the_first_processor_are_dropped() -> None:
    """A preamble before the first processor line is not shown (upstream drops it too)."""
    text = "# some arch preamble\nHardware\t: X\n" + _x86(range(2))
    rendered = cpuinfo.render(_inputs(text, "0-1\n", frozenset({0})))
    assert rendered.text == "processor\t: 0\n" + _block(0)


def test_trailing_machine_lines_stay_with_the_last_host_block() -> None:
    """arm32-style trailing lines belong to the last block: shown with it, hidden without."""
    text = _x86(range(2)) + "Hardware\t: BCM2835\nRevision\t: a02082\n"
    with_last = cpuinfo.render(_inputs(text, "0-1\n", frozenset({1}))).text
    assert with_last == "processor\t: 0\n" + _block(1) + "Hardware\t: BCM2835\nRevision\t: a02082\n"
    without_last = cpuinfo.render(_inputs(text, "0-1\n", frozenset({0}))).text
    assert without_last == "processor\t: 0\n" + _block(0)


def test_a_visible_cpu_without_a_host_block_still_counts() -> None:
    """Online says 0-1 but cpuinfo lists only cpu0: processor 1 still appears, minimal."""
    rendered = cpuinfo.render(_inputs(_x86([0]), "0-1\n"))
    assert rendered.text == "processor\t: 0\n" + _block(0) + "processor\t: 1\n\n"
    assert rendered.quantities["missing_host_blocks"] == "1"


def test_host_file_without_processor_lines_falls_back_to_the_host() -> None:
    """An unknown format (no processor line) is served unchanged and says why."""
    rendered = cpuinfo.render(_inputs("model\t: mystery\n", "0\n"))
    assert rendered.text == "model\t: mystery\n"
    assert rendered.fallback is not None


def test_s390x_variant() -> None:
    """s390x: new header with the shown count, processor N: lines and cpu number blocks
    filtered and renumbered, the machine-wide lines kept."""
    host = (
        "vendor_id       : IBM/S390\n"
        "# processors    : 3\n"
        "bogomips per cpu: 3033.00\n"
        "features\t: esan3 zarch stfle\n"
        "processor 0: version = 00,  identification = 0C1D48,  machine = 3906\n"
        "processor 1: version = 00,  identification = 1C1D48,  machine = 3906\n"
        "processor 2: version = 00,  identification = 2C1D48,  machine = 3906\n"
        "\n"
        "cpu number      : 0\n"
        "core id         : 0\n"
        "\n"
        "cpu number      : 1\n"
        "core id         : 1\n"
        "\n"
        "cpu number      : 2\n"
        "core id         : 2\n"
    )
    rendered = cpuinfo.render(_inputs(host, "0-2\n", frozenset({1, 2})))
    assert rendered.text == (
        "vendor_id       : IBM/S390\n"
        "# processors    : 2\n"
        "bogomips per cpu: 3033.00\n"
        "features\t: esan3 zarch stfle\n"
        "processor 0: version = 00,  identification = 1C1D48,  machine = 3906\n"
        "processor 1: version = 00,  identification = 2C1D48,  machine = 3906\n"
        "\n"
        "cpu number      : 0\n"
        "core id         : 1\n"
        "\n"
        "cpu number      : 1\n"
        "core id         : 2\n"
    )


def test_512_cpus_render_whole() -> None:
    """A 512-CPU host renders all 512 blocks, numbered 0..511."""
    rendered = cpuinfo.render(_inputs(_x86(range(512)), "0-511\n"))
    assert rendered.text == _x86(range(512))
    assert rendered.text.count("processor\t: ") == 512


def test_provenance_names_the_processor_lines() -> None:
    """The processor rule is found for `processor` lines and fills in the visible count."""
    rendered = cpuinfo.render(_inputs(_x86(range(2)), "0-1\n", frozenset({1})))
    rule = cpuinfo.PROVENANCE.rule_for("processor")
    assert rule is not None
    assert "1 CPUs: host CPUs 1" in rule.describe(rendered.quantities)


def test_processor_count_lines_are_dropped_on_any_architecture() -> None:
    """A `# processors:` line inside a block is left out, as upstream does everywhere."""
    text = "processor\t: 0\n# processors: 2\nmodel name\t: X\n\n"
    rendered = cpuinfo.render(_inputs(text, "0\n"))
    assert rendered.text == "processor\t: 0\nmodel name\t: X\n\n"

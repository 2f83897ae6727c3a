"""/proc/pressure/{cpu,io,memory}: the cgroup's PSI text verbatim, else the host's file."""

from __future__ import annotations

import pytest

from lxcfs_model.render import pressure
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, HostSnapshot, PressureCgroup

HOST = {
    "cpu": "some avg10=0.37 avg60=0.13 avg300=0.38 total=4514296\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "io": "some avg10=1.00 avg60=0.50 avg300=0.10 total=777\n"
    "full avg10=0.50 avg60=0.20 avg300=0.05 total=555\n",
    "memory": "some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=3\n",
}
CGROUP = {
    "cpu": "some avg10=12.50 avg60=3.25 avg300=0.75 total=98765\n"
    "full avg10=1.00 avg60=0.10 avg300=0.01 total=4321\n",
    "io": "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "memory": "some avg10=5.00 avg60=2.00 avg300=1.00 total=99\n"
    "full avg10=4.00 avg60=1.00 avg300=0.50 total=88\n",
}
RENDERERS = {
    "cpu": pressure.render_cpu,
    "io": pressure.render_io,
    "memory": pressure.render_memory,
}


def host(psi: bool = True) -> HostSnapshot:
    return HostSnapshot(
        meminfo="MemTotal:       1000 kB\n",
        cpuinfo="",
        stat="",
        uptime="",
        loadavg="",
        diskstats="",
        swaps="",
        online="0\n",
        pressure_cpu=HOST["cpu"] if psi else None,
        pressure_io=HOST["io"] if psi else None,
        pressure_memory=HOST["memory"] if psi else None,
    )


@pytest.mark.parametrize("resource", ["cpu", "io", "memory"])
def test_cgroup_pressure_is_served_verbatim(resource: str) -> None:
    """Each file is the cgroup's own <resource>.pressure text, not the host's."""
    view = CgroupView(pressure=PressureCgroup(path="/c", **CGROUP))
    rendered = RENDERERS[resource](RenderInputs(view=view, host=host()))
    assert rendered.text == CGROUP[resource]
    assert rendered.quantities["source"] == f"/c/{resource}.pressure"


@pytest.mark.parametrize("resource", ["cpu", "io", "memory"])
def test_missing_cgroup_file_serves_the_host_file(resource: str) -> None:
    """A cgroup without that PSI file (or no pressure cgroup at all) shows the host's file."""
    partial = {name: text for name, text in CGROUP.items() if name != resource}
    for view in (CgroupView(pressure=PressureCgroup(path="/c", **partial)), CgroupView()):
        rendered = RENDERERS[resource](RenderInputs(view=view, host=host()))
        assert rendered.text == HOST[resource]
        assert rendered.fallback is not None


def test_no_psi_anywhere_is_an_empty_file_with_a_reason() -> None:
    """Neither cgroup nor host has PSI: an empty file, and the reason says so."""
    rendered = pressure.render_memory(RenderInputs(view=CgroupView(), host=host(psi=False)))
    assert rendered.text == ""
    assert rendered.fallback is not None and "host has no PSI" in rendered.fallback

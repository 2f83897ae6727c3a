"""Smoke tests of ``python3 -m benchmarks``: it runs and writes well-formed JSON.

Not timed assertions: no figure is compared with a limit here (ratios belong to the
benchmark's own report, docs/performance.md). What is checked is the command's contract:
exit 0, every part present with the fields the docs quote, sample counts as asked, no
failed reads, and nothing left behind (cgroups, mounts).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lxcfs_model.files import FILES
from tests.system.harness import (
    CGROUP_MOUNT,
    own_cgroup_path,
    require_fuse,
    require_lxcfs,
    require_root,
    require_v1_cgroups,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, only: str) -> dict[str, Any]:
    output = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", only, "--output", str(output)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"JSON: {output}" in done.stdout
    report: dict[str, Any] = json.loads(output.read_text())
    assert report["quick"] is True and report["command"].startswith("python3 -m benchmarks")
    # The interpreter that ran the daemon (this one: it is started with sys.executable) is
    # named, since its build moves the daemon's CPU by a fifth (docs/performance.md).
    machine = report["machine"]
    assert machine["python_executable"] == sys.executable
    assert machine["python_build"].startswith(f"CPython {platform.python_version()}, ")
    assert f"daemon interpreter: {sys.executable} (" in done.stdout
    return report


def _positive(value: object) -> bool:
    return isinstance(value, float | int) and not math.isnan(value) and value > 0


def test_render_part_times_every_file(tmp_path: Path) -> None:
    """``--only render`` times every registry file on both hosts and reports target 4."""
    report = _run(tmp_path, "render")
    for host in ("2cpu", "512cpu"):
        assert set(report["render"][host]) == {spec.path for spec in FILES}
        for timing in report["render"][host].values():
            assert _positive(timing["cold_us"]) and _positive(timing["warm_us"])
    names = [target["target"] for target in report["targets"]]
    assert any(name.startswith("4 meminfo") for name in names)
    assert all(isinstance(target["met"], bool) for target in report["targets"])


def _leftovers(names: list[str]) -> list[str]:
    """Directories named ``names`` still present in any cgroup hierarchy (memory ones live
    beneath this process's own memory cgroup, the others at the root)."""
    found = []
    for hierarchy in os.listdir(CGROUP_MOUNT):
        top = os.path.join(CGROUP_MOUNT, hierarchy)
        if hierarchy == "memory":
            top += own_cgroup_path("memory")
        found += [name for name in names if os.path.isdir(os.path.join(top, name))]
    return found


@pytest.mark.root
@pytest.mark.lxcfs
def test_system_parts_compare_both_daemons(tmp_path: Path) -> None:
    """The latency, throughput and scale parts read both mounts without a failed read
    (throughput also our one-thread mode), report every target and remove every cgroup
    they made."""
    require_root()
    require_fuse()
    require_v1_cgroups()
    require_lxcfs()
    report = _run(tmp_path, "latency,throughput,scale")
    assert report["skipped"] == []
    latency = report["latency"]
    for file in ("meminfo", "cpuinfo", "stat", "uptime"):
        for source in ("ours", "lxcfs", "host"):
            figures = latency["files"][file][source]
            assert figures["errors"] == 0
            assert figures["samples"] == latency["iterations"]
            assert _positive(figures["p50_us"]) and figures["p99_us"] >= figures["p50_us"]
    assert set(latency["cpu"]) == {"ours", "lxcfs"}
    for by_daemon in report["throughput"]["readers"].values():
        assert set(by_daemon) == {"ours", "lxcfs", "ours fusepy"}
        assert all(figures["errors"] == 0 for figures in by_daemon.values())
        assert _positive(by_daemon["ours"]["ops_per_s"])
        assert _positive(by_daemon["ours fusepy"]["ops_per_s"])
    scale = report["scale"]
    assert scale["failed_reads"] == {"ours": 0, "lxcfs": 0}
    assert scale["many"]["ours"]["samples"] == scale["containers"] * scale["rounds"]
    targets = {target["target"] for target in report["targets"]}
    assert "5 CPU per 10k reads ours/lxcfs" in targets
    assert any(name.startswith("2 throughput") for name in targets)
    assert any(name.startswith("3 RSS growth") for name in targets)
    assert len(report["cgroups_made"]) >= scale["containers"]
    assert _leftovers(report["cgroups_made"]) == []

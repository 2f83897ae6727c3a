"""One command for every benchmark of issue 5: ``python3 -m benchmarks [--quick]``.

Parts (``--only`` picks some): ``render`` (target 4; pure, runs anywhere), ``latency``
(targets 1 and 5), ``throughput`` (target 2), ``scale`` (target 3). The system parts need
root, /dev/fuse and cgroup v1 and are skipped with the reason where the machine lacks them;
the lxcfs comparison is skipped with a clear message where Debian's lxcfs is not installed.
Prints a table, then writes everything (machine, command, raw figures, each target's ratio
and verdict) as JSON to ``benchmarks/results/<UTC time>.json`` (or ``--output``).

The ratios come from one run: a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks import renderers, system
from benchmarks.client import compile_reader

__all__ = ["main", "run"]

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
PARTS = ("render", "latency", "throughput", "scale")


#: Sizes of a full run and of ``--quick`` (a smoke run of a few seconds per part).
@dataclass(frozen=True)
class Sizes:
    """How much each part does."""

    iterations: int
    readers: tuple[int, ...]
    seconds: float
    containers: int
    rounds: int
    forget_wait: float


FULL = Sizes(
    iterations=2500,
    readers=(1, 2, 4, 8),
    seconds=2.0,
    containers=1000,
    rounds=3,
    forget_wait=95.0,
)
QUICK = Sizes(iterations=100, readers=(1, 2), seconds=0.5, containers=10, rounds=1, forget_wait=0.0)

#: "Returns near its baseline": what is left once the containers are gone is at most this
#: share of what they added (or 1 MiB, whichever is larger; an allocator keeps some arenas).
NEAR_BASELINE_SHARE = 0.10


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Which interpreter ran both this command and our daemon (it is started with
        # sys.executable): its build is worth a fifth of the daemon's CPU (ninth round of
        # docs/performance.md), so a figure means little without it.
        "python_executable": sys.executable,
        "python_build": _python_build(),
        "load_average_at_start": os.getloadavg(),
    }


def _python_build() -> str:
    """How the interpreter was built, as far as it tells: whether this process runs its
    libpython as a shared library (sysconfig can say otherwise: Debian's says "shared" for
    its static binary), and the compiler. A profile-guided build leaves no trace."""
    linked = "static"
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        if any("/libpython" in line for line in maps):
            linked = "shared libpython"
    return f"{platform.python_implementation()} {platform.python_version()}, {linked}, " + (
        platform.python_compiler()
    )


def _target(
    results: list[dict[str, Any]],
    name: str,
    value: float,
    limit: float,
    direction: str,
    detail: str,
) -> None:
    met = (value <= limit) if direction == "<=" else (value >= limit)
    results.append(
        {
            "target": name,
            "value": value,
            "limit": limit,
            "direction": direction,
            "met": bool(met) and not math.isnan(value),
            "detail": detail,
        }
    )


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    latency = report.get("latency")
    if latency and "lxcfs" in latency["cpu"]:
        for file, sources in latency["files"].items():
            ours, theirs = sources["ours"], sources["lxcfs"]
            _target(
                found,
                f"1 latency p50 {file} ours/lxcfs",
                ours["p50_us"] / theirs["p50_us"],
                1.0,
                "<=",
                f"{ours['p50_us']:.1f} vs {theirs['p50_us']:.1f} us",
            )
            _target(
                found,
                f"1 latency p99 {file} ours/lxcfs",
                ours["p99_us"] / theirs["p99_us"],
                1.5,
                "<=",
                f"{ours['p99_us']:.1f} vs {theirs['p99_us']:.1f} us",
            )
        cpu = latency["cpu"]
        _target(
            found,
            "5 CPU per 10k reads ours/lxcfs",
            cpu["ours"]["cpu_seconds_per_10k_reads"]
            / max(cpu["lxcfs"]["cpu_seconds_per_10k_reads"], 1e-9),
            1.0,
            "<=",
            f"{cpu['ours']['cpu_seconds_per_10k_reads']:.2f} vs "
            f"{cpu['lxcfs']['cpu_seconds_per_10k_reads']:.2f} s",
        )
    throughput = report.get("throughput")
    if throughput:
        for count, by_daemon in throughput["readers"].items():
            if "lxcfs" in by_daemon:
                ours, theirs = by_daemon["ours"]["ops_per_s"], by_daemon["lxcfs"]["ops_per_s"]
                _target(
                    found,
                    f"2 throughput {count} readers ours/lxcfs",
                    ours / max(theirs, 1e-9),
                    1.0,
                    ">=",
                    f"{ours:.0f} vs {theirs:.0f} ops/s",
                )
    scale = report.get("scale")
    if scale:
        single, many = scale["single"]["ours"]["p50_us"], scale["many"]["ours"]["p50_us"]
        _target(
            found,
            f"3 scale p50 {scale['containers']} containers / one",
            many / single,
            1.5,
            "<=",
            f"{many:.1f} vs {single:.1f} us",
        )
        rss = scale["rss_kib"]["ours"]
        _target(
            found,
            "3 RSS growth per live container (KiB)",
            rss["growth_per_container_kib"],
            10.0,
            "<=",
            f"{rss['baseline']} -> {rss['live']} KiB",
        )
        added = max(rss["live"] - rss["baseline"], 0)
        _target(
            found,
            "3 RSS left after containers are gone (KiB)",
            rss["left_after_gone_kib"],
            max(1024.0, NEAR_BASELINE_SHARE * added),
            "<=",
            f"{rss['gone']} KiB after {scale['forget_wait_s']:.0f} s",
        )
    render = report.get("render")
    if render:
        meminfo = render["2cpu"]["proc/meminfo"]
        _target(
            found,
            "4 meminfo render, 2 CPUs, shared snapshot (us)",
            meminfo["warm_us"],
            30.0,
            "<=",
            "snapshot parsed once per 10 ms, as the daemon does",
        )
        _target(
            found,
            "4 meminfo render, 2 CPUs, fresh snapshot (us)",
            meminfo["cold_us"],
            30.0,
            "<=",
            "host meminfo parsed on every render",
        )
    return found


def _table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [f"daemon interpreter: {machine['python_executable']} ({machine['python_build']})"]
    latency = report.get("latency")
    if latency:
        sources = list(next(iter(latency["files"].values())))
        lines.append("latency (us, open+read+close from a 256 MiB container)")
        lines.append(
            f"  {'file':10}"
            + "".join(f"{s + ' p50':>13}{s + ' p99':>13}" for s in sources)
            + f"{'p50 vs host':>13}"
        )
        for file, by_source in latency["files"].items():
            row = "".join(
                f"{by_source[s]['p50_us']:13.1f}{by_source[s]['p99_us']:13.1f}" for s in sources
            )
            floor = by_source["ours"]["p50_us"] / by_source["host"]["p50_us"]
            lines.append(f"  {file:10}{row}{floor:12.1f}x")
        lines.append(
            "daemon CPU seconds per 10,000 reads: "
            + ", ".join(
                f"{name} {cpu['cpu_seconds_per_10k_reads']:.2f}"
                for name, cpu in latency["cpu"].items()
            )
        )
    throughput = report.get("throughput")
    if throughput:
        lines.append("throughput (ops/s, readers in separate containers)")
        for count, by_daemon in throughput["readers"].items():
            lines.append(
                f"  {count:>2} readers: "
                + ", ".join(f"{name} {value['ops_per_s']:.0f}" for name, value in by_daemon.items())
            )
    scale = report.get("scale")
    if scale:
        lines.append(f"scale ({scale['containers']} containers, meminfo, p50/p99 us)")
        for name in scale["many"]:
            one, many, rss = scale["single"][name], scale["many"][name], scale["rss_kib"][name]
            lines.append(
                f"  {name:6} one {one['p50_us']:.1f}/{one['p99_us']:.1f}  all "
                f"{many['p50_us']:.1f}/{many['p99_us']:.1f}  RSS KiB {rss['baseline']} -> "
                f"{rss['live']} -> {rss['gone']} ({rss['growth_per_container_kib']:.1f}/container)"
            )
    render = report.get("render")
    if render:
        lines.append("renderers (us per render: fresh snapshot / shared snapshot)")
        lines.append(f"  {'file':34}{'2 CPUs':>18}{'512 CPUs':>18}")
        for path in render["2cpu"]:
            cells = "".join(
                f"{render[h][path]['cold_us']:9.1f}/{render[h][path]['warm_us']:<8.1f}"
                for h in ("2cpu", "512cpu")
            )
            lines.append(f"  {path:34}{cells}")
    for note in report.get("skipped", []):
        lines.append(f"SKIPPED: {note}")
    lines.append("targets")
    for target in report.get("targets", []):
        verdict = "met" if target["met"] else "NOT MET"
        lines.append(
            f"  {verdict:8}{target['target']}: {target['value']:.2f} "
            f"({target['direction']} {target['limit']:g}; {target['detail']})"
        )
    return "\n".join(lines)


def run(parts: Sequence[str], quick: bool) -> dict[str, Any]:
    """Run the ``parts`` and return the report (also what is written as JSON)."""
    sizes = QUICK if quick else FULL
    report: dict[str, Any] = {
        "command": " ".join(["python3", "-m", "benchmarks", *sys.argv[1:]]),
        "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "sizes": asdict(sizes),
        "machine": _machine(),
        "skipped": [],
    }
    if "render" in parts:
        report["render"] = renderers.measure(quick)
    system_parts = [part for part in parts if part != "render"]
    if system_parts:
        try:
            with compile_reader() as binary, system.mounts() as where:
                if where.skipped:
                    report["skipped"].append(where.skipped)
                if "latency" in parts:
                    report["latency"] = system.latency_and_cpu(binary, where, sizes.iterations)
                if "throughput" in parts:
                    report["throughput"] = system.throughput(
                        binary, where, sizes.readers, sizes.seconds
                    )
                    # The same readers against our daemon on fusepy (libfuse 2), run on its
                    # own after the others (not interleaved with them).
                    with system.ours_on_fusepy() as fusepy:
                        baseline = system.throughput(binary, fusepy, sizes.readers, sizes.seconds)
                    for count, by_daemon in baseline["readers"].items():
                        report["throughput"]["readers"][count].update(by_daemon)
                if "scale" in parts:
                    report["scale"] = system.scale(
                        binary, where, sizes.containers, sizes.rounds, sizes.forget_wait
                    )
        except BaseException as error:
            # pytest.skip (the harness's "this machine lacks X") is a BaseException.
            if type(error).__name__ != "Skipped":
                raise
            report["skipped"].append(f"{', '.join(system_parts)} skipped: {error}")
    report["cgroups_made"] = list(system.MADE)
    report["targets"] = _targets(report)
    report["finished_utc"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return report


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke-sized run (seconds)")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated parts, from {','.join(PARTS)}"
    )
    parser.add_argument("--output", help="JSON file (default benchmarks/results/<time>.json)")
    options = parser.parse_args(argv)
    parts = [part.strip() for part in options.only.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {list(PARTS)}")
    started = time.monotonic()
    report = run(parts, options.quick)
    report["elapsed_s"] = time.monotonic() - started
    print(_table(report))
    output = options.output or os.path.join(
        RESULTS,
        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        + ("-quick" if options.quick else "")
        + ".json",
    )
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as file:
        json.dump(report, file, indent=1, allow_nan=True)
        file.write("\n")
    print(f"JSON: {output}")

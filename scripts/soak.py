#!/usr/bin/env python3
"""Load and soak lxcfs-fuse on this machine: readers in cgroups with distinct limits check
every answer is their own MemTotal while cgroups come and go and short readers are killed.

    python3 scripts/soak.py                       # the issue's load: 32 readers x 5,000 reads,
                                                  # 16 cgroups, churn; one round
    python3 scripts/soak.py --minutes 30          # soak: rounds until 30 minutes have passed
    python3 scripts/soak.py --readers 8 --reads 200 --cgroups 4   # a quick look

Needs root, /dev/fuse and cgroup v1 (tests/system/harness.py makes and removes every cgroup).
Prints the figures quoted in docs/reliability.md; exits 1 on any error, wrong-container answer
or leaked descriptor. The CI slice is tests/reliability/test_live_mount.py::test_load_*.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "tests")]

from tests.fuse.daemon import lxcfs_fuse_mount  # noqa: E402
from tests.reliability.load import run_load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=32)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--cgroups", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=0.0)
    parser.add_argument("--no-churn", action="store_true")
    parser.add_argument("--log", help="write the daemon's whole log to this file")
    arguments = parser.parse_args()
    with lxcfs_fuse_mount(options=("-l", "--enable-cfs")) as daemon:
        result = run_load(
            daemon,
            readers=arguments.readers,
            reads=arguments.reads,
            cgroups=arguments.cgroups,
            churn=not arguments.no_churn,
            minutes=arguments.minutes,
        )
        log = daemon.log()
    for line in result.lines():
        print(line)
    if result.first_wrong:
        print("first wrong answers:", result.first_wrong)
    if result.churn_failures:
        print(f"churn failures ({len(result.churn_failures)}):", result.churn_failures[:5])
    problems = [line for line in log.splitlines() if "failed" in line or "Traceback" in line]
    print(f"daemon log: {len(log.splitlines())} lines, {len(problems)} failures")
    for line in problems[:5]:
        print("  ", line)
    kinds = Counter(line[:120] for line in log.splitlines())
    for line, count in kinds.most_common(8):
        print(f"  {count:6d} x {line}")
    if arguments.log:
        Path(arguments.log).write_text(log)
    bad = result.errors or result.wrong or result.fds_end > result.fds_start or problems
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

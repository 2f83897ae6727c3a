#!/usr/bin/env python3
"""The bad-input campaign at full size: 100,000 malformed fixture trees through the I/O
layer and every renderer, then malformed trees through ``lxcfs-render --root``.

Each input is a fixture tree (v1 hybrid, v2, a 512-CPU v1 host) with 1-4 faults: a file
emptied, garbled, truncated, non-UTF-8, "max" for a number or a number for "max",
negative or 30-digit values, a duplicated or dropped line; a file, a cgroup or a whole
controller removed (tests/strategies.py, "Malformed inputs"). It passes when no exception
escapes and every rendered file holds its invariants or is the host's text unchanged
(tests/reliability/malformed.py). Stops at the first failing input, shrunk by Hypothesis.

    python3 scripts/stress_malformed.py                       # 100,000 + 5,000 CLI inputs
    python3 scripts/stress_malformed.py --examples 2000 --cli-examples 200 --seed 1

The figures it prints are quoted in docs/reliability.md. The CI slice of the same campaign
is tests/reliability/test_malformed_inputs.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "tests")]

from tests.reliability.malformed import Tally, run_campaign, run_cli_campaign  # noqa: E402


def report(title: str, tally: Tally, seconds: float) -> None:
    print(f"## {title}")
    print(f"inputs: {tally.inputs} in {seconds:.0f} s ({tally.inputs / seconds:.0f}/s)")
    print(
        f"escaped exceptions: {len(tally.escaped)}; invariant violations: {len(tally.violations)}"
    )
    print(f"requests refused with one LxcfsModelError line: {tally.refused} {dict(tally.refusals)}")
    print(f"files rendered: {tally.rendered_files}, of which host fallbacks: {tally.fallbacks}")
    print("faults applied: " + ", ".join(f"{k} {v}" for k, v in tally.kinds.most_common()))
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--cli-examples", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=None)
    arguments = parser.parse_args()
    # tmpfs when there is one: an input is ~30 small file reads, and the disk makes it 3x slower.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = Path(tempfile.mkdtemp(prefix="lxcfs_py_stress_", dir=base))
    try:
        started = time.monotonic()
        tally = run_campaign(workdir / "model", arguments.examples, seed=arguments.seed)
        report("I/O layer + renderers", tally, time.monotonic() - started)
        started = time.monotonic()
        cli = run_cli_campaign(workdir / "cli", arguments.cli_examples, seed=arguments.seed)
        report("lxcfs-render --root", cli, time.monotonic() - started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = tally.escaped or tally.violations or cli.violations
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

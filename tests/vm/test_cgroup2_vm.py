"""Host side of the cgroup-v2 suite: boot the VM once and run every ``vm`` test inside it.

Skipped, with the reason, where qemu, a kernel image or a static busybox is missing, or when
LXCFS_VM=0; with LXCFS_VM=required (CI) a missing piece fails instead. Any failure inside
the VM, or a VM that does not report an exit code, fails this test with the VM's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
RUNNER = CHECKOUT / "tools" / "vm" / "cgroup2_vm.py"
EXIT_SKIPPED = 77
# The VM's own deadline; CI's budget for the whole suite is about 6 minutes.
VM_TIMEOUT_SECONDS = 480


def test_cgroup_v2_suite_passes_inside_the_vm() -> None:
    """Every test marked ``vm`` passes on a real kernel with pure cgroup v2, run as root."""
    mode = os.environ.get("LXCFS_VM", "auto")
    if mode == "0":
        pytest.skip("the cgroup-v2 VM is disabled by LXCFS_VM=0")
    if os.environ.get("LXCFS_IN_VM") == "1":
        pytest.skip("already inside the cgroup-v2 VM")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--timeout", str(VM_TIMEOUT_SECONDS)],
        cwd=CHECKOUT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=VM_TIMEOUT_SECONDS + 60,
        check=False,
    )
    output = result.stdout + result.stderr
    elapsed = time.monotonic() - started
    if result.returncode == EXIT_SKIPPED:
        reason = output.strip().splitlines()[-1] if output.strip() else "the runner skipped"
        if mode == "required":
            pytest.fail(f"LXCFS_VM=required but the VM cannot run: {reason}")
        pytest.skip(reason)
    sys.stdout.write(output)  # shown with -s or -rA; the assertion below shows the tail
    tail = "\n".join(output.splitlines()[-80:])
    assert result.returncode == 0, (
        f"the cgroup-v2 suite failed in the VM (exit {result.returncode}, {elapsed:.0f} s):\n{tail}"
    )
    assert " passed" in output, f"the VM ran no test:\n{tail}"

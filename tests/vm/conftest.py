"""The ``vm`` marker: tests that run only inside the cgroup-v2 VM (docs/cgroup-v2.md).

On the host every ``vm`` test is skipped with the reason, and ``test_cgroup2_vm.py`` boots
the VM once to run them all there; a failure inside fails that host test. Inside the VM
(LXCFS_IN_VM=1) a machine that is not pure cgroup v2 is an error, never a skip: the VM exists
to provide it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from v2_harness import V2Cgroups, inside_vm, v2_cgroups, v2_problem

_HOST_REASON = (
    "runs inside the cgroup-v2 VM: tests/vm/test_cgroup2_vm.py boots it for the whole "
    "suite, or run `python3 tools/vm/cgroup2_vm.py` (docs/cgroup-v2.md)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if inside_vm():
        return
    skip = pytest.mark.skip(reason=_HOST_REASON)
    for item in items:
        if item.get_closest_marker("vm") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pure_cgroup2() -> None:
    """Fail (inside the VM) unless cgroup2 alone is mounted with every controller."""
    problem = v2_problem()
    if problem is not None:
        pytest.fail(f"the VM is not the pure cgroup-v2 machine it should be: {problem}")


@pytest.fixture
def cgroups(pure_cgroup2: None) -> Iterator[V2Cgroups]:
    """A fresh test cgroup tree (``/lxcfs_py_test_X``), removed with its processes after."""
    with v2_cgroups() as made:
        yield made

"""A container's cgroup directory is not probed before its files are read: the first read
tells. A directory missing from the start still gives exactly the one ``no such cgroup``
problem, a directory that goes away after a file of it was read is NoSuchCgroup, and a
view reads no directory but the caller's /proc entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs
import pytest

from lxcfs_model.errors import NoSuchCgroup
from lxcfs_model.files import VIEW_FIELDS
from lxcfs_model.io import CachingReader, SystemReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# v1-nested: the hierarchy holding each located controller, and the view field it fills.
V1_FIELDS = {
    "memory": "memory",
    "cpuset": "cpuset",
    "cpu": "cpu",
    "cpuacct": "cpu_usage",
    "blkio": "io",
}


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A private copy of the v1-nested fixture tree (tests remove its directories)."""
    tree = tmp_path / "v1"
    shutil.copytree(FIXTURES / "v1-nested", tree, symlinks=True)
    return tree


@pytest.mark.parametrize("reader_type", [SystemReader, CachingReader])
@pytest.mark.parametrize("hierarchy", sorted(V1_FIELDS))
def test_a_missing_cgroup_is_one_problem_and_one_field_none(
    v1: Path, hierarchy: str, reader_type: type[SystemReader]
) -> None:
    """With the container's directory gone from one hierarchy before the read, its field
    is None with the one problem '<directory>: no such cgroup', and every other field is
    what the intact tree gives."""
    container = SystemReader(str(v1)).resolve_pid(4242)
    intact = SystemReader(str(v1)).view_for_container(container)
    assert intact.problems == ()
    shutil.rmtree(v1 / "sys/fs/cgroup" / hierarchy / "lxc/c1")
    view = reader_type(str(v1)).view_for_container(container)
    field = V1_FIELDS[hierarchy]
    assert view.problems == (f"/sys/fs/cgroup/{hierarchy}/lxc/c1: no such cgroup",)
    expected = attrs.evolve(intact, problems=view.problems, **{field: None})
    if hierarchy == "cpuacct":  # the init's CPU time is read there too
        assert intact.init is not None
        expected = attrs.evolve(expected, init=attrs.evolve(intact.init, cpu_busy_ns=None))
    assert view == expected


class _RemovingAfterFirstRead(SystemReader):
    """Removes a cgroup directory right after the first file of it is read."""

    def __init__(self, root: str, directory: Path) -> None:
        super().__init__(root)
        self.directory = directory

    def read_cgroup_file(self, location: str, *, ancestor: bool = False) -> str:
        text = super().read_cgroup_file(location, ancestor=ancestor)
        if location.startswith(str(self.directory) + "/") and self.directory.exists():
            shutil.rmtree(self.directory)
        return text


@pytest.mark.parametrize("hierarchy", ["memory", "blkio"])
def test_a_cgroup_removed_after_a_read_of_it_is_no_such_cgroup(v1: Path, hierarchy: str) -> None:
    """A directory that was there for the controller's first read and is gone for the
    next: the cgroup vanished while being read, NoSuchCgroup (nothing half-read is
    served)."""
    directory = v1 / "sys/fs/cgroup" / hierarchy / "lxc/c1"
    reader = _RemovingAfterFirstRead(str(v1), directory)
    container = reader.resolve_pid(4242)
    with pytest.raises(NoSuchCgroup, match="vanished"):
        reader.view_for_container(container, {V1_FIELDS[hierarchy]})
    assert not directory.exists()


def test_a_view_probes_no_cgroup_directory(v1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading every field of an intact container checks one directory: the target's
    /proc entry (has it exited?), none of its cgroups."""
    reader = SystemReader(str(v1))
    container = reader.resolve_pid(4242)
    probed: list[str] = []
    is_directory = reader.files.is_directory

    def recorded(path: str) -> bool:
        probed.append(path)
        return is_directory(path)

    monkeypatch.setattr(reader.files, "is_directory", recorded)
    view = reader.view_for_container(container, VIEW_FIELDS)
    assert view.problems == ()
    assert probed == [reader.path("proc/4242")]

"""Snapshots: values -> JSON -> values is the identity, and a loaded snapshot renders the same.

The converter is generic over the attrs field types, so these properties run it over the
same random values every renderer test uses (tests/strategies.py).
"""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    cgroup_views,
    clocks,
    container_histories,
    host_snapshots,
    render_inputs,
    render_options,
)

from lxcfs_model import (
    FILES,
    CgroupView,
    Clock,
    ContainerHistory,
    CpusetCgroup,
    CpuTime,
    CpuUsage,
    HostSnapshot,
    LimitLevel,
    LxcfsModelError,
    MemoryCgroup,
    RenderInputs,
    RenderOptions,
)
from lxcfs_model.snapshot import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Snapshot,
    SnapshotError,
    from_jsonable,
    snapshot_from_dict,
    snapshot_from_json,
    snapshot_to_dict,
    snapshot_to_json,
    to_jsonable,
)


def _through_json(value: object, kind: type) -> object:
    """Dump to JSON text and back, as a snapshot file does."""
    return from_jsonable(json.loads(json.dumps(to_jsonable(value, kind))), kind)


@given(cgroup_views())
def test_cgroup_view_survives_json(view: CgroupView) -> None:
    """Any CgroupView loads back equal to itself after a trip through JSON text."""
    assert _through_json(view, CgroupView) == view


@given(host_snapshots())
def test_host_snapshot_survives_json(host: HostSnapshot) -> None:
    """Any HostSnapshot loads back equal to itself after a trip through JSON text."""
    assert _through_json(host, HostSnapshot) == host


@given(container_histories(), render_options(), clocks())
def test_history_options_clock_survive_json(
    history: ContainerHistory, options: RenderOptions, clock: Clock
) -> None:
    """ContainerHistory, RenderOptions and Clock load back equal after a trip through JSON."""
    assert _through_json(history, ContainerHistory) == history
    assert _through_json(options, RenderOptions) == options
    assert _through_json(clock, Clock) == clock


@given(render_inputs(), st.sampled_from(FILES))
def test_loaded_snapshot_renders_byte_identically(inputs: RenderInputs, spec: object) -> None:
    """Every file renders the same text from a reloaded snapshot as from the original values."""
    assert isinstance(spec, type(FILES[0]))
    loaded = snapshot_from_json(snapshot_to_json(Snapshot.of(inputs, source="test")))
    assert loaded.inputs() == inputs
    original = spec.renderer(inputs)
    again = spec.renderer(loaded.inputs())
    assert again.text == original.text
    assert again.fallback == original.fallback


def _small_snapshot() -> Snapshot:
    view = CgroupView(
        memory=MemoryCgroup(
            "v1", "/x", 5, (LimitLevel("/x", 268435456), LimitLevel("/", None)), {"cache": 4096}
        ),
        cpuset=CpusetCgroup("/x", frozenset({3, 1})),
        cpu_usage=CpuUsage("v1", "/x", CpuTime(3, 4), {1: CpuTime(1, 2), 3: CpuTime(2, 2)}),
    )
    host = HostSnapshot("m\n", "c\n", "s\n", "1.00 2.00\n", "l\n", "d\n", "sw\n", "0-3\n")
    return Snapshot(view, host, Clock(12.5), RenderOptions(enable_cfs=True), source="cgroup /x")


def test_json_layout_is_the_documented_one() -> None:
    """Sets are sorted lists, integer keys are decimal strings, and format and version lead."""
    data = snapshot_to_dict(_small_snapshot())
    assert data["format"] == FORMAT_NAME
    assert data["version"] == FORMAT_VERSION == 1
    assert data["view"]["cpuset"]["cpus"] == [1, 3]
    assert data["view"]["cpu_usage"]["per_cpu"] == {
        "1": {"user_ns": 1, "system_ns": 2},
        "3": {"user_ns": 2, "system_ns": 2},
    }
    assert data["view"]["memory"]["limits"] == [
        {"path": "/x", "limit": 268435456},
        {"path": "/", "limit": None},
    ]
    assert data["options"]["enable_cfs"] is True
    assert data["source"] == "cgroup /x"
    assert snapshot_from_dict(json.loads(json.dumps(data))) == _small_snapshot()


def _mutated(path: tuple[str | int, ...], value: object) -> str:
    data = snapshot_to_dict(_small_snapshot())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[1, 2]", "not an lxcfs-render snapshot"),
        ('{"format": "other"}', "not an lxcfs-render snapshot"),
        ('{"format": "lxcfs-py-snapshot", "version": 99}', "version 99 is not supported"),
        ('{"format": "lxcfs-py-snapshot"}', "version None is not supported"),
        ('{"format": "lxcfs-py-snapshot", "version": 1}', "missing field 'view'"),
        (_mutated(("clock", "boottime"), "soon"), "snapshot.clock.boottime: expected a number"),
        (
            _mutated(("view", "memory", "limits", 0, "limit"), "max"),
            "snapshot.view.memory.limits[0].limit: expected an integer, got 'max'",
        ),
        (_mutated(("view", "memory", "usage"), True), "expected an integer, got True"),
        (_mutated(("view", "memory", "version"), "v3"), "expected one of ['v1', 'v2']"),
        (_mutated(("view", "cpuset", "cpus"), "1,3"), "snapshot.view.cpuset.cpus: expected a list"),
        (_mutated(("view", "cpu_usage", "per_cpu"), {"one": None}), "key 'one' is not an integer"),
        (_mutated(("view", "memory", "colour"), "blue"), "unknown field 'colour' in MemoryCgroup"),
        (_mutated(("host",), None), "snapshot.host: expected an object, got None"),
        (_mutated(("options", "enable_cfs"), 1), "expected true or false, got 1"),
    ],
)
def test_malformed_snapshot_is_refused_with_the_field_named(text: str, message: str) -> None:
    """A malformed or wrong-version snapshot raises SnapshotError whose message locates it."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_json(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, LxcfsModelError)
    assert "\n" not in str(caught.value)


def test_missing_optional_fields_take_their_defaults() -> None:
    """A snapshot may omit fields that have defaults (e.g. written before they existed)."""
    data = snapshot_to_dict(_small_snapshot())
    del data["history"], data["options"], data["host"]["clk_tck"]
    loaded = snapshot_from_dict(data)
    assert loaded.history == ContainerHistory()
    assert loaded.options == RenderOptions()
    assert loaded.host.clk_tck == 100


def test_inputs_override_replaces_only_the_options() -> None:
    """Snapshot.inputs(options) swaps the options and keeps every other input."""
    snapshot = _small_snapshot()
    inputs = snapshot.inputs(RenderOptions(disable_swap=True))
    assert inputs.options == RenderOptions(disable_swap=True)
    assert attrs.evolve(inputs, options=snapshot.options) == snapshot.inputs()

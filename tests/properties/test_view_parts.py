"""Each file renders from the view fields and host texts its registry row names, and nothing
else.

The FUSE daemon reads only ``FileSpec.view_parts`` of a container and ``host_parts`` of the
host per request (a /proc/meminfo read touches the memory cgroup and /proc/meminfo alone).
That is safe only if the other fields cannot change the output; these properties prove it
for every file over arbitrary requests.
"""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from lxcfs_model import files
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, HostSnapshot, MemoryCgroup
from tests.strategies import render_inputs

SMALL_HOSTS = st.integers(1, 16)


def _restricted(inputs: RenderInputs, spec: files.FileSpec) -> RenderInputs:
    unread = {name: None for name in files.VIEW_FIELDS - spec.view_parts}
    view = attrs.evolve(inputs.view, **unread)
    # A sub-part left unread: the reader leaves that field of its part None.
    if files.KMEM_SLABINFO not in spec.view_parts and view.memory is not None:
        view = attrs.evolve(view, memory=attrs.evolve(view.memory, kmem_slabinfo=None))
    # What a reader leaves in a host text it did not read: "" (or None where optional).
    defaults = {field.name: field.default for field in attrs.fields(HostSnapshot)}
    unread_host = {
        name: "" if defaults[name] is attrs.NOTHING else None
        for name in files.HOST_PARTS - spec.host_parts
    }
    return attrs.evolve(
        inputs,
        view=view,
        host=attrs.evolve(inputs.host, **unread_host),
    )


@settings(max_examples=60)
@given(inputs=render_inputs(cpus=SMALL_HOSTS))
def test_unread_view_fields_never_change_a_file(inputs: RenderInputs) -> None:
    """Rendering with every view field (and sub-part: memory.kmem_slabinfo) outside a
    file's view_parts set to None and every host text outside its host_parts left empty
    gives the same text and the same next history, for every registry file."""
    for spec in files.FILES:
        full = files.render(spec.path, inputs)
        partial = files.render(spec.path, _restricted(inputs, spec))
        assert partial.text == full.text, spec.path
        assert partial.history == full.history, spec.path


def test_parts_name_real_fields() -> None:
    """Every part a file lists is a CgroupView field, the one sub-part (a field of
    MemoryCgroup) or a HostSnapshot text (a typo would silently read nothing)."""
    fields = {field.name for field in attrs.fields(CgroupView)}
    texts = {field.name for field in attrs.fields(HostSnapshot)}
    part, sub = files.KMEM_SLABINFO.split(".")
    assert part in fields and sub in {field.name for field in attrs.fields(MemoryCgroup)}
    assert files.VIEW_FIELDS | {files.KMEM_SLABINFO} == files.VIEW_PARTS
    for spec in files.FILES:
        assert spec.view_parts <= files.VIEW_PARTS, spec.path
        assert spec.view_parts - {files.KMEM_SLABINFO} <= files.VIEW_FIELDS <= fields, spec.path
        assert spec.host_parts <= files.HOST_PARTS <= texts, spec.path


def test_only_slabinfo_reads_the_cgroup_slabinfo() -> None:
    """/proc/slabinfo is the one file that asks for memory.kmem.slabinfo, so no other
    file's miss reads it."""
    asking = [spec.path for spec in files.FILES if files.KMEM_SLABINFO in spec.view_parts]
    assert asking == ["proc/slabinfo"]

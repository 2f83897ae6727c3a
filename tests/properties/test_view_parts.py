"""Each file renders from the view fields its registry row names, and nothing else.

The FUSE daemon reads only ``FileSpec.view_parts`` of a container per request (a /proc/meminfo
read touches the memory cgroup alone). That is safe only if the other fields cannot change
the output; these properties prove it for every file over arbitrary requests.
"""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from lxcfs_model import files
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView
from tests.strategies import render_inputs

SMALL_HOSTS = st.integers(1, 16)


def _restricted(inputs: RenderInputs, parts: frozenset[str]) -> RenderInputs:
    unread = {name: None for name in files.VIEW_PARTS - parts}
    return attrs.evolve(inputs, view=attrs.evolve(inputs.view, **unread))


@settings(max_examples=60)
@given(inputs=render_inputs(cpus=SMALL_HOSTS))
def test_unread_view_fields_never_change_a_file(inputs: RenderInputs) -> None:
    """Rendering with every field outside a file's view_parts set to None gives the same
    text and the same next history, for every registry file."""
    for spec in files.FILES:
        full = files.render(spec.path, inputs)
        partial = files.render(spec.path, _restricted(inputs, spec.view_parts))
        assert partial.text == full.text, spec.path
        assert partial.history == full.history, spec.path


def test_view_parts_name_real_view_fields() -> None:
    """Every part a file lists is a CgroupView field (a typo would silently read nothing)."""
    fields = {field.name for field in attrs.fields(CgroupView)}
    for spec in files.FILES:
        assert spec.view_parts <= files.VIEW_PARTS <= fields, spec.path

"""A file marked ``stateless`` renders from its view parts, host texts and options alone.

The FUSE daemon reuses the text of such a file while the very objects it was made from are
still the ones it would render from (``lxcfs_fuse.memo``). That is safe only if neither the
clock nor the history can change the text; these properties prove it for every stateless
file, and that every file left out does use one of them.
"""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from lxcfs_model import files
from lxcfs_model.rendering import RenderInputs
from tests.strategies import clocks, container_histories, render_inputs


@settings(max_examples=60)
@given(inputs=render_inputs(cpus=st.integers(1, 16)), data=st.data())
def test_clock_and_history_never_change_a_stateless_file(
    inputs: RenderInputs, data: st.DataObject
) -> None:
    """Any other clock and history give the same text for every stateless file, and hand
    the history back unchanged."""
    other = attrs.evolve(
        inputs,
        clock=data.draw(clocks(inputs.view.init, inputs.host.clk_tck)),
        history=data.draw(container_histories(sorted(inputs.host.online_cpus))),
    )
    for spec in files.FILES:
        if spec.stateless:
            assert files.render(spec.path, other).text == files.render(spec.path, inputs).text
            assert files.render(spec.path, other).history == other.history, spec.path


def test_the_stateful_files_are_the_ones_with_clock_or_history() -> None:
    """uptime reads the clock, stat and loadavg keep history: exactly those are stateful."""
    stateful = sorted(spec.path for spec in files.FILES if not spec.stateless)
    assert stateful == ["proc/loadavg", "proc/stat", "proc/uptime"]

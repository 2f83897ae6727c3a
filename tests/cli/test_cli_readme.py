"""The Python sessions in README.md and docs/api.md run and print what the pages say."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FENCED = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# The API tour ran on a 24 GB host; elsewhere the host's MemTotal (in kB) differs.
HOST_MEMTOTAL = re.compile(r"(capped by host MemTotal )\d+( kB)")


def _sessions(page: str) -> str:
    """The interactive (>>>) blocks of a Markdown page, as one doctest text."""
    text = (REPO / page).read_text(encoding="utf-8")
    return "\n".join(block for block in FENCED.findall(text) if ">>>" in block)


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_documented_sessions_run_as_shown(page: str) -> None:
    """Every >>> example of the page gives the output printed beneath it on this machine."""
    source = HOST_MEMTOTAL.sub(r"\g<1>...\g<2>", _sessions(page))
    assert ">>>" in source
    test = doctest.DocTestParser().get_doctest(source, {}, page, page, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) in {page} differ (see output above)"
    assert result.attempted >= 5

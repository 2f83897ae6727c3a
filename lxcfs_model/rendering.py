"""The shape of a render: what goes into a renderer and what comes out.

Rules:
1. A renderer is a pure function ``RenderInputs -> Rendered``. Time, history and options are
   fields of ``RenderInputs``; the next history is a field of ``Rendered``.
2. A renderer never raises for bad values. When it cannot virtualize it returns the host's
   text (or the documented fallback) and names the reason in ``Rendered.fallback``.
3. ``quantities`` are the named intermediate numbers the renderer computed; the provenance
   table of the file refers to them by name (``--explain``, docs). They cost one mapping
   per render and nothing else; a renderer may make the costly ones when first read (stat
   does: only ``--explain`` and the docs read them, never the daemon).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import attrs

from lxcfs_model.history import ContainerHistory
from lxcfs_model.values import CgroupView, Clock, HostSnapshot, RenderOptions

__all__ = ["RenderInputs", "Rendered", "WordedOnFirstRead", "host_fallback"]


@attrs.frozen
class RenderInputs:
    """Everything one render may look at."""

    view: CgroupView
    host: HostSnapshot
    options: RenderOptions = attrs.field(factory=RenderOptions)
    clock: Clock = attrs.field(factory=lambda: Clock(boottime=0.0))
    history: ContainerHistory = attrs.field(factory=ContainerHistory)


@attrs.frozen
class Rendered:
    """A file's content for one container, the history to keep, and how it was computed."""

    text: str
    history: ContainerHistory = attrs.field(factory=ContainerHistory)
    quantities: Mapping[str, object] = attrs.field(factory=dict, hash=False)
    fallback: str | None = None


def host_fallback(text: str | None, inputs: RenderInputs, reason: str) -> Rendered:
    """Serve the host's file unchanged (empty if the host lacks it), saying why."""
    return Rendered(text=text or "", history=inputs.history, fallback=reason)


class WordedOnFirstRead(Mapping[str, object]):
    """A render's quantities, worded when first read (``word()``): only --explain and the
    docs read quantities, never the daemon, and wording them (sentences, cpu lists) was a
    fifth of a meminfo render and half of a /proc/stat render on a 512-CPU host."""

    __slots__ = ("_whole", "_word")

    def __init__(self, word: Callable[[], dict[str, object]]) -> None:
        self._word = word
        self._whole: dict[str, object] | None = None

    def _all(self) -> dict[str, object]:
        # Two threads may both word it: the same dict either way, so no lock.
        if self._whole is None:
            self._whole = self._word()
        return self._whole

    def __getitem__(self, name: str) -> object:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return repr(self._all())
